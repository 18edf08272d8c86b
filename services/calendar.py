"""Working days (工作日) for statutory time limits: China's holidays and 调休 make-up days.

chinese-calendar holds the State Council's published schedule; for years it does not cover
yet, Saturdays and Sundays are the only rest days until the schedule is published.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
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


def add_working_days(start: date, days: int) -> date:
    """The date `days` working days after `start` (the day of acceptance does not count)."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current
