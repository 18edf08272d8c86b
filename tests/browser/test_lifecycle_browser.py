"""Real-browser paths of the case lifecycle: a correction round trip, a front-desk case with a
printed receipt, an overdue item escalating (the clock moved, not slept), a bad review followed
up by the supervisor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from services.cases.deadlines import run_deadlines
from tests.browser.test_newborn_browser import approve, chromium, server, sign_in  # noqa: F401
from tests.web.conftest import MOTHER, NEWBORN_DEPARTMENTS

pytestmark = pytest.mark.browser


def apply_newborn(chromium, base):  # noqa: F811
    citizen = sign_in(chromium, base, MOTHER)
    citizen.goto(f"{base}/matters/newborn/apply")
    citizen.click("#consent")
    citizen.select_option("#f_household_parent", "mother")
    citizen.fill("#f_applicant_phone", "13812345678")
    citizen.select_option("#f_delivery_method", "online")
    citizen.fill("#f_bank_name", "中国工商银行")
    citizen.fill("#f_bank_card_number", "6222020200112233446")
    citizen.click("#submit")
    citizen.wait_for_selector("#case-number")
    return citizen, citizen.inner_text("#case-number")


def open_task(clerk, case_number):
    clerk.goto(clerk.url.split("/clerk")[0] + "/clerk")  # a fresh queue
    clerk.locator(f"#queue tr[data-case='{case_number}'] a").first.click()
    clerk.wait_for_selector("#decide-title")


def test_correction_round_trip(chromium, server, tmp_path):  # noqa: F811
    citizen, number = apply_newborn(chromium, server)
    police = sign_in(chromium, server, "police01")
    open_task(police, number)
    police.fill("#comment", "请确认落户方并上传结婚证")
    police.check("input[name=reopen][value=household_parent]")
    police.check("input[name=reopen][value=material_marriage_certificate]")
    police.click("#correction")
    police.wait_for_selector(".notice.ok")

    # The open case page notices the change itself (static/live.js reloads it): a reload here
    # could cross that one.
    citizen.wait_for_selector("section[id^=correction-]", timeout=30000)
    assert "请确认落户方并上传结婚证" in citizen.inner_text("section[id^=correction-]")
    citizen.select_option("section[id^=correction-] #f_household_parent", "father")
    scan = tmp_path / "marriage.pdf"
    scan.write_bytes(b"%PDF-1.4 corrected")
    citizen.set_input_files("#material-marriage_certificate", str(scan))
    citizen.click("button[id^=submit-correction-]")
    citizen.wait_for_selector("#case-status[data-status=processing]")
    assert citizen.locator("section[id^=correction-]").count() == 0

    open_task(police, number)  # the police task is back; only it resumed
    approve(police)
    citizen.wait_for_selector(
        "tr[data-item=police_birth_registration] td.status[data-status=approved]", timeout=30000
    )


def test_front_desk_case_with_a_printed_receipt(chromium, server):  # noqa: F811
    desk = sign_in(chromium, server, "center01")
    desk.goto(f"{server}/frontdesk")
    desk.fill("#id_number", "310104199205160353")
    desk.select_option("#matter", "newborn")
    desk.check("#present")  # the applicant is here, identity card checked
    desk.click("#open")
    desk.wait_for_selector("[data-fact=mother_name]")
    desk.select_option("#f_household_parent", "father")
    desk.fill("#f_applicant_phone", "13900001111")
    desk.select_option("#f_delivery_method", "window")
    desk.fill("#f_bank_name", "中国工商银行")
    desk.fill("#f_bank_card_number", "6222020200112233446")
    desk.click("#submit")
    desk.wait_for_selector("#receipt")
    assert desk.inner_text("#receipt-number").startswith("YJS")
    assert desk.locator("#receipt svg").count() == 1
    printed = desk.context.new_page()
    printed.goto(desk.url)
    printed.emulate_media(media="print")
    assert printed.locator("header.top").is_hidden()  # the receipt prints without the site chrome


def test_overdue_item_escalates_to_the_supervisor(chromium, server, rt):  # noqa: F811
    _citizen, number = apply_newborn(chromium, server)
    clock.advance(timedelta(days=30))  # the clock moves; nothing sleeps
    assert run_deadlines(rt) > 0
    lead = sign_in(chromium, server, "police-lead")
    lead.goto(f"{server}/inbox")
    assert f"超期督办：{number}" in lead.inner_text("main")
    clerk = sign_in(chromium, server, "police01")
    open_task(clerk, number)
    assert "超过法定时限" in clerk.inner_text("main")


def test_bad_review_opens_a_follow_up_for_the_supervisor(chromium, server):  # noqa: F811
    citizen, number = apply_newborn(chromium, server)
    for department in NEWBORN_DEPARTMENTS:
        clerk = sign_in(chromium, server, f"{department}01")
        while clerk.locator(f"#queue tr[data-case='{number}'] a").count():
            open_task(clerk, number)
            approve(clerk)
        clerk.context.close()
    citizen.reload()
    citizen.wait_for_selector("#evaluation-title")
    citizen.check("#level-1")
    citizen.check("#reason-slow")
    citizen.fill("#evaluation-comment", "等了很久")
    citizen.click("#submit-evaluation")
    citizen.wait_for_selector("#evaluation-done")
    lead = sign_in(chromium, server, "cdc-lead")
    lead.goto(f"{server}/clerk/follow-ups")
    item = lead.locator(f"li[data-case='{number}']")
    assert item.count() == 1
    item.locator("textarea[name=resolution]").fill("已核实，优化了建卡流程")
    item.locator("input[name=callback_done]").check()
    item.locator("button[type=submit]").click()
    lead.wait_for_load_state()
    assert lead.locator(f"li[data-case='{number}'][data-status=open]").count() == 0
