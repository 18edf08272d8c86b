"""Administrators configure the departments (names, service information, supervisors' e-mail)
and the holiday calendar (day overrides over the State Council schedule); the JSON twins:
web/api/admin_settings.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from services.accounts.service import actor_names
from services.cases.schemas import NO_NUL
from services.configuration import calendar as holidays
from services.configuration import departments
from services.errors import InvalidInput
from services.runtime import Runtime
from web.api.admin_settings import IMPORT_LIMIT, RECENT_CHANGES
from web.api.routing import twin
from web.deps import AdminUser, Code, CsrfChecked, FormText, RuntimeDep, SessionDep
from web.limits import body_limit
from web.openapi import answers
from web.rendering import render

router = APIRouter(prefix="/admin/config", tags=["pages: admin"])
WEEKDAYS = (
    ("一", "Mon"),
    ("二", "Tue"),
    ("三", "Wed"),
    ("四", "Thu"),
    ("五", "Fri"),
    ("六", "Sat"),
    ("日", "Sun"),
)


# ---------------------------------------------------------------- departments


@router.get("/departments", response_class=HTMLResponse)
@twin("GET /api/v1/admin/config/departments")
def department_list(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    recent = departments.changes(session, limit=RECENT_CHANGES)
    return render(
        request,
        "admin/departments.html",
        rows=departments.department_rows(session, rt.catalog),
        recent=recent,
        actors=actor_names(session, recent, column="user_id"),
        fields=departments.FIELDS,
    )


def _department_page(
    request: Request,
    session: Session,
    rt: Runtime,
    code: str,
    *,
    status_code: int = 200,
    given: dict[str, str] | None = None,
    error: InvalidInput | None = None,
):
    [row] = departments.department_rows(session, rt.catalog, code=code)
    history = departments.changes(session, code=code)
    values = given or {key: getattr(row.department, key) for key in departments.FIELDS}
    return render(
        request,
        "admin/department.html",
        status_code=status_code,
        row=row,
        values=values,
        errors=error.fields if error else {},
        error=error,
        history=history,
        actors=actor_names(session, history, column="user_id"),
        fields=departments.FIELDS,
    )


@router.get("/departments/{code}", response_class=HTMLResponse)
@twin("GET /api/v1/admin/config/departments/{code}")
def department_page(
    request: Request, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    return _department_page(request, session, rt, code)


@router.post("/departments/{code}", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/config/departments/{code}")
@answers(409)
def save_department(
    request: Request,
    code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    name: Annotated[str, Form(pattern=NO_NUL, examples=["上海市公安局"])] = "",
    name_en: FormText = "",
    address: FormText = "",
    phone: Annotated[str, Form(pattern=NO_NUL, examples=["021-12345678"])] = "",
    opening_hours: FormText = "",
    supervisor_email: FormText = "",
):
    given = {
        "name": name,
        "name_en": name_en,
        "address": address,
        "phone": phone,
        "opening_hours": opening_hours,
        "supervisor_email": supervisor_email,
    }
    try:
        changed = departments.update_department(
            session, rt.catalog, user=user, code=code, values=given
        )
    except InvalidInput as exc:
        return _department_page(request, session, rt, code, status_code=422, given=given, error=exc)
    return RedirectResponse(f"/admin/config/departments/{code}?saved={changed}", status_code=303)


# ---------------------------------------------------------------- holiday calendar


def _calendar_page(
    request: Request,
    session: Session,
    year: int,
    *,
    status_code: int = 200,
    form: dict[str, Any] | None = None,
    bulk: dict[str, Any] | None = None,
    error: InvalidInput | None = None,
):
    """The year view; `form` and `bulk` refill the two forms, `error` is shown at the field of
    the form that was sent (the one given)."""
    view = holidays.year_view(session, year=year)
    history = holidays.changes(session, year=year)
    errors = error.fields if error else {}
    return render(
        request,
        "admin/calendar.html",
        status_code=status_code,
        view=view,
        history=history,
        actors=actor_names(session, history, column="user_id"),
        form=form or {"day": "", "kind": "rest", "name": "", "note": ""},
        bulk=bulk or {"schedule": "", "note": "", "replace": False},
        error=error,
        day_errors=errors if form is not None else {},
        bulk_errors=errors if bulk is not None else {},
        line_errors=[
            (key.split(":", 1)[1], message)
            for key, message in errors.items()
            if key.startswith("schedule:")
        ],
        weekdays=WEEKDAYS,
        this_year=holidays.this_year(),
    )


@router.get("/calendar", response_class=HTMLResponse)
@twin("GET /api/v1/admin/config/calendar")
@answers(422)
def calendar_page(
    request: Request, user: AdminUser, session: SessionDep, year: str = "", day: str = ""
):
    """The chosen year (default: this one); `day` fills the form with that day's override."""
    chosen = holidays.parse_year(year) if year else holidays.this_year()
    form = None
    if day:
        picked = holidays.parse_day(day)
        chosen = picked.year
        found = holidays.override_of(session, day=picked)
        form = {
            "day": picked.isoformat(),
            "kind": "work" if found and found.is_working_day else "rest",
            "name": found.name if found else "",
            "note": found.note if found else "",
        }
    return _calendar_page(request, session, chosen, form=form)


def _page_year(text: str, fallback: int | None = None) -> int:
    """The year to show again after a failed form: the form's, else `fallback` or this year."""
    try:
        return holidays.parse_year(text)
    except InvalidInput:
        return fallback or holidays.this_year()


@router.post("/calendar/days", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/config/calendar/days")
@answers(409)
def save_day(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    year: Annotated[str, Form(examples=["2027"])] = "",
    day: Annotated[str, Form(examples=["2027-10-09"])] = "",
    kind: Annotated[str, Form(examples=["work"])] = "",
    name: FormText = "",
    note: FormText = "",
):
    """Add or change one day's override."""
    form = {"day": day, "kind": kind, "name": name, "note": note}
    try:
        picked = holidays.parse_day(day)
        holidays.set_day(
            session,
            user=user,
            day=picked,
            is_working_day=holidays.parse_kind(kind),
            name=name,
            note=note,
        )
    except InvalidInput as exc:
        shown = _page_year(day[:4], _page_year(year))
        return _calendar_page(request, session, shown, status_code=422, form=form, error=exc)
    return RedirectResponse(
        f"/admin/config/calendar?year={picked.year}&saved={picked.isoformat()}", status_code=303
    )


@router.post("/calendar/days/{day}/delete", dependencies=[CsrfChecked])
@twin("POST /api/v1/admin/config/calendar/days/{day}/delete")
@answers(409)
def delete_day(day: str, user: AdminUser, session: SessionDep):
    """Delete one day's override: the published schedule applies to it again."""
    picked = holidays.parse_day(day)
    holidays.remove_day(session, user=user, day=picked)
    return RedirectResponse(
        f"/admin/config/calendar?year={picked.year}&removed={picked.isoformat()}", status_code=303
    )


@router.post("/calendar/import", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/config/calendar/import")
@body_limit(IMPORT_LIMIT)
@answers(409)
def import_schedule(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    year: Annotated[str, Form(examples=["2027"])] = "",
    schedule: FormText = "",
    note: FormText = "",
    replace: Annotated[str, Form()] = "",
):
    """Enter a year's schedule pasted line by line, all or nothing."""
    bulk = {"schedule": schedule, "note": note, "replace": bool(replace)}
    try:
        chosen = holidays.parse_year(year)
        result = holidays.import_schedule(
            session, user=user, year=chosen, text=schedule, note=note, replace=bool(replace)
        )
    except InvalidInput as exc:
        return _calendar_page(
            request, session, _page_year(year), status_code=422, bulk=bulk, error=exc
        )
    return RedirectResponse(
        f"/admin/config/calendar?year={chosen}&changed={result.changed}"
        f"&unchanged={result.unchanged}&removed_count={result.removed}",
        status_code=303,
    )
