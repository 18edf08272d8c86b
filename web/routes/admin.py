"""Pages for administrators: the matters and their burden figures, case counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlmodel import func, select

from forms.burden import averages, burden_report
from services.accounts.service import actor_names
from services.cases.models import Case
from services.registries.service import all_accesses
from web.deps import AdminUser, RuntimeDep, SessionDep
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
    request: Request, user: AdminUser, session: SessionDep, page: int = 1, registry: str = ""
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
