"""Pages for administrators: the matters and their burden figures, case counts, the dashboard,
the data-access log and the process incidents (their JSON twins: web/api/admin.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from services.dashboard import burden_figures, department_figures, matter_figures
from web.api.admin import (
    CSV_RESPONSES,
    CsvTable,
    access_log,
    figures_csv_response,
    incident_page,
)
from web.api.routing import twin
from web.charts import bar_chart, stacked_bar_chart
from web.deps import AdminUser, Page, RuntimeDep, SearchText, SessionDep
from web.rendering import render

router = APIRouter(prefix="/admin", tags=["pages: admin"])


@router.get("", response_class=HTMLResponse)
@twin("GET /api/v1/admin/matters/figures")
def matters(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    figures = burden_figures(session, rt)
    return render(
        request,
        "admin/matters.html",
        rows=figures.rows,
        averages=figures.averages,
        counts=figures.counts,
    )


@router.get("/data-access", response_class=HTMLResponse)
@twin("GET /api/v1/admin/data-access")
def data_access(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    page: Page = 1,
    registry: SearchText = "",
):
    """Every registry lookup and case view, newest first (the administrators' data tracker)."""
    rows, actors = access_log(session, page=page, registry=registry)
    return render(
        request,
        "admin/data_access.html",
        accesses=rows,
        actors=actors,
        page=page,
        registry=registry,
    )


@router.get("/dashboard", response_class=HTMLResponse)
@twin("GET /api/v1/admin/dashboard")
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


@router.get("/dashboard.csv", response_class=Response, responses=CSV_RESPONSES)
@twin("GET /api/v1/admin/dashboard.csv")
def dashboard_csv(
    user: AdminUser, session: SessionDep, rt: RuntimeDep, table: CsvTable = "matters"
):
    return figures_csv_response(session, rt, table)


@router.get("/incidents", response_class=HTMLResponse)
@twin("GET /api/v1/admin/incidents")
def incident_list(request: Request, user: AdminUser, session: SessionDep, page: Page = 1):
    """Steps of cases that failed in their process (a condition, script, timer or decision
    table): what to fix in the process, newest first."""
    rows = incident_page(session, page=page)
    return render(request, "admin/incidents.html", incidents=rows, page=page)
