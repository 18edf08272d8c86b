"""Where time goes on a matter's diagram (issue 21): per element, how many cases passed, how many
wait there, how long they waited in working days and the bad reviews of the department's step;
and one element's cases, figures only. The editor's overlay reads these; the pages without
script are web/routes/overlay.py."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Field

from services import element_times
from services.cases.routing import department_name
from services.element_times import ElementCases, ElementTimes, Overlay
from services.runtime import Runtime
from web.api.routing import api_router
from web.deps import AdminUser, Code, Number, Page, RuntimeDep, SessionDep

router = api_router(prefix="/admin/processes", tags=["api: processes"])

# A BPMN element's id (an XML name, as the editor and the engine write them): nothing else is
# looked up, and an id the process lacks is refused without being repeated.
ElementId = Annotated[
    str,
    Path(
        max_length=200,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="The BPMN id of an element of the matter's process",
    ),
]
Since = Annotated[
    date | None,
    Query(description="First day of the window, China date (default: 89 days before `until`)"),
]
Until = Annotated[date | None, Query(description="Last day of the window (default: today)")]
Version = Annotated[
    Number | None, Query(description="Only cases on this process version (default: all)")
]
PER_PAGE = 50


class ElementTimesPublic(BaseModel):
    element_id: str = Field(description="The element's BPMN id")
    name: str = Field(description="The element's label in the diagram")
    kind: Literal["start", "user", "correction", "check", "timer"] = Field(
        description="start event, a department's task, the applicant's correction, an "
        "automatic check, or a deadline timer"
    )
    department: str | None = Field(description="The code of the lane's department")
    department_name: str | None = Field(description="The department's name")
    item: str | None = Field(description="The catalog item the element handles")
    cases: int = Field(description="Cases that passed the element, or are there, in the window")
    visits: int = Field(description="Arrivals at the element (a step done again counts again)")
    waiting: int = Field(
        description="Cases there now (for a timer: the cases it is armed for); a start event: 0"
    )
    median_days: float | None = Field(
        description="Median wait in working days, from arrival to departure or to now for a "
        "case still there (null: no visits, or an element that holds no case)"
    )
    p90_days: float | None = Field(description="90th percentile of the waits (nearest rank)")
    bad_reviews: int = Field(
        description="Bad reviews (差评, level 2 or 1) of these cases followed up by the "
        "element's department"
    )
    limit_days: int | None = Field(description="The item's time limit in working days")
    pace: Literal["within", "near", "over"] | None = Field(
        description="The 90th percentile against the time limit: within, near (from 75%), over"
    )


class OverlayPublic(BaseModel):
    matter: str
    version: int | None = Field(description="The process version asked for; null: all")
    since: date = Field(description="First day of the window (China date)")
    until: date = Field(description="Last day of the window (included)")
    now: datetime = Field(description="The moment the waits of waiting cases run to")
    elements: list[ElementTimesPublic] = Field(description="In the order of the process file")


class ElementCasePublic(BaseModel):
    number: str = Field(description="The case number (no applicant's data)")
    status: str = Field(description="The case's status: processing, correction, completed")
    entered: datetime = Field(description="When the case arrived at the element")
    left: datetime | None = Field(description="When it left; null: still there")
    waited_days: int = Field(description="Working days waited there (to now if still there)")


class ElementCasesPublic(BaseModel):
    element_id: str
    name: str
    kind: str
    since: date
    until: date
    total: int = Field(description="Visits in the window")
    page: int
    per_page: int
    cases: list[ElementCasePublic] = Field(description="The latest arrival first")


def element_public(rt: Runtime, figures: ElementTimes) -> ElementTimesPublic:
    element = figures.element
    return ElementTimesPublic(
        element_id=element.element_id,
        name=element.name,
        kind=element.kind,  # type: ignore[arg-type]
        department=element.department,
        department_name=department_name(rt, element.department) if element.department else None,
        item=element.item,
        cases=figures.cases,
        visits=figures.visits,
        waiting=figures.waiting,
        median_days=figures.median_days,
        p90_days=figures.p90_days,
        bad_reviews=figures.bad_reviews,
        limit_days=figures.limit_days,
        pace=figures.pace,  # type: ignore[arg-type]
    )


def overlay_public(rt: Runtime, overlay: Overlay) -> OverlayPublic:
    return OverlayPublic(
        matter=overlay.matter,
        version=overlay.version,
        since=overlay.window.since,
        until=overlay.window.until,
        now=overlay.now,
        elements=[element_public(rt, figures) for figures in overlay.elements],
    )


def cases_public(listed: ElementCases, page: int) -> ElementCasesPublic:
    return ElementCasesPublic(
        element_id=listed.element.element_id,
        name=listed.element.name,
        kind=listed.element.kind,
        since=listed.window.since,
        until=listed.window.until,
        total=listed.total,
        page=page,
        per_page=PER_PAGE,
        cases=[
            ElementCasePublic(
                number=case.number,
                status=case.status,
                entered=case.entered,
                left=case.left,
                waited_days=case.waited_days,
            )
            for case in listed.cases
        ],
    )


def element_cases_page(session, rt, matter_code, element_id, version, since, until, page):
    """One page of an element's cases (the API and the page answer through it)."""
    return element_times.element_cases(
        session,
        rt,
        matter_code=matter_code,
        element_id=element_id,
        version=version,
        since=since,
        until=until,
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )


@router.get("/{matter_code}/overlay", response_model=OverlayPublic)
def overlay(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Version = None,
    since: Since = None,
    until: Until = None,
):
    """Per element of the matter's process: cases passed and waiting, the median and 90th
    percentile wait in working days, and the bad reviews of the department's step."""
    found = element_times.element_times(
        session, rt, matter_code=matter_code, version=version, since=since, until=until
    )
    return overlay_public(rt, found)


@router.get("/{matter_code}/overlay/{element_id}/cases", response_model=ElementCasesPublic)
def overlay_cases(
    matter_code: Code,
    element_id: ElementId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Version = None,
    since: Since = None,
    until: Until = None,
    page: Page = 1,
):
    """The cases that passed one element in the window, the latest arrival first, 50 a page:
    case number, status, arrival, departure and working days waited; nothing personal."""
    listed = element_cases_page(session, rt, matter_code, element_id, version, since, until, page)
    return cases_public(listed, page)
