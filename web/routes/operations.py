"""Operating running cases (issue 21), pages for operators: the open incidents in groups of alike
ones (/operations), a group's cases with its retry and resolve forms, and the record of each
retry or resolve with where its cases stand now. Plain forms, no script (JSON twins:
web/api/operations.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services import operations, operators
from services.errors import InvalidInput
from web.api.operations import (
    CodeFilter,
    GroupId,
    batch_list_public,
    batch_public,
    group_detail,
    group_list_public,
)
from web.api.routing import PREFIX, RowId, twin
from web.deps import CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: operations"])
API = f"{PREFIX}/operations/incidents"
GROUP = "/operations/incidents/groups/{group_id}"


@router.get("/operations", response_class=HTMLResponse)
@twin(f"GET {API}", f"GET {API}/batches")
@answers(422)
def incident_groups(
    request: Request,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    kind: Annotated[Literal["", "process", "department_system"], Query()] = "",
    matter: CodeFilter = "",
    department: CodeFilter = "",
):
    """The open incidents in groups, filtered; the newest retries and resolves below."""
    groups = operations.list_groups(session, rt, kind=kind, matter=matter, department=department)
    return render(
        request,
        "operations/incidents.html",
        listing=group_list_public(rt, groups, kind=kind, matter=matter, department=department),
        batches=batch_list_public(rt, operations.recent_batches(session)).batches,
    )


def _group_page(request, session, rt, group_id: str, *, error=None, reason: str = ""):
    return render(
        request,
        "operations/group.html",
        status_code=error.status if error else 200,
        group=group_detail(session, rt, group_id),
        error=error,
        reason=reason,
        reason_max=operators.REASON_MAX,
    )


@router.get(GROUP, response_class=HTMLResponse)
@twin(f"GET {API}/groups/{{group_id}}")
@answers(404)
def incident_group(
    request: Request, group_id: GroupId, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """A group's cases, and the forms to retry it or resolve it with a reason."""
    return _group_page(request, session, rt, group_id)


@router.post(f"{GROUP}/retry", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/groups/{{group_id}}/retry")
@answers(404, 422)
def retry_group(
    request: Request, group_id: GroupId, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    try:
        report = operations.retry_group(session, rt, user=user, key=group_id)
    except InvalidInput as exc:  # a person's rolled-back step: nothing was done
        session.rollback()
        return _group_page(request, session, rt, group_id, error=exc)
    return RedirectResponse(f"/operations/incidents/batches/{report.batch.id}", status_code=303)


@router.post(f"{GROUP}/resolve", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/groups/{{group_id}}/resolve")
@answers(404, 422)
def resolve_group(
    request: Request,
    group_id: GroupId,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    reason: Annotated[str, Form(max_length=1000, examples=["部门系统已恢复，重新交办"])] = "",
):
    try:
        report = operations.resolve_group(session, rt, user=user, key=group_id, reason=reason)
    except InvalidInput as exc:
        session.rollback()
        return _group_page(request, session, rt, group_id, error=exc, reason=reason)
    return RedirectResponse(f"/operations/incidents/batches/{report.batch.id}", status_code=303)


@router.get("/operations/incidents/batches/{batch_id}", response_class=HTMLResponse)
@twin(f"GET {API}/batches/{{batch_id}}")
@answers(404)
def incident_batch(
    request: Request, batch_id: RowId, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """A retry or resolve: each case's outcome now (reload to follow the handed-back items)."""
    report = operations.batch_report(session, batch_id=batch_id)
    return render(request, "operations/batch.html", batch=batch_public(rt, report))
