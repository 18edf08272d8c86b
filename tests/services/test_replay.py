"""Replaying a candidate process or catalog on recent cases (services/replay.py): what would
route differently, which items appear or vanish, how deadlines move; nothing written but the
access log."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlmodel import Session, func, select

from services.calendar import add_working_days
from services.cases.models import Case, CaseItem
from services.errors import Forbidden, InvalidInput
from services.processes import matter_content
from services.registries.models import DataAccess
from services.replay import MAX_CASES, replay
from tests.services.test_case_path import approve_open, submit

MATTER = "convenience_store"


def store_case(rt, user_of, number: int, **overrides) -> int:
    """A convenience-store case for premises number `number` (one case per premises), the
    premises' address answered (no registry lookup)."""
    return submit(
        rt,
        user_of,
        MATTER,
        "applicant",
        consented=False,
        premises_address=f"上海市普陀区测试路{number}号",
        **overrides,
    )


def run(rt, user_of, **candidate):
    with Session(rt.db) as session:
        return replay(session, rt, user=user_of("admin"), matter_code=MATTER, **candidate)


def current_bpmn(rt) -> bytes:
    with Session(rt.db) as session:
        return matter_content(session, rt, matter_code=MATTER)


def counts(rt) -> tuple[int, int]:
    with Session(rt.db) as session:
        return (
            session.exec(select(func.count()).select_from(CaseItem)).one(),
            session.exec(select(func.count()).select_from(DataAccess)).one(),
        )


def codes(items) -> set[str]:
    return {item.code for item in items}


@pytest.fixture
def three_cases(rt, user_of) -> list[int]:
    """Three cases, newest last: bulk food with a bank account (open), prepackaged food without
    one (open), and no food with a bank account, every item approved (closed)."""
    closed = store_case(rt, user_of, 1, food_sales="none")
    for _round in range(4):
        approve_open(rt, user_of, closed)
    bulk = store_case(rt, user_of, 2, food_sales="bulk")
    prepackaged = store_case(rt, user_of, 3, food_sales="prepackaged", wants_bank_account=False)
    with Session(rt.db) as session:
        assert session.get(Case, closed).status == "completed"
        assert session.get(Case, bulk).status != "completed"
    return [closed, bulk, prepackaged]


def test_unchanged_process_and_catalog_differ_on_no_case(rt, user_of, three_cases):
    result = run(rt, user_of)
    assert result.compared == 3 and result.differing == 0
    assert [case.status for case in result.cases][0] != "completed"  # newest first
    assert result.cases[-1].status == "completed"
    # The unchanged process given as a candidate is the same
    again = run(rt, user_of, content=current_bpmn(rt))
    assert again.process_changed and again.differing == 0
    assert [c.first_after for c in again.cases] == [c.first_before for c in again.cases]
    assert codes(again.cases[0].first_after) == {"market_business_licence"}


def test_changed_gateway_lists_the_cases_whose_items_vanish_or_appear(rt, user_of, three_cases):
    content = (
        current_bpmn(rt)
        .replace(b"food_sales == 'bulk'", b"food_sales == 'none'")
        .replace(b"wants_bank_account == True", b"wants_bank_account == False")
    )
    before = counts(rt)
    result = run(rt, user_of, content=content)
    by_number = {case.case_number: case for case in result.cases}
    with Session(rt.db) as session:
        number = {case_id: session.get(Case, case_id).number for case_id in three_cases}
    closed, bulk, prepackaged = (by_number[number[i]] for i in three_cases)
    assert codes(closed.appearing) == {"market_food_business_licence"}
    assert codes(closed.vanishing) == {"bank_account_opening"}
    assert codes(bulk.vanishing) == {"market_food_business_licence", "bank_account_opening"}
    assert bulk.appearing == ()
    assert codes(prepackaged.appearing) == {"bank_account_opening"}
    assert prepackaged.vanishing == ()
    assert result.differing == 3 and result.appearing == 2 and result.vanishing == 3
    # Names only, never the applicant's facts; nothing written but one access row per case
    item = next(iter(bulk.vanishing))
    assert item.name == rt.catalog.items[item.code].name
    items_after, accesses_after = counts(rt)
    assert items_after == before[0] and accesses_after == before[1] + 3


def test_catalog_condition_change_lists_items_that_stop_applying(rt, user_of, three_cases):
    result = run(rt, user_of, conditions={"bank_account_opening": "False"})
    lost = [case for case in result.cases if case.applies_lost]
    assert len(lost) == 2  # the two cases with a bank account
    assert all(codes(case.applies_lost) == {"bank_account_opening"} for case in lost)
    assert result.catalog_changed and not result.process_changed


def test_longer_time_limit_moves_each_open_items_deadline_by_those_working_days(
    rt, user_of, three_cases
):
    code = "market_business_licence"
    item = rt.catalog.items[code]
    candidate = replace(
        rt.catalog,
        items={**rt.catalog.items, code: replace(item, time_limit_days=item.time_limit_days + 5)},
    )
    result = run(rt, user_of, catalog=candidate)
    with Session(rt.db) as session:
        stored = {
            session.get(Case, row.case_id).number: row.due_date
            for row in session.exec(select(CaseItem).where(CaseItem.item_code == code)).all()
        }
    assert result.differing == 3 and result.appearing == 0 and result.vanishing == 0
    for case in result.cases:
        (move,) = case.deadline_moves
        assert move.item.code == code and move.days == 5
        assert move.old == stored[case.case_number]
        assert move.new == add_working_days(move.old, 5)


def test_shorter_time_limit_moves_deadlines_earlier(rt, user_of):
    store_case(rt, user_of, 9)
    code = "market_business_licence"
    item = rt.catalog.items[code]
    candidate = replace(
        rt.catalog, items={**rt.catalog.items, code: replace(item, time_limit_days=1)}
    )
    (case,) = run(rt, user_of, catalog=candidate).cases
    (move,) = case.deadline_moves
    assert move.days == 1 - item.time_limit_days
    assert add_working_days(move.new, item.time_limit_days - 1) == move.old


def test_limit_takes_the_newest_cases_and_is_bounded(rt, user_of, three_cases):
    (newest,) = run(rt, user_of, limit=1).cases
    with Session(rt.db) as session:
        assert newest.case_number == session.get(Case, three_cases[-1]).number
    for limit in (0, MAX_CASES + 1):
        with pytest.raises(InvalidInput) as refused:
            run(rt, user_of, limit=limit)
        assert refused.value.field == "limit"
    assert len(run(rt, user_of, limit=MAX_CASES).cases) == 3


def test_a_process_with_problems_is_refused_naming_the_element(rt, user_of):
    content = current_bpmn(rt).replace(b'value="bank_account_opening"', b'value="no_such_item"', 1)
    with pytest.raises(InvalidInput) as refused:
        run(rt, user_of, content=content)
    assert refused.value.fields


def test_only_administrators_replay(rt, user_of):
    with Session(rt.db) as session, pytest.raises(Forbidden):
        replay(session, rt, user=user_of("market01"), matter_code=MATTER)


def test_a_candidate_condition_is_checked_like_a_configured_one(rt, user_of):
    for conditions, field in (
        ({"bank_account_opening": "__import__('os')"}, "condition_bank_account_opening"),
        ({"bank_account_opening": "no_such_fact == 1"}, "condition_bank_account_opening"),
        ({"no_such_item": ""}, "condition_no_such_item"),
    ):
        with pytest.raises(InvalidInput) as refused:
            run(rt, user_of, conditions=conditions)
        assert refused.value.field == field
