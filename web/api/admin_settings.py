"""Departments and the holiday calendar over the API: a department's names, service information
and supervisors' e-mail; the year's holidays and make-up working days, day overrides and a
pasted year's schedule (the pages: web/routes/admin_settings.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from forms.catalog import Catalog
from services.cases.schemas import NO_NUL
from services.configuration import calendar as holidays
from services.configuration import departments
from web.api.admin import ChangePublic, changes_public, too_large
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit

router = api_router(prefix="/admin/config", tags=["api: admin"])

RECENT_CHANGES = 20  # department changes on the list (the page shows as many)
TEXT_MAX = 1000  # characters of a text field sent (the services check their own limits)
# A pasted schedule's body: its characters, each percent-encoded in a form (9 bytes) or escaped
# in JSON (\uXXXX) at worst
IMPORT_LIMIT = 10 * holidays.SCHEDULE_LIMIT

# ---------------------------------------------------------------- departments


class DepartmentItemPublic(BaseModel):
    """A catalog item the department handles."""

    code: str
    name: str
    name_en: str
    time_limit_days: int = Field(description="Its statutory time limit, working days")


class DepartmentPublic(BaseModel):
    """A department as configured now, with its staff, items and open tasks."""

    code: str = Field(
        description="Fixed by the catalog: what the BPMN lane of its tasks is bound to"
    )
    name: str
    name_en: str
    address: str
    phone: str
    opening_hours: str
    supervisor_email: str = Field(description="Where the supervisors' notifications go")
    catalog_name: str = Field(description="The catalog's name (a blank name restores it)")
    catalog_name_en: str
    clerks: int = Field(description="Active clerks who are not supervisors")
    supervisors: int = Field(description="Active supervisors")
    open_tasks: int = Field(description="Case items in progress in its queue")
    items: list[DepartmentItemPublic]


class DepartmentChangePublic(ChangePublic):
    department: str
    what: str = Field(
        description="The field changed: " + ", ".join(departments.FIELDS),
    )


class DepartmentListPublic(BaseModel):
    departments: list[DepartmentPublic] = Field(description="In catalog order")
    recent_changes: list[DepartmentChangePublic] = Field(
        description=f"The last {RECENT_CHANGES} changes of any department, newest first"
    )


class DepartmentDetailPublic(DepartmentPublic):
    history: list[DepartmentChangePublic] = Field(description="Changes, newest first")


class DepartmentSavedPublic(BaseModel):
    changed: int = Field(description="Fields changed (0: it already was so)")
    department: DepartmentDetailPublic


def _text(description: str):
    return Field(default=None, max_length=TEXT_MAX, pattern=NO_NUL, description=description)


class DepartmentIn(BaseModel):
    """The fields to set; a field left out (or null) keeps its value. All or nothing: a refused
    field (422, named in `fields`) changes nothing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "address": "上海市徐汇区漕溪北路1号",
                    "phone": "021-12345678",
                    "opening_hours": "周一至周五 9:00–17:00（法定节假日除外）",
                    "supervisor_email": "lead@example.gov.cn",
                }
            ]
        }
    )

    name: str | None = _text("The Chinese name, at most 64 characters (blank: the catalog's)")
    name_en: str | None = _text("The English name, at most 120 characters (blank: the catalog's)")
    address: str | None = _text("The office address, at most 200 characters")
    phone: str | None = _text("Phone numbers, digits, spaces, + - ( ), several separated by commas")
    opening_hours: str | None = _text("Opening hours, at most 200 characters")
    supervisor_email: str | None = _text("One e-mail address for the supervisors' notifications")


def _department_public(row: departments.DepartmentRow) -> dict:
    d = row.department
    return {
        "code": d.code,
        "name": d.name,
        "name_en": d.name_en,
        "address": d.address,
        "phone": d.phone,
        "opening_hours": d.opening_hours,
        "supervisor_email": d.supervisor_email,
        "catalog_name": row.catalog.name,
        "catalog_name_en": row.catalog.name_en,
        "clerks": row.clerks,
        "supervisors": row.supervisors,
        "open_tasks": row.open_tasks,
        "items": [
            DepartmentItemPublic(
                code=item.code,
                name=item.name,
                name_en=item.name_en,
                time_limit_days=item.time_limit_days,
            )
            for item in row.items
        ],
    }


def _department_detail(session: Session, catalog: Catalog, code: str) -> DepartmentDetailPublic:
    [row] = departments.department_rows(session, catalog, code=code)
    history = departments.changes(session, code=code)
    return DepartmentDetailPublic(
        **_department_public(row),
        history=changes_public(session, history, DepartmentChangePublic),
    )


@router.get("/departments", response_model=DepartmentListPublic)
def department_list(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every department with its staff, items and open tasks, and the recent changes."""
    recent = departments.changes(session, limit=RECENT_CHANGES)
    return DepartmentListPublic(
        departments=[
            DepartmentPublic(**_department_public(row))
            for row in departments.department_rows(session, rt.catalog)
        ],
        recent_changes=changes_public(session, recent, DepartmentChangePublic),
    )


@router.get("/departments/{code}", response_model=DepartmentDetailPublic)
def department(code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """A department with its staff, items, open tasks and the record of its changes."""
    return _department_detail(session, rt.catalog, code)


@router.post(
    "/departments/{code}",
    response_model=DepartmentSavedPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def save_department(
    body: DepartmentIn, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Change a department's names, service information and supervisors' e-mail (each change
    recorded); every server process applies it (the others at their next refresh)."""
    changed = departments.update_department(
        session, rt.catalog, user=user, code=code, values=body.model_dump()
    )
    return DepartmentSavedPublic(
        changed=changed, department=_department_detail(session, rt.catalog, code)
    )


# ---------------------------------------------------------------- holiday calendar


class OverridePublic(BaseModel):
    """A day an administrator set: rest or working, over the published schedule."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    is_working_day: bool
    name: str
    note: str
    updated_at: datetime
    updated_by_user_id: int | None


class CalendarDayPublic(BaseModel):
    """A holiday or make-up working day of the schedule, or a day an administrator set."""

    model_config = ConfigDict(from_attributes=True)

    day: date
    working: bool = Field(description="What deadlines count now: a working day")
    name: str
    name_en: str
    library_working: bool = Field(description="What the published schedule says of the day")
    override: OverridePublic | None = Field(description="The administrators' setting, if any")


class CalendarMonthPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    month: int
    working_days: int = Field(description="Working days the month has now")
    days: list[CalendarDayPublic] = Field(
        description="Its holidays and make-up working days (ordinary weekends are not listed)"
    )


class CalendarChangePublic(ChangePublic):
    day: date


class CalendarYearPublic(BaseModel):
    """The year's schedule as deadlines count it, the overrides and the record of changes."""

    model_config = ConfigDict(from_attributes=True)

    year: int
    covered: bool = Field(description="chinese-calendar ships the State Council's schedule")
    library_years: tuple[int, int] = Field(description="The years chinese-calendar covers")
    months: list[CalendarMonthPublic]
    overrides: list[OverridePublic] = Field(description="The year's overrides, by day")
    history: list[CalendarChangePublic] = Field(
        default=[], description="The year's changes, newest first"
    )


class DayIn(BaseModel):
    """One day's override."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "day": "2027-10-08",
                    "kind": "rest",
                    "name": "国庆节",
                    "note": "国办发明电〔2026〕",
                },
                {"day": "2027-09-26", "kind": "work", "name": "调休上班"},
            ]
        }
    )

    day: str = Field(
        max_length=32,
        description=f"YYYY-MM-DD, {holidays.FIRST_YEAR}–{holidays.LAST_YEAR}",
        json_schema_extra={"format": "date"},
    )
    kind: str = Field(
        max_length=32,
        description="rest (a holiday) or work (a make-up working day)",
        json_schema_extra={"enum": list(holidays.KINDS)},
    )
    name: str = Field(
        default="",
        max_length=TEXT_MAX,
        pattern=NO_NUL,
        description=f"e.g. 春节, 调休上班; at most {holidays.NAME_LIMIT} characters",
    )
    note: str = Field(
        default="",
        max_length=TEXT_MAX,
        pattern=NO_NUL,
        description=f"e.g. the notice it comes from; at most {holidays.NOTE_LIMIT} characters",
    )


class ScheduleIn(BaseModel):
    """A year's schedule pasted line by line, entered all or nothing."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "year": 2027,
                    "schedule": "2027-01-01 休 元旦\n2027-02-06~2027-02-12 休 春节\n"
                    "2027-02-14 班 调休上班",
                    "note": "国务院办公厅关于2027年部分节假日安排的通知",
                    "replace": False,
                }
            ]
        }
    )

    year: int = Field(description=f"{holidays.FIRST_YEAR}–{holidays.LAST_YEAR}")
    schedule: str = Field(
        max_length=2 * holidays.SCHEDULE_LIMIT,
        pattern=NO_NUL,
        description="One day or range a line: `2027-01-01 休 元旦`, `2027-02-14 班 调休`, "
        "`2027-02-06~2027-02-12 休 春节`; blank lines and lines starting with # are "
        f"skipped; at most {holidays.LINE_LIMIT} lines and {holidays.SCHEDULE_LIMIT} "
        "characters. A bad line refuses the whole schedule (422): `fields` names each one "
        "as `schedule:<line number>`",
    )
    note: str = Field(
        default="",
        max_length=TEXT_MAX,
        pattern=NO_NUL,
        description=f"Kept with every day, at most {holidays.NOTE_LIMIT} characters",
    )
    replace: bool = Field(
        default=False, description="Also delete the year's overrides the schedule does not name"
    )


class ImportedPublic(BaseModel):
    changed: int = Field(description="Days added or changed")
    unchanged: int = Field(description="Days that already were so")
    removed: int = Field(description="The year's other overrides deleted (with `replace`)")
    calendar: CalendarYearPublic


DayPath = Annotated[str, Path(max_length=32, description="YYYY-MM-DD")]


def _year_public(session: Session, year: int) -> CalendarYearPublic:
    view = CalendarYearPublic.model_validate(holidays.year_view(session, year=year))
    history = holidays.changes(session, year=year)
    return view.model_copy(
        update={"history": changes_public(session, history, CalendarChangePublic)}
    )


@router.get("/calendar", response_model=CalendarYearPublic)
def calendar_year(
    user: AdminUser,
    session: SessionDep,
    year: Annotated[int | None, Query(description="Default: this year")] = None,
):
    """The year's holidays and make-up working days by month (the published schedule and the
    overrides), the working days of each month, the overrides and the record of changes."""
    return _year_public(session, holidays.this_year() if year is None else year)


@router.post(
    "/calendar/days",
    response_model=CalendarYearPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def save_day(body: DayIn, user: AdminUser, session: SessionDep):
    """Add or change one day's override (recorded); deadlines computed from now on follow it.
    Answers the day's year."""
    picked = holidays.parse_day(body.day)
    holidays.set_day(
        session,
        user=user,
        day=picked,
        is_working_day=holidays.parse_kind(body.kind),
        name=body.name,
        note=body.note,
    )
    return _year_public(session, picked.year)


@router.post(
    "/calendar/days/{day}/delete", response_model=CalendarYearPublic, dependencies=[CsrfChecked]
)
def delete_day(day: DayPath, user: AdminUser, session: SessionDep):
    """Delete one day's override (recorded): the published schedule applies to it again.
    Answers the day's year."""
    picked = holidays.parse_day(day)
    holidays.remove_day(session, user=user, day=picked)
    return _year_public(session, picked.year)


@router.post(
    "/calendar/import",
    response_model=ImportedPublic,
    dependencies=[CsrfChecked],
    responses=too_large(IMPORT_LIMIT),
)
@body_limit(IMPORT_LIMIT)
def import_schedule(body: ScheduleIn, user: AdminUser, session: SessionDep):
    """Enter a year's schedule pasted line by line, all or nothing (each day recorded)."""
    year = holidays.check_year(body.year)
    result = holidays.import_schedule(
        session, user=user, year=year, text=body.schedule, note=body.note, replace=body.replace
    )
    return ImportedPublic(
        changed=result.changed,
        unchanged=result.unchanged,
        removed=result.removed,
        calendar=_year_public(session, year),
    )
