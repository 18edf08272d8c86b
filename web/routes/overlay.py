"""Where time goes, without script (issue 21): a table of the elements of a matter's process with
their cases, waits and bad reviews, each linking to the list of its cases. The editor's overlay
shows the same figures on the diagram (web/static/editor/overlay.js, the API in
web/api/admin_overlay.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services import element_times, processes
from web.api.admin_overlay import (
    PER_PAGE,
    ElementId,
    Since,
    Until,
    Version,
    element_cases_page,
    element_public,
)
from web.api.routing import PREFIX, twin
from web.deps import AdminUser, Code, Page, RuntimeDep, SessionDep
from web.rendering import render

router = APIRouter(tags=["pages: admin"])
API = f"{PREFIX}/admin/processes"
KIND_LABELS = {
    "start": ("开始", "Start"),
    "user": ("部门办理", "Department's task"),
    "correction": ("申请人补正", "Applicant's correction"),
    "check": ("自动核验", "Automatic check"),
    "timer": ("时限提醒", "Deadline timer"),
}


def _window_query(version, since, until) -> str:
    """The window's query string, carried from the table to an element's cases."""
    parts = [f"since={since}", f"until={until}"]
    if version is not None:
        parts.append(f"version={version}")
    return "&".join(parts)


@router.get("/admin/processes/{matter_code}/times", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/overlay")
def element_times_page(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Version = None,
    since: Since = None,
    until: Until = None,
):
    found = element_times.element_times(
        session, rt, matter_code=matter_code, version=version, since=since, until=until
    )
    return render(
        request,
        "admin/element_times.html",
        matter=processes.matter_of(rt, matter_code),
        overlay=found,
        rows=[element_public(rt, figures) for figures in found.elements],
        kinds=KIND_LABELS,
        window=_window_query(version, found.window.since, found.window.until),
    )


@router.get("/admin/processes/{matter_code}/times/{element_id}", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/overlay/{{element_id}}/cases")
def element_cases_html(
    request: Request,
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
    listed = element_cases_page(session, rt, matter_code, element_id, version, since, until, page)
    return render(
        request,
        "admin/element_cases.html",
        matter=processes.matter_of(rt, matter_code),
        listed=listed,
        kinds=KIND_LABELS,
        page=page,
        pages=max(1, -(-listed.total // PER_PAGE)),
        window=_window_query(version, listed.window.since, listed.window.until),
    )
