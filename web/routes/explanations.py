"""Pages: why an item applies or not, and why it was decided so (issue 22; the JSON twins in
web/api/explanations.py, the same service underneath): the applicant's for any item of their
case, named by its catalog code (an item that does not apply has no task), and a clerk's for a
task of their own department (logged)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.cases import explanations
from web.api.routing import twin
from web.deps import CitizenUser, ClerkUser, Code, Id, RuntimeDep, SessionDep
from web.rendering import render

router = APIRouter(tags=["pages: explanations"], default_response_class=HTMLResponse)


@router.get("/cases/{case_id}/items/{item_code}/why")
@twin("GET /api/v1/cases/{case_id}/items/{item_code}/explanation")
def case_item_why(
    request: Request,
    case_id: Id,
    item_code: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The applicant's explanation of an item of their own case (others: 404)."""
    found = explanations.explain_for_applicant(
        session, rt, user=user, case_id=case_id, item_code=item_code
    )
    return render(request, "explanations/item.html", why=found, back=f"/cases/{case_id}")


@router.get("/clerk/items/{item_id}/why")
@twin("GET /api/v1/tasks/{task_id}/explanation")
def task_why(request: Request, item_id: Id, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """A clerk's explanation of a task of their own department (masked; the view logged)."""
    found = explanations.explain_for_clerk(session, rt, user=user, item_id=item_id)
    return render(request, "explanations/item.html", why=found, back=f"/clerk/items/{item_id}")
