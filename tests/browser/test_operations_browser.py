"""The operations page in a real browser: an operator sees a department system's failures as one
group, retries it and sees each case waiting, the system decides one item, and a refresh shows it
done; a group of failed deadline reminders is resolved with a reason, leaves the list, and the
reason is in the case's history as its applicant sees it. The pages fit a phone and pass axe."""

from __future__ import annotations

import random

import pytest
from sqlmodel import Session

from examples.department_worker import credit_code
from services.accounts.models import User
from services.cases import decisions, external
from services.cases.models import Case
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.browser.test_screens_browser import MODES, open_as, problems_of
from tests.services.test_operations import fail_deadlines, system_fails_items
from tests.services.test_replay import store_case

pytestmark = pytest.mark.browser


def _number(rt, case_id: int) -> str:
    with Session(rt.db) as session:
        return session.get(Case, case_id).number


def _system_decides(rt, user_of, item_id: int) -> None:
    """The market's system fetches its tasks again and approves the item."""
    system = user_of("market-system")
    with Session(rt.db) as session:
        external.fetch_and_lock(session, rt, user=system, worker_id="w2", max_tasks=50)
        decisions.decide(
            session,
            rt,
            user=system,
            item_id=item_id,
            worker_id="w2",
            decision="approved",
            result={
                "enterprise_uscc": credit_code(random.Random(3)),
                "established_on": "2026-11-25",
            },
        )


def test_an_operator_retries_a_group_then_resolves_another_with_a_reason(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    systems = [store_case(rt, user_of, n) for n in (1, 2)]
    items = system_fails_items(rt, user_of, systems)
    [late] = [store_case(rt, user_of, 3)]
    fail_deadlines(rt, [late])

    operator = sign_in(chromium, server, "operator")
    assert operator.url.endswith("/operations")  # where an operator lands
    system_group = operator.locator("#incident-groups tr[data-kind=department_system]")
    assert system_group.locator(".count a").inner_text().startswith("2")
    assert "HTTP # from market system" in system_group.locator(".cause").inner_text()
    system_group.locator(".count a").click()
    for case_id in systems:
        assert operator.locator(f"#group-cases tr[data-case='{_number(rt, case_id)}']").count()
    operator.click("#retry-form button[type=submit]")
    operator.wait_for_selector("#batch-cases")
    outcomes = operator.locator("#batch-cases tr .outcome")
    assert [outcomes.nth(i).inner_text() for i in range(outcomes.count())] == ["等待中"] * 2

    _system_decides(rt, user_of, items[0])
    operator.click("#refresh-progress")
    first = operator.locator(f"#batch-cases tr[data-case='{_number(rt, systems[0])}']")
    assert first.locator(".outcome").inner_text() == "已完成"
    second = operator.locator(f"#batch-cases tr[data-case='{_number(rt, systems[1])}']")
    assert second.locator(".outcome").inner_text() == "等待中"

    operator.goto(f"{server}/operations")
    assert operator.locator("#incident-groups tr[data-kind=department_system]").count() == 0
    operator.select_option("#filter-kind", "process")
    operator.click("#incident-filter button[type=submit]")
    operator.locator("#incident-groups tr[data-kind=process] .count a").click()
    operator.fill("#resolve-reason", "提醒已过时，不再补发")
    operator.click("#resolve-form button[type=submit]")
    operator.wait_for_selector("#batch-cases")
    assert operator.locator("#batch-reason").inner_text() == "提醒已过时，不再补发"
    assert operator.locator("#batch-cases tr .outcome").inner_text() == "已解决"
    operator.goto(f"{server}/operations")
    assert operator.locator("#no-incidents").count() == 1

    with Session(rt.db) as session:
        applicant = session.get(User, session.get(Case, late).applicant_user_id).username
    citizen = sign_in(chromium, server, applicant)
    citizen.goto(f"{server}/cases/{late}")
    assert "提醒已过时，不再补发" in citizen.inner_text("main")


def test_the_operations_pages_fit_a_phone_and_pass_axe(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    system_fails_items(rt, user_of, [store_case(rt, user_of, 1)])
    failures = []
    for mode in MODES:
        context, page = open_as(chromium, server, "operator", mode)
        page.goto(f"{server}/operations")
        failures += [f"[{mode.name}] list: {p}" for p in problems_of(page, mode)]
        page.locator("#incident-groups tr[data-group] .count a").first.click()
        page.wait_for_selector("#group-cases")
        failures += [f"[{mode.name}] group: {p}" for p in problems_of(page, mode)]
        context.close()
    assert not failures, "\n".join(failures)
