"""The holiday calendar administrators keep over the published State Council schedule.

chinese-calendar ships the schedule up to a certain year (services.calendar); for a later year,
or to correct a day, administrators enter day overrides here: rest (休) or working (班) with
a name and a note, one day at a time or a whole year's schedule pasted line by line. The
overrides are loaded into services.calendar at startup and after every change, and every
server process reloads them when another one changed them (a cheap check every
REFRESH_INTERVAL seconds). Every change is kept with who, when, the old and the new value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, func, select

from engine.clock import utcnow
from services import calendar
from services.accounts.models import User
from services.background import refresh_periodically
from services.errors import Conflict, InvalidInput, NotFound

FIRST_YEAR, LAST_YEAR = 2000, 2099
NAME_LIMIT, NOTE_LIMIT = 40, 200
SCHEDULE_LIMIT = 20_000  # characters of a pasted schedule
LINE_LIMIT = 400  # non-empty lines of a pasted schedule
RANGE_LIMIT = 31  # days in one line's range
REST_WORDS = ("休", "休息", "放假", "rest", "off", "holiday")
WORK_WORDS = ("班", "上班", "work", "workday")
KINDS = {"work": True, "rest": False}  # what the day form sends: is it a working day


class CalendarOverride(SQLModel, table=True):
    """A day whose status differs from (or is missing in) the published schedule."""

    __tablename__ = "calendar_override"
    day: date = Field(primary_key=True)
    is_working_day: bool
    name: str = Field(default="", max_length=NAME_LIMIT)  # 春节, 调休上班, …
    note: str = Field(default="", max_length=NOTE_LIMIT)  # e.g. the notice it comes from
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")


class CalendarChange(SQLModel, table=True):
    """One change of a day override: who, when, the old and the new value ("" = none)."""

    __tablename__ = "calendar_change"
    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    old: str = Field(default="", max_length=300)
    new: str = Field(default="", max_length=300)


# ---------------------------------------------------------------- loading into services.calendar

_load_lock = threading.Lock()
_loaded: tuple[int | None, int] | None = None  # the fingerprint of what is loaded


@contextmanager
def _session_of(source: Engine | Session) -> Iterator[Session]:
    if isinstance(source, Session):
        yield source
    else:
        with Session(source) as session:
            yield session


def _fingerprint(session: Session) -> tuple[int | None, int]:
    """Changes since the last load move it: the newest change and the number of overrides."""
    last = session.exec(select(func.max(CalendarChange.id))).one()
    count = session.exec(select(func.count()).select_from(CalendarOverride)).one()
    return last, count


def _load(session: Session) -> int:
    global _loaded
    fingerprint = _fingerprint(session)  # read first: a change in between reloads again later
    rows = session.exec(select(CalendarOverride.day, CalendarOverride.is_working_day)).all()
    calendar.set_overrides(dict(rows))
    _loaded = fingerprint
    return len(rows)


def load_calendar_overrides(source: Engine | Session, *, keep_fresh: bool = False) -> int:
    """Load the day overrides into services.calendar; returns how many. `keep_fresh`: from now
    on, reload them in this process whenever another one changed them."""
    with _session_of(source) as session, _load_lock:
        count = _load(session)
    if keep_fresh and isinstance(source, Engine):
        refresh_periodically("calendar", source, refresh_calendar_overrides)
    return count


def refresh_calendar_overrides(source: Engine | Session) -> bool:
    """Reload the overrides if they changed since the last load (two small queries when they
    did not); True when reloaded."""
    with _session_of(source) as session, _load_lock:
        if _fingerprint(session) == _loaded:
            return False
        _load(session)
        return True


# ---------------------------------------------------------------- the year view


@dataclass(frozen=True)
class CalendarDay:
    """A day of the year view: a holiday or make-up day of the schedule, or an override."""

    day: date
    working: bool  # what deadlines count now
    name: str
    name_en: str
    library: calendar.LibraryDay | None  # what the published schedule names that day
    library_working: bool
    override: CalendarOverride | None


@dataclass(frozen=True)
class CalendarMonth:
    month: int
    days: list[CalendarDay]
    working_days: int


@dataclass(frozen=True)
class CalendarYear:
    year: int
    covered: bool  # chinese-calendar ships this year's schedule
    library_years: tuple[int, int]
    months: list[CalendarMonth]
    overrides: list[CalendarOverride]


def check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(
            "year",
            f"年份须在 {FIRST_YEAR}–{LAST_YEAR} 之间",
            f"the year must be between {FIRST_YEAR} and {LAST_YEAR}",
        )
    return year


def parse_year(text: str) -> int:
    """The year a form or link names; InvalidInput("year") when it is not one."""
    try:
        year = int(text.strip())
    except ValueError:
        year = 0
    return check_year(year)


def this_year() -> int:
    """The current year in China."""
    return calendar.local_date(utcnow()).year


def _year_overrides(session: Session, year: int) -> list[CalendarOverride]:
    query = (
        select(CalendarOverride)
        .where(CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31))
        .order_by(col(CalendarOverride.day))
    )
    return list(session.exec(query).all())


def _default_name(working: bool) -> tuple[str, str]:
    return ("上班", "Working day") if working else ("休息", "Rest day")


def year_view(session: Session, *, year: int) -> CalendarYear:
    """The year's holidays and make-up working days (schedule and overrides) by month, with the
    number of working days each month has now. Ordinary weekends are not listed."""
    check_year(year)
    overrides = _year_overrides(session, year)
    by_day = {o.day: o for o in overrides}
    library = {d.day: d for d in calendar.library_days(year)}
    days: dict[int, list[CalendarDay]] = {month: [] for month in range(1, 13)}
    for day in sorted(set(by_day) | set(library)):
        override, published = by_day.get(day), library.get(day)
        library_working = calendar.library_is_working_day(day)
        working = override.is_working_day if override else library_working
        if override and override.name:
            name, name_en = override.name, override.name
        elif published and published.working == working:
            name, name_en = published.name, published.name_en
        else:
            name, name_en = _default_name(working)
        days[day.month].append(
            CalendarDay(day, working, name, name_en, published, library_working, override)
        )

    def working_now(day: date) -> bool:
        override = by_day.get(day)
        return override.is_working_day if override else calendar.library_is_working_day(day)

    months = []
    for month in range(1, 13):
        first = date(year, month, 1)
        length = ((first + timedelta(days=31)).replace(day=1) - first).days
        count = sum(working_now(first + timedelta(days=n)) for n in range(length))
        months.append(CalendarMonth(month, days[month], count))
    return CalendarYear(
        year=year,
        covered=calendar.library_covers(year),
        library_years=calendar.library_years(),
        months=months,
        overrides=overrides,
    )


def override_of(session: Session, *, day: date) -> CalendarOverride | None:
    """The administrators' override of `day`, if any."""
    return session.get(CalendarOverride, day)


def changes(session: Session, *, year: int, limit: int = 100) -> list[CalendarChange]:
    """The year's override changes, newest first."""
    query = (
        select(CalendarChange)
        .where(CalendarChange.day >= date(year, 1, 1), CalendarChange.day <= date(year, 12, 31))
        .order_by(col(CalendarChange.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


# ---------------------------------------------------------------- input

_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _date_of(text: str) -> date | None:
    found = _DATE.fullmatch(text)
    if found is None:
        return None
    try:
        day = date(*(int(part) for part in found.groups()))
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def parse_day(text: str, field: str = "day") -> date:
    """A day typed as YYYY-MM-DD (what a date input sends)."""
    day = _date_of(text.strip())
    if day is None:
        raise InvalidInput(
            field,
            f"请填写 {FIRST_YEAR}–{LAST_YEAR} 年间的有效日期，格式 YYYY-MM-DD",
            f"enter a valid date between {FIRST_YEAR} and {LAST_YEAR} as YYYY-MM-DD",
        )
    return day


def _clean(text: str, limit: int, field: str, label: str, label_en: str) -> str:
    text = " ".join(text.split())  # one line: no tabs, newlines or runs of spaces
    if len(text) > limit:
        raise InvalidInput(
            field,
            f"{label}最多 {limit} 个字符",
            f"the {label_en} may have at most {limit} characters",
        )
    return text


def _describe(working: bool, name: str = "", note: str = "") -> str:
    """An override as the change history shows it: 休 春节（note）."""
    text = f"{'班' if working else '休'} {name}".strip()
    return f"{text}（{note}）" if note else text


class _BadLine(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass(frozen=True)
class ScheduleLine:
    """A day a pasted schedule sets, with the number of the line that sets it."""

    number: int
    day: date
    working: bool
    name: str


_RANGE = re.compile(r"~|～|至|\.\.")


def _parse_line(line: str, year: int) -> tuple[list[date], bool, str]:
    parts = line.replace("\u3000", " ").split(maxsplit=2)
    if len(parts) < 2:
        raise _BadLine(
            "应为“日期 休/班 名称”，如 2027-01-01 休 元旦",
            "expected 'date 休/班 name', e.g. 2027-01-01 休 元旦",
        )
    when, kind = parts[0], parts[1]
    name = " ".join(parts[2].split()) if len(parts) > 2 else ""
    ends = _RANGE.split(when, maxsplit=1)
    first, last = _date_of(ends[0]), _date_of(ends[-1])
    if first is None or last is None:
        raise _BadLine(
            f"日期“{when}”无效，应为 YYYY-MM-DD 或 YYYY-MM-DD~YYYY-MM-DD",
            f"the date '{when}' is not valid: YYYY-MM-DD or YYYY-MM-DD~YYYY-MM-DD",
        )
    if first.year != year or last.year != year:
        raise _BadLine(f"日期“{when}”不在 {year} 年", f"the date '{when}' is not in {year}")
    if last < first or (last - first).days >= RANGE_LIMIT:
        raise _BadLine(
            f"日期范围“{when}”无效（最多 {RANGE_LIMIT} 天）",
            f"the range '{when}' is not valid (at most {RANGE_LIMIT} days)",
        )
    if kind.lower() in REST_WORDS:
        working = False
    elif kind.lower() in WORK_WORDS:
        working = True
    else:
        raise _BadLine(f"“{kind}”应为“休”或“班”", f"'{kind}' should be 休 (rest) or 班 (work)")
    if len(name) > NAME_LIMIT:
        raise _BadLine(
            f"名称最多 {NAME_LIMIT} 个字符", f"the name may have at most {NAME_LIMIT} characters"
        )
    return [first + timedelta(days=n) for n in range((last - first).days + 1)], working, name


def parse_schedule(text: str, *, year: int) -> list[ScheduleLine]:
    """Every day a pasted schedule of `year` sets, one line each: `2027-01-01 休 元旦`,
    `2027-02-07 班 调休`, or a range `2027-02-10~2027-02-16 休 春节`; blank lines and lines
    starting with # are skipped. Raises InvalidInput naming every bad line by its number."""
    check_year(year)
    if len(text) > SCHEDULE_LIMIT:
        raise InvalidInput(
            "schedule",
            f"粘贴的内容过长（最多 {SCHEDULE_LIMIT} 个字符）",
            f"the schedule is too long (at most {SCHEDULE_LIMIT} characters)",
        )
    problems: dict[str, tuple[str, str]] = {}
    lines: list[ScheduleLine] = []
    seen: dict[date, int] = {}
    given = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        given += 1
        key = f"schedule:{number}"
        if given > LINE_LIMIT:
            problems[key] = (
                f"第 {number} 行：最多 {LINE_LIMIT} 行",
                f"line {number}: at most {LINE_LIMIT} lines",
            )
            break
        try:
            days, working, name = _parse_line(line, year)
        except _BadLine as bad:
            problems[key] = (f"第 {number} 行：{bad.zh}", f"line {number}: {bad.en}")
            continue
        for day in days:
            if day in seen:
                problems[key] = (
                    f"第 {number} 行：{day} 已在第 {seen[day]} 行出现",
                    f"line {number}: {day} is already on line {seen[day]}",
                )
                break
            seen[day] = number
            lines.append(ScheduleLine(number, day, working, name))
    if problems:
        raise InvalidInput(
            "schedule",
            f"粘贴的安排有 {len(problems)} 行不正确，未做任何修改",
            f"{len(problems)} line(s) of the schedule are not valid; nothing was changed",
            fields=problems,
        )
    if not lines:
        raise InvalidInput("schedule", "请粘贴至少一行安排", "paste at least one line")
    return lines


# ---------------------------------------------------------------- changes


def _put(
    session: Session,
    user: User,
    row: CalendarOverride | None,
    day: date,
    working: bool,
    name: str,
    note: str,
) -> bool:
    """Set `day`'s override (row: its current one); False when it already was so."""
    if row is not None and (row.is_working_day, row.name, row.note) == (working, name, note):
        return False
    old = _describe(row.is_working_day, row.name, row.note) if row else ""
    row = row or CalendarOverride(day=day, is_working_day=working)
    row.is_working_day, row.name, row.note = working, name, note
    row.updated_at, row.updated_by_user_id = utcnow(), user.id
    session.add(row)
    session.add(
        CalendarChange(day=day, user_id=user.id, old=old, new=_describe(working, name, note))
    )
    return True


def _delete(session: Session, user: User, row: CalendarOverride) -> None:
    session.delete(row)
    session.add(
        CalendarChange(
            day=row.day, user_id=user.id, old=_describe(row.is_working_day, row.name, row.note)
        )
    )


def _commit(session: Session) -> None:
    """Commit the changes and load them into services.calendar at once."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "另一位管理员同时修改了同一天，请刷新页面后重试",
            "another administrator changed the same day at the same time: reload and try again",
        ) from exc
    with _load_lock:
        _load(session)


def parse_kind(kind: str) -> bool:
    """Whether a day the form calls `kind` ("work" or "rest") is a working day."""
    if kind not in KINDS:
        raise InvalidInput("kind", "请选择休息或上班", "choose rest day or working day")
    return KINDS[kind]


def set_day(
    session: Session,
    *,
    user: User,
    day: date,
    is_working_day: bool,
    name: str = "",
    note: str = "",
) -> None:
    """Add or change `day`'s override."""
    check_year(day.year)
    name = _clean(name, NAME_LIMIT, "name", "名称", "name")
    note = _clean(note, NOTE_LIMIT, "note", "备注", "note")
    if _put(session, user, session.get(CalendarOverride, day), day, is_working_day, name, note):
        _commit(session)


def remove_day(session: Session, *, user: User, day: date) -> None:
    """Delete `day`'s override: the published schedule applies again."""
    row = session.get(CalendarOverride, day)
    if row is None:
        raise NotFound(f"{day} 没有管理员设置", f"{day} has no override")
    _delete(session, user, row)
    _commit(session)


@dataclass(frozen=True)
class ImportResult:
    changed: int  # days added or changed
    unchanged: int  # days that already were so
    removed: int  # the year's other overrides, when replacing


def import_schedule(
    session: Session,
    *,
    user: User,
    year: int,
    text: str,
    note: str = "",
    replace: bool = False,
) -> ImportResult:
    """Set every day of a pasted schedule (see `parse_schedule`), all or nothing; `replace`:
    also delete the year's overrides the schedule does not name."""
    lines = parse_schedule(text, year=year)
    note = _clean(note, NOTE_LIMIT, "note", "备注", "note")
    existing = {o.day: o for o in _year_overrides(session, year)}
    changed = 0
    for line in lines:
        row = existing.get(line.day)
        changed += _put(session, user, row, line.day, line.working, line.name, note)
    removed = 0
    if replace:
        named = {line.day for line in lines}
        for day, row in existing.items():
            if day not in named:
                _delete(session, user, row)
                removed += 1
    if changed or removed:
        _commit(session)
    return ImportResult(changed=changed, unchanged=len(lines) - changed, removed=removed)
