"""Forms without friction, in a real browser: the combined form updates as the citizen answers
(and, with script off, by its button), a file chosen survives a refusal, a submission ends on
a confirmation naming the case number, the departments and what happens next."""

from __future__ import annotations

import pytest

from demo.seed import DEMO_PASSWORD
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.browser.test_screens_browser import MODES, problems_of
from tests.forms.test_matters import BANK_CARD, PDF
from tests.security.test_csp_browser import RECORD, SETTLE

pytestmark = pytest.mark.browser

RETIREE = "310107196607150399"
SHOPKEEPER = "310107198008080615"
MOTHER = "31010519940908028X"
FATHER = "310104199511020172"
PHONE = next(mode for mode in MODES if mode.name == "zh-390")
SAMPLE_BY_KEY = {
    "applicant_phone": "13912345678",
    "bank_name": "中国工商银行上海市分行",
    "bank_card_number": BANK_CARD,
    "retirement_date": "2026-12-15",
}


def sample_for(field) -> str:
    """A valid answer for an input of the form, by its name and type."""
    key = field.get_attribute("name")
    if key in SAMPLE_BY_KEY:
        return SAMPLE_BY_KEY[key]
    if field.get_attribute("type") == "date":
        return "2026-12-15"
    if field.get_attribute("type") == "tel":
        return "13912345678"
    if field.get_attribute("inputmode") == "numeric":
        return BANK_CARD if "card" in key else "1"
    return "测试"


def signed_in_page(
    chromium,  # noqa: F811
    base: str,
    username: str,
    *,
    script: bool = True,
    inject: bool = False,  # axe-core is to be injected (the policy is then bypassed)
):
    context = chromium.new_context(locale="zh-CN", java_script_enabled=script, bypass_csp=inject)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    return page


def open_form(page, base: str, matter: str, *, manual: bool = False) -> None:
    if manual:
        page.goto(f"{base}/matters/{matter}/apply?manual=1")
    else:
        page.goto(f"{base}/matters/{matter}/apply")
        if page.locator("#consent").count():
            page.click("#consent")
    page.wait_for_selector("#application")


def answered(page, selector: str, value: str) -> None:
    """Choose `value` and wait for the form's live update to come back."""
    before = page.get_attribute("#application", "data-updated") or "0"
    page.select_option(selector, value)
    page.wait_for_function(
        f"() => (document.getElementById('application').dataset.updated || '0') !== '{before}'"
        " && !document.getElementById('application').hasAttribute('aria-busy')"
    )


def test_convenience_store_sections_follow_the_answers_without_a_reload(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, SHOPKEEPER)
    page.add_init_script(RECORD)  # every Content-Security-Policy violation, to check at the end
    open_form(page, server, "convenience_store")
    assert page.locator("#refresh").is_hidden()  # with script, no button to press
    assert page.locator("#f_registered_capital").count() == 0
    page.fill("#f_applicant_phone", "13912345678")
    page.evaluate("() => { window.__same = document.getElementById('f_applicant_phone'); }")

    answered(page, "#f_business_form", "llc")
    assert page.locator("#f_registered_capital").is_visible()
    assert page.locator("#mat-articles_of_association").is_visible()
    # the page was not reloaded: the element typed into is the same one, value and all
    assert page.evaluate("() => window.__same === document.getElementById('f_applicant_phone')")
    assert page.input_value("#f_applicant_phone") == "13912345678"
    assert "新增" in page.inner_text("#form-updates")

    answered(page, "#f_food_sales", "bulk")
    assert page.locator("#items-applied [data-item=market_food_business_licence]").count() == 1
    assert page.locator("#f_food_safety_manager").is_visible()
    page.fill("#f_registered_capital", "500000")

    answered(page, "#f_business_form", "individual")
    assert page.locator("#f_registered_capital").is_hidden()
    assert page.locator("#mat-articles_of_association").is_hidden()
    assert "移除" in page.inner_text("#form-updates")
    answered(page, "#f_business_form", "llc")  # back as it was, with what was typed
    assert page.input_value("#f_registered_capital") == "500000"
    assert page.evaluate(SETTLE) == []  # form.js from /static, no inline script or style
    page.context.close()


def test_retirement_only_child_bonus_and_a_chosen_file_survive_the_changes(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, RETIREE)
    open_form(page, server, "retirement")
    answered(page, "#f_only_child_parent", "true")
    assert page.locator("#items-applied [data-item=hrss_only_child_bonus]").count() == 1
    page.set_input_files(
        "#material-only_child_certificate",
        files=[{"name": "独生子女证.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    answered(page, "#f_only_child_parent", "false")
    assert page.locator("#mat-only_child_certificate").is_hidden()
    assert "hrss_only_child_bonus" not in page.inner_text("#items-panel")
    answered(page, "#f_only_child_parent", "true")
    assert page.locator("#mat-only_child_certificate").is_visible()
    files = page.evaluate(
        "() => Array.from(document.getElementById('material-only_child_certificate').files,"
        " (f) => f.name)"
    )
    assert files == ["独生子女证.pdf"]
    page.context.close()


def test_newborn_without_script_updates_by_the_button(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, FATHER, script=False)
    open_form(page, server, "newborn")
    assert page.locator("#refresh").is_visible()
    assert page.locator("label[for=f_delivery_address] .req").count() == 0
    page.select_option("#f_delivery_method", "post")
    page.fill("#f_child_name", "张一鸣")
    assert page.locator("label[for=f_delivery_address] .req").count() == 0  # nothing happens yet
    page.click("#refresh")
    page.wait_for_selector("label[for=f_delivery_address] .req", state="attached")
    assert page.input_value("#f_child_name") == "张一鸣"  # the answers come back with the form
    assert page.locator("#f_delivery_address[aria-required=true]").count() == 1
    page.context.close()


def test_newborn_with_script_asks_for_the_address_once_post_is_chosen(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, FATHER)
    open_form(page, server, "newborn")
    assert page.locator("label[for=f_delivery_address] .req").count() == 0
    answered(page, "#f_delivery_method", "post")
    assert page.locator("label[for=f_delivery_address] .req").count() == 1
    assert page.locator("#f_delivery_address[aria-required=true]").count() == 1
    answered(page, "#f_delivery_method", "window")
    assert page.locator("label[for=f_delivery_address] .req").count() == 0
    page.context.close()


def test_a_refused_submission_keeps_the_chosen_file_and_the_next_ends_on_a_confirmation(
    chromium,  # noqa: F811
    server,  # noqa: F811
):
    page = signed_in_page(chromium, server, RETIREE, inject=True)
    open_form(page, server, "retirement")
    answered(page, "#f_only_child_parent", "true")
    page.set_input_files(
        "#material-only_child_certificate",
        files=[{"name": "独生子女证.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("#submit")  # most answers missing: refused, the file kept on the server
    page.wait_for_selector("#error-summary")
    assert "独生子女证.pdf" in page.inner_text("#kept-only_child_certificate")
    assert "已上传" in page.inner_text("#kept-only_child_certificate")

    answers = {
        "#f_retirement_type": "statutory",
        "#f_personnel_file_keeper": "employer",
        "#f_delivery_method": "online",
    }
    for selector, value in answers.items():
        if page.locator(selector).count():
            answered(page, selector, value)
    for field in page.locator("#form-sections .field:visible input:not([type=file])").all():
        if not field.input_value():
            field.fill(sample_for(field))
    for select in page.locator("#form-sections .field:visible select").all():
        if not select.input_value():
            select.select_option(index=2 if select.locator("option").count() > 2 else 1)
    for upload in page.locator("#section-materials li:visible input[type=file]").all():
        code = upload.get_attribute("name").removeprefix("material_")
        if page.locator(f"#kept-{code}").count() == 0 and "upload" in (
            page.get_attribute(f"#mat-{code}", "class") or ""
        ):
            upload.set_input_files(
                files=[{"name": f"{code}.pdf", "mimeType": "application/pdf", "buffer": PDF}]
            )
    page.click("#submit")
    page.wait_for_selector("#submitted", timeout=30000)
    number = page.inner_text("#submitted-number")
    assert number.startswith("YJS")
    assert page.locator("#submitted-items td[data-department=hrss]").count() >= 1
    assert page.locator("#next-steps li[data-kind=wait]").count() == 1
    assert page.locator("#next-steps a[href='/cases']").count() == 1
    page.set_viewport_size({"width": 390, "height": 844})  # on a phone: no sideways scrolling
    assert problems_of(page, PHONE) == []  # nor a serious accessibility fault
    page.reload()  # shown once: the case page goes on without it
    assert page.locator("#submitted").count() == 0
    assert page.inner_text("#case-number") == number
    page.context.close()


def test_a_draft_is_saved_and_resumed_after_signing_in_again(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, SHOPKEEPER)
    open_form(page, server, "convenience_store", manual=True)
    answered(page, "#f_business_form", "llc")
    page.fill("#f_registered_capital", "500000")
    page.set_input_files(
        "#material-articles_of_association",
        files=[{"name": "章程.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("#save-draft")
    page.wait_for_selector("#draft-offer[data-resumed=true]")
    page.context.close()

    again = signed_in_page(chromium, server, SHOPKEEPER)
    open_form(again, server, "convenience_store", manual=True)
    again.click("#resume-draft")
    again.wait_for_selector("#draft-offer[data-resumed=true]")
    assert again.input_value("#f_registered_capital") == "500000"
    assert "章程.pdf" in again.inner_text("#kept-articles_of_association")
    again.click("#discard-draft")
    again.wait_for_selector("#application")
    assert again.locator("#draft-offer").count() == 0
    again.context.close()


def test_without_script_a_refused_submission_keeps_the_chosen_file(chromium, server):  # noqa: F811
    page = signed_in_page(chromium, server, SHOPKEEPER, script=False)
    open_form(page, server, "convenience_store", manual=True)
    page.select_option("#f_business_form", "llc")
    page.click("#refresh")  # no script: the button shows the material the answer needs
    page.wait_for_selector("#material-articles_of_association")
    page.set_input_files(
        "#material-articles_of_association",
        files=[{"name": "章程.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    page.click("#submit")  # refused: most answers missing
    page.wait_for_selector("#error-summary")
    assert "章程.pdf" in page.inner_text("#kept-articles_of_association")
    assert page.locator("input[name=draft_articles_of_association]").count() == 1
    page.context.close()
