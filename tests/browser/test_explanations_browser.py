"""Explanations in a real browser (issue 22): from the case page, the applicant opens why an
item does not apply and reads the rule and the facts it read with their source; the clerk opens
why their task's item was checked so (the decision table's matched row). Every explanation page
fits 390 px and passes axe in every display mode."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from services.cases.models import Case, CaseItem
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.browser.test_screens_browser import MODES, open_as, problems_of
from tests.services.test_case_path import submit

pytestmark = pytest.mark.browser
FATHER = "310104199511020172"  # 张磊: wife on resident insurance: no maternity allowance


def test_an_explanation_page_shows_the_rule_and_its_facts(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    case_id = submit(rt, user_of, "newborn", "father")
    context, page = open_as(chromium, server, FATHER, MODES[1])
    page.goto(f"{server}/cases/{case_id}")
    step = page.locator("#case-path li[data-item='medical_maternity_allowance']")
    assert step.get_attribute("data-state") == "not_needed"
    step.locator("a.why-link").click()
    page.wait_for_selector("#why-rule")
    label = rt.catalog.facts["mother_maternity_insurance"].label
    assert f"{label} = 是" in page.inner_text("#why-rule")
    assert "不成立" in page.inner_text("#why-rule")
    assert "不适用" in page.inner_text("#why-summary")
    fact = page.locator("#why-facts tr[data-fact='mother_maternity_insurance']")
    assert label in fact.inner_text()
    assert page.inner_text("#why-outcome").strip().startswith("办理结果")
    # The instant approval: the decision table with the row this case matched.
    page.goto(f"{server}/cases/{case_id}")
    page.locator("#case-path li[data-item='medical_resident_enrollment'] a.why-link").click()
    page.wait_for_selector("#why-decision")
    assert page.locator(".decision-row[data-matched=yes]").count() == 1
    assert "秒批" in page.inner_text("#why-outcome")
    assert page.locator("#why-checks li").count() >= 1
    assert page.locator("#why-facts tr[data-source=registry]").count() >= 1
    context.close()


def test_the_explanation_pages_fit_a_phone_and_pass_axe(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    case_id = submit(rt, user_of, "newborn", "father")
    with Session(rt.db) as session:
        applicant = session.get(Case, case_id).applicant_id_number
        task = session.exec(
            select(CaseItem).where(
                CaseItem.case_id == case_id, CaseItem.item_code == "police_birth_registration"
            )
        ).one()
    pages = [
        (applicant, f"/cases/{case_id}/items/medical_maternity_allowance/why"),
        (applicant, f"/cases/{case_id}/items/medical_resident_enrollment/why"),
        ("police01", f"/clerk/items/{task.id}/why"),
    ]
    failures = []
    for mode in MODES:
        for username, path in pages:
            context, page = open_as(chromium, server, username, mode)
            page.goto(f"{server}{path}")
            page.wait_for_selector("#why-rule")
            failures += [f"[{mode.name}] {path}: {p}" for p in problems_of(page, mode)]
            context.close()
    assert not failures, "\n".join(failures)
