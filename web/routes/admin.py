"""Pages for administrators: the matters and their burden figures, case counts, the dashboard."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from sqlmodel import func, select

from forms.burden import averages, burden_report
from services.accounts.service import actor_names
from services.cases import incidents
from services.cases.models import Case
from services.dashboard import department_figures, figures_csv, matter_figures
from services.registries.service import all_accesses
from web.charts import bar_chart, stacked_bar_chart
from web.deps import AdminUser, Page, RuntimeDep, SearchText, SessionDep
from web.rendering import render

router = APIRouter(prefix="/admin", tags=["pages: admin"])


@router.get("")
def matters(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    rows = burden_report(rt.catalog)
    counts: dict[str, dict[str, int]] = {}
    for matter, status, count in session.exec(
        select(Case.matter, Case.status, func.count()).group_by(Case.matter, Case.status)
    ).all():
        counts.setdefault(matter, {})[status] = count
    return render(request, "admin/matters.html", rows=rows, averages=averages(rows), counts=counts)


@router.get("/data-access")
def data_access(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    page: Page = 1,
    registry: SearchText = "",
):
    """Every registry lookup and case view, newest first (the administrators' data tracker)."""
    page = max(page, 1)
    rows = all_accesses(session, limit=100, offset=(page - 1) * 100, registry=registry or None)
    return render(
        request,
        "admin/data_access.html",
        accesses=rows,
        actors=actor_names(session, rows),
        page=page,
        registry=registry,
    )


@router.get("/dashboard")
def dashboard(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Per matter and per department: cases, time against limits, rates, evaluations, burden."""
    return render(
        request,
        "admin/dashboard.html",
        matters=matter_figures(session, rt),
        departments=department_figures(session, rt),
        bar_chart=bar_chart,
        stacked_bar_chart=stacked_bar_chart,
    )


@router.get("/dashboard.csv")
def dashboard_csv(
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    table: Literal["matters", "departments"] = "matters",
):
    rows = matter_figures(session, rt) if table == "matters" else department_figures(session, rt)
    return Response(
        figures_csv(rows, table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dashboard-{table}.csv"'},
    )


@router.get("/incidents")
def incident_list(request: Request, user: AdminUser, session: SessionDep, page: Page = 1):
    """Steps of cases that failed in their process (a condition, script, timer or decision
    table): what to fix in the process, newest first."""
    page = max(page, 1)
    rows = incidents.open_incidents(session, limit=100, offset=(page - 1) * 100)
    return render(request, "admin/incidents.html", incidents=rows, page=page)
