"""A real browser (Debian chromium via Playwright) through the newborn matter:
the citizen submits the one form, each department's clerk approves, the citizen sees it done."""

from __future__ import annotations

import os
import random
from datetime import date
from pathlib import Path

import pytest

from demo.seed import DEMO_PASSWORD
from examples.department_worker import citizen_id, credit_code
from tests.live import serve
from tests.web.conftest import MOTHER, NEWBORN_DEPARTMENTS
from web.app import create_app

CHROMIUM = os.environ.get("ONETHING_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = pytest.mark.browser


@pytest.fixture
def server(rt):
    with serve(create_app(rt)) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def sign_in(chromium, base: str, username: str):
    context = chromium.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def approve(clerk, rng: random.Random | None = None) -> None:
    """Approve the open task as its clerk does: the result data the page asks for filled in
    (a plausible value of each field's type; a citizen ID born on the child's date of birth),
    then 通过."""
    rng = rng or random.Random(19)
    shown_birth = clerk.locator("[data-fact=child_birth_date] .value")  # an assigned ID's
    born = date.fromisoformat(shown_birth.inner_text()) if shown_birth.count() else date.today()
    fields = clerk.locator("#results input[data-type]")
    for index in range(fields.count()):
        field = fields.nth(index)
        kind = field.get_attribute("data-type")
        value = {
            "citizen_id": citizen_id(born, rng),
            "uscc": credit_code(rng),
            "date": "2026-11-25",
            "number": "310104012345",
            "amount": "3260.50",
            "integer": "12",
        }.get(kind, "示范市中心区和平路12号")
        field.fill(value)
    clerk.click("#approve")
    clerk.wait_for_selector(".notice.ok")


def test_newborn_in_a_real_browser(chromium, server):
    citizen = sign_in(chromium, server, MOTHER)
    citizen.click("a[href='/matters/newborn/apply']")
    assert citizen.locator("#lookups tr[data-registry=marriage]").count() == 1
    citizen.click("#consent")
    assert citizen.locator("[data-fact=mother_name]").inner_text() == "王芳"
    citizen.select_option("#f_household_parent", "mother")
    citizen.fill("#f_applicant_phone", "13812345678")
    citizen.select_option("#f_delivery_method", "online")
    citizen.fill("#f_bank_name", "中国工商银行")
    citizen.fill("#f_bank_card_number", "6222020200112233446")
    citizen.click("#submit")
    citizen.wait_for_selector("#case-number")
    case_number = citizen.inner_text("#case-number")
    assert citizen.get_attribute("#case-status", "data-status") == "processing"
    case_url = citizen.url

    for department in NEWBORN_DEPARTMENTS:
        clerk = sign_in(chromium, server, f"{department}01")
        while clerk.locator(f"#queue tr[data-case='{case_number}'] a").count():
            clerk.locator(f"#queue tr[data-case='{case_number}'] a").first.click()
            clerk.fill("#comment", "材料齐全，准予办理")
            if department == "police":  # a required result left blank: refused, values kept
                clerk.fill("#result-household_number", "310104012345")
                clerk.click("#approve")
                assert "准予办理时请填写公民身份号码" in clerk.inner_text("#decision-error")
                assert clerk.input_value("#result-household_number") == "310104012345"
            approve(clerk)
        clerk.context.close()

    # The open case page follows the departments live (it polls and reloads on a change).
    citizen.wait_for_selector("#case-status[data-status=completed]", timeout=20000)
    assert citizen.url == case_url
    assert citizen.locator("td.status[data-status=approved]").count() == 6
    # Under each result, the data its department recorded: the household number, the child's
    # citizen ID masked.
    police = citizen.locator("tr[data-item=police_birth_registration]")
    assert police.locator("[data-result=household_number] dd").inner_text() == "310104012345"
    assert "********" in police.locator("[data-result=child_id_number] dd").inner_text()
    with citizen.expect_download() as download:
        citizen.locator("a[href*='/result']").first.click()
    # named by its document and number: 出生医学证明-<case number>-0002.pdf
    name = download.value.suggested_filename
    assert name.endswith(".pdf") and f"-{case_number}-" in name and not name.startswith("YJS")
