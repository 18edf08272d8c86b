"""Where time goes on the diagram, in a real browser: the administrator turns the overlay on in
the newborn editor, sees the police step's badge (cases, waits, bad reviews), clicks the step and
reads its cases by number beside the diagram."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from engine import clock
from services.cases.models import Case
from tests.browser.test_editor_browser import open_editor
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.services.test_element_times import POLICE, decide_police, newborn_case

pytestmark = pytest.mark.browser


def test_admin_turns_the_overlay_on_and_lists_a_steps_cases(
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
    newborn_parents,
):
    first, second = newborn_parents(2)
    decided = newborn_case(rt, user_of, first)
    waiting = newborn_case(rt, user_of, second)
    clock.advance(timedelta(days=1))  # Tuesday: one working day later
    decide_police(rt, user_of, decided)
    with Session(rt.db) as session:
        numbers = {session.get(Case, case_id).number for case_id in (decided, waiting)}

    admin = open_editor(chromium, server)
    toggle = admin.locator("#times-toggle")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    badge = admin.locator(f".times-badge[data-element-id={POLICE}]")
    badge.wait_for()
    assert toggle.get_attribute("aria-pressed") == "true"
    text = badge.inner_text()
    assert "2 件" in text and "停留 1" in text and "P90 1" in text, text
    assert "pace-within" in badge.get_attribute("class")
    assert "Event_applied" in admin.evaluate(
        "() => [...document.querySelectorAll('.times-badge')].map(b => b.dataset.elementId)"
    )

    admin.locator(f"#canvas .djs-element[data-element-id={POLICE}] .djs-hit").click(
        position={"x": 50, "y": 25}
    )
    admin.wait_for_selector("#times-panel:not([hidden]) #times-cases tbody tr[data-case]")
    rows = admin.locator("#times-cases tbody tr[data-case]")
    assert {rows.nth(i).get_attribute("data-case") for i in range(rows.count())} == numbers
    assert admin.inner_text("#times-title") == "出生登记（落户）"
    listed = admin.inner_text("#times-cases")
    assert "仍在此环节" in listed  # the waiting case
    assert "10:00" in listed  # arrivals in China time (submitted at 10:00 there)
    # the badge is a button: the keyboard reaches the same list
    admin.click("#times-close")
    assert admin.locator("#times-panel").is_hidden()
    badge.focus()
    admin.keyboard.press("Enter")
    admin.wait_for_selector("#times-panel:not([hidden])")
    toggle.click()
    assert admin.locator(".times-badge").count() == 0
