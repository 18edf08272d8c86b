"""Acting for someone else (代办) in a real browser on a phone: the elderly parent (长辈版)
authorizes the adult child, the child applies for the parent with the parent's prefilled form,
and the parent signs in and sees the case, the agent named on it, and the record of what the
agent did. Every page fits 390 px and passes axe."""

from __future__ import annotations

import pytest

from tests.browser.test_form_browser import answered, sample_for
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.browser.test_screens_browser import MODES, open_as, problems_of
from tests.forms.test_matters import PDF
from tests.services.test_agency import CHILD, PARENT, until

pytestmark = pytest.mark.browser
PHONE = next(mode for mode in MODES if mode.name == "zh-390")
ELDERLY = next(mode for mode in MODES if mode.name == "elderly-390")
ENGLISH = next(mode for mode in MODES if mode.name == "en-390")


def fill_retirement(page) -> None:
    """Answer what the prefilled form still asks, and attach each material to upload."""
    for selector, value in {
        "#f_only_child_parent": "false",
        "#f_retirement_type": "statutory",
        "#f_personnel_file_keeper": "employer",
        "#f_delivery_method": "online",
    }.items():
        if page.locator(selector).count():
            answered(page, selector, value)
    for field in page.locator("#form-sections .field:visible input:not([type=file])").all():
        if not field.input_value() and not field.get_attribute("readonly"):
            field.fill(sample_for(field))
    for select in page.locator("#form-sections .field:visible select").all():
        if not select.input_value():
            select.select_option(index=2 if select.locator("option").count() > 2 else 1)
    for upload in page.locator("#section-materials li:visible input[type=file]").all():
        code = upload.get_attribute("name").removeprefix("material_")
        if "upload" in (page.get_attribute(f"#mat-{code}", "class") or ""):
            upload.set_input_files(
                files=[{"name": f"{code}.pdf", "mimeType": "application/pdf", "buffer": PDF}]
            )


def child_case(page, base: str) -> str:
    """The id of the first case the agent filed, from their 委托代办 page."""
    page.goto(f"{base}/agency")
    return page.get_attribute("#filed a", "href").rsplit("/", 1)[-1]


def test_agent_applies_for_an_elderly_parent_who_then_sees_the_case(
    chromium,  # noqa: F811
    server,  # noqa: F811
):
    failures: list[str] = []
    # The parent, in the elderly mode, authorizes the child for the retirement matter.
    context, parent = open_as(chromium, server, PARENT, ELDERLY)
    parent.goto(f"{server}/agency")
    parent.fill("#agent_name", "陈思远")
    parent.fill("#agent_id_number", CHILD)
    parent.check("#matter-retirement")
    parent.fill("#valid_until", until().isoformat())
    parent.check("#confirm")
    failures += [f"[grant] {p}" for p in problems_of(parent, ELDERLY)]
    parent.click("#grant-submit")
    parent.wait_for_selector("#given")
    assert "陈思远" in parent.inner_text("#given")
    context.close()

    # The child, on a phone: 为他人办理 -> the parent's form, prefilled for the parent.
    context, child = open_as(chromium, server, CHILD, PHONE)
    child.goto(f"{server}/agency")
    failures += [f"[held] {p}" for p in problems_of(child, PHONE)]
    child.click("#held a[id$='-retirement']")
    child.wait_for_selector("#application")
    assert "代办" in child.inner_text("main") and "孙国强" in child.inner_text("main")
    failures += [f"[form] {p}" for p in problems_of(child, PHONE)]
    fill_retirement(child)
    child.click("#submit")
    child.wait_for_selector("#agency-note", timeout=30000)
    number = child.inner_text("h1 .code")
    assert number.startswith("YJS") and "孙国强" in child.inner_text("#agency-note")
    failures += [f"[agent case] {p}" for p in problems_of(child, PHONE)]
    context.close()
    context, child = open_as(chromium, server, CHILD, ENGLISH)  # the pages in English too
    for path in ("/agency", f"/agency/cases/{child_case(child, server)}"):
        child.goto(f"{server}{path}")
        failures += [f"[en {path}] {p}" for p in problems_of(child, ENGLISH)]
    context.close()

    # The parent signs in (elderly mode) and sees the case as their own, the agent named.
    context, parent = open_as(chromium, server, PARENT, ELDERLY)
    parent.goto(f"{server}/cases")
    parent.click(f"text={number}")
    parent.wait_for_selector("#agency-note")
    assert "陈思远" in parent.inner_text("#agency-note")
    failures += [f"[case] {p}" for p in problems_of(parent, ELDERLY)]
    parent.goto(f"{server}/inbox")
    assert "陈思远代办" in parent.inner_text("main")
    parent.goto(f"{server}/agency/record")
    record = parent.inner_text("#acts")
    assert number in record and "陈思远" in record
    failures += [f"[record] {p}" for p in problems_of(parent, ELDERLY)]
    context.close()
    assert not failures, "\n".join(failures)
