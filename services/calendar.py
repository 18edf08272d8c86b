"""Working days (工作日) for statutory time limits: China's holidays and 调休 make-up days.

chinese-calendar holds the State Council's published schedule; for years it does not cover
yet, Saturdays and Sundays are the only rest days until the schedule is published.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    """The calendar date in China of a (UTC) moment."""
    return moment.astimezone(CHINA).date()


def is_working_day(day: date) -> bool:
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() < 5


@lru_cache(maxsize=4096)
def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day of acceptance does not count)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


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
