"""Where time goes (services/element_times.py): cases, waits in working days (weekends and the
administrators' holidays left out) and bad reviews per element of the newborn process; one
element's cases, figures only."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from engine import clock
from services import calendar
from services.cases.decisions import decide
from services.cases.models import Case, CaseItem
from services.cases.submission import prepare_form, submit_application
from services.cases.uploads import UploadedFile
from services.configuration import calendar as holidays
from services.element_times import element_cases, element_times, percentile
from services.errors import InvalidInput, NotFound
from services.evaluations.service import evaluate
from tests.forms.test_matters import PDF
from tests.services.test_case_path import approve_open
from tests.web.conftest import NEWBORN_ANSWERS

POLICE = "Task_birth_registration"  # police_birth_registration: 5 working days
HEALTH = "Task_birth_certificate"
REST_DAY = date(2026, 12, 2)  # a Wednesday the administrators declare a rest day


@pytest.fixture(autouse=True)
def _published_schedule_only() -> Iterator[None]:
    """Overrides live in the process: leave none behind for the next test."""
    yield
    calendar.set_overrides({})


def at(day: int, month: int = 11) -> None:
    """Move the clock to 10:00 China time on that day of 2026."""
    clock.travel_to(datetime(2026, month, day, 2, 0, tzinfo=UTC))


def newborn_case(rt, user_of, username: str) -> int:
    citizen = user_of(username)
    with Session(rt.db) as session:
        form = prepare_form(
            session,
            rt,
            user=citizen,
            matter_code="newborn",
            answers=NEWBORN_ANSWERS,
            consented=True,
        )
    uploads = [UploadedFile(e.code, f"{e.code}.pdf", PDF) for e in form.uploads]
    with Session(rt.db) as session:
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code="newborn",
            answers=NEWBORN_ANSWERS,
            uploads=uploads,
            consented=True,
        )
        return case.id


def decide_police(rt, user_of, case_id: int, decision: str = "approved") -> None:
    with Session(rt.db) as session:
        item = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
        decide(
            session,
            rt,
            user=user_of("police01"),
            item_id=item.id,
            decision=decision,
            comment="材料与户籍信息不一致" if decision == "rejected" else "",
        )


@pytest.fixture
def five_cases(rt, user_of, newborn_parents) -> dict[str, int]:
    """Five newborn cases whose police step took 1, 4, 1 (over a weekend), 1 (over the declared
    rest day) working days, and one still waiting (3 working days by Thursday 3 December, the
    rest day left out); the first was rejected by the police, completed and rated very
    dissatisfied. The clock stops at Thursday 3 December 10:00."""
    mothers = dict(zip("ABCDE", newborn_parents(5), strict=True))
    with Session(rt.db) as session:
        holidays.set_day(
            session, user=user_of("admin"), day=REST_DAY, is_working_day=False, name="临时休假"
        )
    ids: dict[str, int] = {}
    at(23)  # Monday
    ids["A"] = newborn_case(rt, user_of, mothers["A"])
    ids["B"] = newborn_case(rt, user_of, mothers["B"])
    at(24)
    decide_police(rt, user_of, ids["A"], "rejected")
    for _round in range(3):
        approve_open(rt, user_of, ids["A"])
    with Session(rt.db) as session:
        case = session.get(Case, ids["A"])
        assert case.status == "completed"
        evaluate(session, user=user_of(mothers["A"]), case=case, level=1, reasons=["slow"])
    at(27)  # Friday
    decide_police(rt, user_of, ids["B"])
    ids["C"] = newborn_case(rt, user_of, mothers["C"])
    ids["D"] = newborn_case(rt, user_of, mothers["D"])
    at(30)  # Monday
    decide_police(rt, user_of, ids["C"])
    at(1, 12)  # Tuesday
    ids["E"] = newborn_case(rt, user_of, mothers["E"])
    at(3, 12)  # Thursday, after the rest day
    decide_police(rt, user_of, ids["E"])
    return ids


def overlay(rt, **options):
    with Session(rt.db) as session:
        result = element_times(session, rt, matter_code="newborn", **options)
    return {figures.element.element_id: figures for figures in result.elements}


def test_nearest_rank_percentile():
    assert percentile([], 0.9) is None
    assert percentile([3], 0.9) == 3
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([1, 1, 1, 3, 4], 0.5) == 1


def test_cases_waits_and_bad_reviews_per_element(rt, user_of, five_cases):
    figures = overlay(rt)
    police = figures[POLICE]
    assert (police.cases, police.visits, police.waiting) == (5, 5, 1)
    # waits 1, 4, 1, 1 and 3 (still waiting): weekend and declared rest day left out
    assert police.median_days == 1 and police.p90_days == 4
    assert police.limit_days == 5 and police.pace == "near"  # 4 of 5 days
    assert police.bad_reviews == 1  # the review went to the police, who rejected
    assert figures[HEALTH].bad_reviews == 0
    assert figures[HEALTH].waiting == 4  # every case but the completed one
    start = figures["Event_applied"]
    assert (start.element.kind, start.cases, start.waiting) == ("start", 5, 0)
    check = figures["Check_medical_enrollment"]
    assert check.element.kind == "check" and check.cases == 5 and check.p90_days == 0
    timer = figures["Timer_birth_registration_overdue"]
    assert timer.element.kind == "timer" and timer.waiting == 1  # armed for D only
    assert timer.median_days is None
    assert figures["Task_birth_registration_correction"].cases == 0


def test_the_rest_day_counts_once_removed(rt, user_of, five_cases):
    with Session(rt.db) as session:
        holidays.remove_day(session, user=user_of("admin"), day=REST_DAY)
    police = overlay(rt)[POLICE]
    assert sorted([police.median_days, police.p90_days]) == [2, 4]  # waits 1, 4, 1, 2, 4


def test_the_window_keeps_the_visits_it_overlaps(rt, user_of, five_cases):
    police = overlay(rt, since=date(2026, 12, 1), until=date(2026, 12, 3))[POLICE]
    assert (police.cases, police.waiting) == (2, 1)  # E, and D still waiting
    assert police.median_days == 2 and police.bad_reviews == 0
    later = overlay(rt, since=date(2026, 12, 4), until=date(2026, 12, 4))[POLICE]
    assert (later.cases, later.waiting) == (1, 1)  # D waits on
    with pytest.raises(InvalidInput):
        overlay(rt, since=date(2026, 12, 4), until=date(2026, 12, 1))
    with pytest.raises(InvalidInput):
        overlay(rt, since=date(2024, 1, 1))


def test_an_elements_cases_are_figures_without_personal_data(rt, user_of, five_cases):
    with Session(rt.db) as session:
        listed = element_cases(session, rt, matter_code="newborn", element_id=POLICE)
        cases = {case.number: case for case in session.exec(select(Case)).all()}
    assert listed.total == 5 and listed.element.department == "police"
    assert {f.name for f in fields(listed.cases[0])} == {
        "number",
        "status",
        "entered",
        "left",
        "waited_days",
    }
    by_case = {cases[row.number].id: row for row in listed.cases}
    assert by_case[five_cases["E"]] == listed.cases[0]  # the latest arrival first
    assert by_case[five_cases["D"]].left is None and by_case[five_cases["D"]].waited_days == 3
    assert by_case[five_cases["A"]].status == "completed"
    assert [by_case[five_cases[k]].waited_days for k in "ABCE"] == [1, 4, 1, 1]
    text = repr(listed)
    for case in cases.values():
        assert case.applicant_name not in text and case.applicant_id_number not in text
    with Session(rt.db) as session:
        page = element_cases(
            session, rt, matter_code="newborn", element_id=POLICE, limit=2, offset=4
        )
        started = element_cases(session, rt, matter_code="newborn", element_id="Event_applied")
    assert page.total == 5 and len(page.cases) == 1
    assert started.total == 5 and {c.waited_days for c in started.cases} == {0}


def test_an_element_not_in_the_process_is_not_found(rt):
    with Session(rt.db) as session, pytest.raises(NotFound) as refused:
        element_cases(session, rt, matter_code="newborn", element_id="Task_nowhere")
    assert "Task_nowhere" not in str(refused.value.args)
    with Session(rt.db) as session, pytest.raises(NotFound):
        element_times(session, rt, matter_code="newborn", version=7)
