"""Working days (工作日) for statutory time limits: China's holidays and 调休 make-up days.

chinese-calendar holds the State Council's published schedule; for years it does not cover
yet, Saturdays and Sundays are the only rest days until the schedule is published. Over it lies
a layer of day overrides administrators keep (a year's schedule the library lacks, or a
correction): services.configuration.calendar stores them and loads them here with
`set_overrides`; this module knows no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The calendar date in China of a (UTC) moment."""
    return moment.astimezone(CHINA).date()


# date -> is a working day; replaced whole (never mutated) so readers need no lock
_overrides: dict[date, bool] = {}
# Bumped by every `set_overrides`: cached deadlines computed under older overrides are never
# served again, even one a concurrent thread stores after the cache was cleared.
_generation = 0


@dataclass(frozen=True)
class LibraryDay:
    """A day the published schedule names: a holiday (rest) or a 调休 make-up working day."""

    day: date
    working: bool
    name: str
    name_en: str


@cache
def library_years() -> tuple[int, int]:
    """The first and last year whose schedule chinese-calendar ships."""
    days = chinese_calendar.holidays.keys()
    return min(days).year, max(days).year


def library_covers(year: int) -> bool:
    first, last = library_years()
    return first <= year <= last


def library_is_working_day(day: date) -> bool:
    """What the published schedule says, without overrides (weekdays, for uncovered years)."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


def _chinese_name(english: str) -> str:
    for holiday in chinese_calendar.Holiday:
        if holiday.value == english:
            return holiday.chinese
    return english


def library_days(year: int) -> list[LibraryDay]:
    """The holidays and make-up working days of `year` in the published schedule, by date."""
    days = [
        LibraryDay(day, False, _chinese_name(name), name)
        for day, name in chinese_calendar.holidays.items()
        if day.year == year
    ]
    days += [
        LibraryDay(day, True, f"{_chinese_name(name)}调休上班", f"{name} make-up working day")
        for day, name in chinese_calendar.workdays.items()
        if day.year == year
    ]
    return sorted(days, key=lambda d: d.day)


def set_overrides(overrides: Mapping[date, bool]) -> None:
    """Replace the administrators' day overrides (date -> is a working day); deadlines cached
    under the previous ones are dropped."""
    global _overrides, _generation
    _overrides = dict(overrides)
    _generation += 1
    _add_working_days.cache_clear()


def is_working_day(day: date) -> bool:
    override = _overrides.get(day)
    return library_is_working_day(day) if override is None else override


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day of acceptance does not count)."""
    return _add_working_days(start, days, _generation)


@lru_cache(maxsize=4096)
def _add_working_days(start: date, days: int, generation: int) -> date:
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(first: date, last: date) -> int:
    """The working days after `first` up to and including `last` (0 when `last` is not later):
    how long something that arrived on `first` and left on `last` took, counted as time limits
    are (the day of arrival does not count)."""
    return sum(
        1
        for offset in range(1, (last - first).days + 1)
        if is_working_day(first + timedelta(offset))
    )


def months_after(day: date, months: int) -> date:
    """The same day `months` later, clamped to the end of a shorter month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def statutory_retirement_date(sex: str, birth_date: date, *, female_cadre: bool) -> date:
    """Statutory retirement date under the gradual retirement-age rules in force from 2025."""
    if sex == "M":
        base, first_born, step, cap = 60, 1965, 4, 36
    elif female_cadre:
        base, first_born, step, cap = 55, 1970, 4, 36
    else:
        base, first_born, step, cap = 50, 1975, 2, 60
    months = base * 12
    born_index = (birth_date.year - first_born) * 12 + birth_date.month - 1
    if born_index >= 0:
        months += min(cap, born_index // step + 1)
    return months_after(birth_date, months)


def end_of_working_day(days: int, now: datetime) -> str:
    """The end (23:59:59 China time) of the `days`-th working day after `now`'s date (0: today),
    as an ISO datetime: what a statutory-deadline timer waits for."""
    day = add_working_days(local_date(now), max(int(days), 0))
    end = datetime.combine(day, time(23, 59, 59), CHINA)
    return end.isoformat()
