"""Corrections seen by both sides, in a real browser: a clerk sends an item back, the applicant
changes a fact and uploads a material again, the applicant's case page shows the material as
uploaded in the correction, and the clerk's queue and task page mark the task 已补正 with what
changed (personal numbers masked), until the clerk decides it again. Newborn and retirement."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from stdnum import luhn

from forms.values import mask_id
from services.cases.models import Case
from tests.browser.test_lifecycle_browser import apply_newborn, open_task
from tests.browser.test_newborn_browser import approve, chromium, server, sign_in  # noqa: F401
from tests.services.test_case_path import submit
from tests.web.conftest import OTHER_CITIZEN

pytestmark = pytest.mark.browser
RETIREE = "310107196607150399"  # 孙国强


def send_back(clerk, note: str, reopen: list[str]) -> None:
    clerk.fill("#comment", note)
    for key in reopen:
        clerk.check(f"input[name=reopen][value={key}]")
    clerk.click("#correction")
    clerk.wait_for_selector(".notice.ok")


def queue_row(clerk, base: str, case_number: str, query: str = ""):
    clerk.goto(f"{base}/clerk{query}")
    return clerk.locator(f"#queue tr[data-case='{case_number}']")


def test_newborn_correction_is_seen_by_both_sides(chromium, server, rt, tmp_path):  # noqa: F811
    citizen, number = apply_newborn(chromium, server)
    with Session(rt.db) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        father = case.data["father_id_number"]
    police = sign_in(chromium, server, "police01")
    open_task(police, number)
    send_back(
        police,
        "请核对父亲身份证号、落户方并上传结婚证",
        ["household_parent", "father_id_number", "material_marriage_certificate"],
    )
    # Not corrected yet: no marker.
    assert queue_row(police, server, number, "?status=all").locator(".corrected").count() == 0

    citizen.reload()
    form = citizen.locator("section[id^=correction-]")
    form.wait_for()
    form.locator("#f_household_parent").select_option("father")
    form.locator("#f_father_id_number").fill(OTHER_CITIZEN)
    scan = tmp_path / "marriage-2026.pdf"
    scan.write_bytes(b"%PDF-1.4 the corrected copy")
    citizen.set_input_files("#material-marriage_certificate", str(scan))
    form.locator("textarea[name=correction_note]").fill("父亲证件号已更正")
    citizen.click("button[id^=submit-correction-]")
    citizen.wait_for_selector("#case-status[data-status=processing]")
    material = citizen.locator(".checklist li[data-material=marriage_certificate]")
    assert "申请人补正时上传" in material.inner_text()
    assert "marriage-2026.pdf" in material.inner_text()
    assert "获取" not in material.inner_text()

    row = queue_row(police, server, number)
    badge = row.locator(".status-tag.corrected")
    assert badge.is_visible() and badge.inner_text() == "已补正"
    row.locator("a").first.click()
    notice = police.locator("#corrected")
    notice.wait_for()
    assert police.locator("#corrected-badge").inner_text() == "已补正"
    changed = notice.locator("tr[data-fact=father_id_number]")
    assert changed.locator("td.old").inner_text() == mask_id(father)
    assert changed.locator("td.new").inner_text() == mask_id(OTHER_CITIZEN)
    options = {o.value: o for o in rt.catalog.facts["household_parent"].options}
    parent = notice.locator("tr[data-fact=household_parent]")
    assert parent.locator("td.old").inner_text() == options["mother"].label
    assert parent.locator("td.new").inner_text() == options["father"].label
    assert "marriage-2026.pdf" in notice.locator("#corrected-materials").inner_text()
    assert "父亲证件号已更正" in notice.locator("#corrected-note").inner_text()
    assert OTHER_CITIZEN not in police.content() and father not in police.content()
    materials = police.locator("#materials li[data-material=marriage_certificate]").inner_text()
    assert "申请人补正时上传" in materials
    facts = police.locator("[data-fact=father_id_number] .source").inner_text()
    assert facts == "申请人补正时填写"

    police.goto(police.url + "?lang=en")
    assert police.locator("#corrected-badge").inner_text() == "Corrected"
    changed = police.locator("#corrected tr[data-fact=household_parent] td.new").inner_text()
    assert changed == options["father"].label_en
    police.goto(police.url.split("?")[0] + "?lang=zh")
    approve(police)
    # Decided again: no pending marker; the history keeps the correction.
    row = queue_row(police, server, number, "?status=approved")
    assert row.count() == 1 and row.locator(".corrected").count() == 0
    row.locator("a").first.click()
    police.wait_for_selector("#items")
    assert police.locator("#corrected").count() == 0
    assert "提交补正" in police.locator("ol.history").inner_text()


def test_retirement_correction_seen_by_both(chromium, server, rt, user_of, tmp_path):  # noqa: F811
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        number, old_card = case.number, case.data["bank_card_number"]
    new_card = next(
        card
        for card in (f"62220202001122{n:04d}" for n in range(100))
        if luhn.is_valid(card) and card != old_card
    )
    hrss = sign_in(chromium, server, "hrss01")
    open_task(hrss, number)
    assert "hrss_pension_claim" in hrss.url or hrss.locator("#decide-title").count() == 1
    send_back(
        hrss, "请核对社保卡银行账号并上传身份证", ["bank_card_number", "material_applicant_id_card"]
    )

    retiree = sign_in(chromium, server, RETIREE)
    retiree.goto(f"{server}/cases/{case_id}")
    form = retiree.locator("section[id^=correction-]")
    form.wait_for()
    # Fetched from the population registry before the correction.
    before = retiree.locator(".checklist li[data-material=applicant_id_card]").inner_text()
    assert "获取" in before
    form.locator("#f_bank_card_number").fill(new_card)
    scan = tmp_path / "id-card.png"
    scan.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
        )
    )
    retiree.set_input_files("#material-applicant_id_card", str(scan))
    retiree.click("button[id^=submit-correction-]")
    retiree.wait_for_selector("#case-status[data-status=processing]")
    after = retiree.locator(".checklist li[data-material=applicant_id_card]").inner_text()
    assert "申请人补正时上传" in after and "id-card.png" in after and "获取" not in after

    row = queue_row(hrss, server, number)
    assert row.locator(".status-tag.corrected").inner_text() == "已补正"
    row.locator("a").first.click()
    notice = hrss.locator("#corrected")
    notice.wait_for()
    card = notice.locator("tr[data-fact=bank_card_number]")
    assert card.locator("td.old").inner_text() == mask_id(old_card)
    assert card.locator("td.new").inner_text() == mask_id(new_card)
    assert new_card not in hrss.content() and old_card not in hrss.content()
    assert "id-card.png" in notice.locator("#corrected-materials").inner_text()
    # The full number only for a stated reason (logged), in the notice too.
    hrss.fill("#reason-bank_card_number", "核对养老金发放账户")
    hrss.locator("[data-fact=bank_card_number] form.reveal button").click()
    hrss.wait_for_selector("#corrected")
    assert hrss.locator("#corrected tr[data-fact=bank_card_number] td.new").inner_text() == (
        new_card
    )
    retiree.context.close()
