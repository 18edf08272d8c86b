"""The holiday calendar's override layer: administrators' days over the published schedule move
statutory deadlines at once, in this process and, at their refresh, in the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, func, select

from services import background, calendar
from services.configuration import calendar as holidays
from services.configuration.calendar import CalendarChange, CalendarOverride
from services.errors import InvalidInput

MONDAY = date(2026, 11, 23)  # the tests' today; five working days on is Monday 2026-11-30
UNCOVERED = calendar.library_years()[1] + 1  # the first year chinese-calendar does not ship


@pytest.fixture(autouse=True)
def _published_schedule_only() -> Iterator[None]:
    """Overrides live in the process: leave none behind for the next test."""
    yield
    calendar.set_overrides({})


@pytest.fixture
def admin(user_of):
    return user_of("admin")


def _count(rt, model) -> int:
    with Session(rt.db) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_an_added_holiday_moves_a_statutory_due_date(rt, admin):
    assert calendar.add_working_days(MONDAY, 5) == date(2026, 11, 30)
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert calendar.end_of_working_day(5, now) == "2026-11-30T23:59:59+08:00"
    with Session(rt.db) as session:
        holidays.set_day(
            session, user=admin, day=date(2026, 11, 25), is_working_day=False, name="临时休假"
        )
    assert not calendar.is_working_day(date(2026, 11, 25))
    assert calendar.add_working_days(MONDAY, 5) == date(2026, 12, 1)
    assert calendar.end_of_working_day(5, now) == "2026-12-01T23:59:59+08:00"


def test_a_make_up_working_day_shortens_a_due_date(rt, admin):
    saturday = date(2026, 11, 28)
    with Session(rt.db) as session:
        holidays.set_day(session, user=admin, day=saturday, is_working_day=True, name="调休上班")
    assert calendar.add_working_days(MONDAY, 5) == saturday


def test_deleting_an_override_restores_the_published_schedule(rt, admin):
    day = date(2026, 11, 25)
    with Session(rt.db) as session:
        holidays.set_day(session, user=admin, day=day, is_working_day=False)
        assert calendar.add_working_days(MONDAY, 5) == date(2026, 12, 1)
        holidays.remove_day(session, user=admin, day=day)
    assert calendar.add_working_days(MONDAY, 5) == date(2026, 11, 30)
    assert _count(rt, CalendarOverride) == 0


def test_an_override_corrects_a_day_the_library_covers(rt, admin):
    spring_festival = date(2026, 2, 16)  # a Monday of the 2026 Spring Festival holiday
    assert not calendar.is_working_day(spring_festival)
    with Session(rt.db) as session:
        holidays.set_day(session, user=admin, day=spring_festival, is_working_day=True)
        view = holidays.year_view(session, year=2026)
    assert calendar.is_working_day(spring_festival)
    [day] = [d for d in view.months[1].days if d.day == spring_festival]
    assert day.working and day.override is not None and day.library is not None
    assert not day.library_working


def test_a_year_the_library_does_not_cover_rests_only_on_weekends_until_entered(rt, admin):
    new_year = date(UNCOVERED, 1, 1)
    with Session(rt.db) as session:
        assert not holidays.year_view(session, year=UNCOVERED).covered
        assert holidays.year_view(session, year=2026).covered
        assert calendar.is_working_day(new_year) == (new_year.weekday() < 5)
        result = holidays.import_schedule(
            session,
            user=admin,
            year=UNCOVERED,
            text=f"# 元旦\n{UNCOVERED}-01-01 休 元旦\n\n{UNCOVERED}-02-10~{UNCOVERED}-02-12 休 春节",
            note="国务院办公厅通知",
        )
        view = holidays.year_view(session, year=UNCOVERED)
    assert (result.changed, result.unchanged, result.removed) == (4, 0, 0)
    assert not calendar.is_working_day(new_year)
    assert not calendar.is_working_day(date(UNCOVERED, 2, 11))
    listed = [d.day for d in view.months[1].days]
    assert listed == [date(UNCOVERED, 2, d) for d in (10, 11, 12)]
    assert view.months[1].days[0].name == "春节"


def test_a_pasted_schedule_is_checked_line_by_line_and_nothing_is_written(rt, admin):
    text = "\n".join(
        [
            f"{UNCOVERED}-01-01 休 元旦",
            f"{UNCOVERED}-02-30 休 春节",  # no such day
            f"{UNCOVERED}-02-07 上下 调休",  # neither 休 nor 班
            f"{UNCOVERED - 1}-12-31 休",  # another year
            f"{UNCOVERED}-01-01 班",  # again
            "2027/01/01",
        ]
    )
    with Session(rt.db) as session, pytest.raises(InvalidInput) as raised:
        holidays.import_schedule(session, user=admin, year=UNCOVERED, text=text)
    problems = raised.value.fields
    assert sorted(problems) == [f"schedule:{n}" for n in range(2, 7)]
    assert problems["schedule:2"][0].startswith("第 2 行")
    assert problems["schedule:5"][1] == f"line 5: {UNCOVERED}-01-01 is already on line 1"
    assert _count(rt, CalendarOverride) == 0 and _count(rt, CalendarChange) == 0
    assert calendar.is_working_day(date(UNCOVERED, 1, 1)) == (date(UNCOVERED, 1, 1).weekday() < 5)


def test_replacing_a_years_schedule_deletes_the_days_it_does_not_name(rt, admin):
    with Session(rt.db) as session:
        holidays.import_schedule(
            session, user=admin, year=UNCOVERED, text=f"{UNCOVERED}-01-01 休\n{UNCOVERED}-01-02 休"
        )
        result = holidays.import_schedule(
            session,
            user=admin,
            year=UNCOVERED,
            text=f"{UNCOVERED}-01-01 休\n{UNCOVERED}-01-04 班 调休",
            replace=True,
        )
        days = session.exec(select(CalendarOverride.day).order_by(CalendarOverride.day)).all()
    assert (result.changed, result.unchanged, result.removed) == (1, 1, 1)
    assert days == [date(UNCOVERED, 1, 1), date(UNCOVERED, 1, 4)]
    assert calendar.is_working_day(date(UNCOVERED, 1, 2)) == (date(UNCOVERED, 1, 2).weekday() < 5)


def test_every_change_is_kept_with_who_when_old_and_new(rt, admin):
    day = date(2026, 12, 24)
    with Session(rt.db) as session:
        holidays.set_day(session, user=admin, day=day, is_working_day=False, name="试行")
        holidays.set_day(session, user=admin, day=day, is_working_day=False, name="试行")  # same
        holidays.set_day(session, user=admin, day=day, is_working_day=True, note="更正")
        holidays.remove_day(session, user=admin, day=day)
        history = holidays.changes(session, year=2026)
    assert [(c.old, c.new) for c in reversed(history)] == [
        ("", "休 试行"),
        ("休 试行", "班（更正）"),
        ("班（更正）", ""),
    ]
    assert {c.user_id for c in history} == {admin.id}


def test_bad_single_day_input_names_its_field(rt, admin):
    with pytest.raises(InvalidInput) as raised:
        holidays.parse_day("2026-13-01")
    assert raised.value.field == "day"
    with Session(rt.db) as session, pytest.raises(InvalidInput) as raised:
        holidays.set_day(
            session, user=admin, day=date(2026, 12, 1), is_working_day=False, name="长" * 41
        )
    assert raised.value.field == "name"
    assert _count(rt, CalendarOverride) == 0


def test_another_process_picks_up_a_change_at_its_refresh(rt, admin):
    day = date(2026, 11, 25)
    with Session(rt.db) as session:  # the rows another server process's change writes
        session.add(CalendarOverride(day=day, is_working_day=False, name="临时休假"))
        session.add(CalendarChange(day=day, user_id=admin.id, new="休 临时休假"))
        session.commit()
    assert calendar.is_working_day(day)
    background.run_refresh_steps()  # what the refresh thread does every REFRESH_INTERVAL
    assert not calendar.is_working_day(day)
    assert calendar.add_working_days(MONDAY, 5) == date(2026, 12, 1)
    assert holidays.refresh_calendar_overrides(rt.db) is False  # nothing new: nothing reloaded


def test_the_overrides_are_loaded_at_startup(rt, admin):
    with Session(rt.db) as session:
        holidays.set_day(session, user=admin, day=date(2026, 11, 25), is_working_day=False)
    calendar.set_overrides({})
    assert holidays.load_calendar_overrides(rt.db) == 1
    assert calendar.add_working_days(MONDAY, 5) == date(2026, 12, 1)
