"""Pages for department clerks: the queue of their own department, the case view, decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from services.cases import external, results
from services.cases import service as cases
from services.cases.results import DELIVERY_STATUS
from services.errors import InvalidInput, NotFound
from web.deps import ClerkUser, CsrfChecked, RuntimeDep, SessionDep
from web.rendering import render

router = APIRouter(prefix="/clerk", tags=["pages: clerk"])


@router.get("")
def queue(
    request: Request,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    status: str = "processing",
    page: int = 1,
):
    page = max(page, 1)
    status = status if status in cases.ITEM_STATUS else "processing"
    rows = cases.department_queue(
        session, rt, user=user, status=status, limit=50, offset=(page - 1) * 50
    )
    return render(
        request,
        "clerk/queue.html",
        rows=rows,
        status=status,
        page=page,
        counts=cases.queue_counts(session, user=user),
        department=rt.catalog.departments[user.department],
    )


def _item_page(request, session, rt, user, item_id: int, error=None, comment: str = ""):
    row, case = cases.review_case_item(session, item_id=item_id, user=user)
    return render(
        request,
        "clerk/item.html",
        status_code=422 if error else 200,
        row=row,
        item=rt.catalog.items[row.item_code],
        case=case,
        items=cases.item_views(session, rt, case),
        events=cases.events_of(session, case=case),
        uploads=cases.uploads_of(session, case=case),
        error=error,
        comment=comment,
    )


@router.get("/items/{item_id}")
def item_page(request: Request, item_id: int, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    return _item_page(request, session, rt, user, item_id)


@router.post("/items/{item_id}/decision", dependencies=[CsrfChecked])
def decide(
    request: Request,
    item_id: int,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    decision: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
):
    try:
        cases.decide(session, rt, user=user, item_id=item_id, decision=decision, comment=comment)
    except InvalidInput as exc:
        return _item_page(request, session, rt, user, item_id, error=exc, comment=comment)
    return RedirectResponse("/clerk?decided=1", status_code=303)


@router.post("/items/{item_id}/resolve", dependencies=[CsrfChecked])
def resolve(item_id: int, user: ClerkUser, session: SessionDep):
    """The incident is fixed: the department's system may fetch the item again."""
    external.resolve_incident(session, user=user, item_id=item_id)
    return RedirectResponse(f"/clerk/items/{item_id}", status_code=303)


@router.get("/deliveries")
def deliveries(request: Request, user: ClerkUser, session: SessionDep, status: str = "preparing"):
    """The service centre's window: results to post and their tracking."""
    if user.department != "center":
        raise NotFound("只有政务服务中心负责统一寄递", "Only the service centre posts results")
    status = status if status in DELIVERY_STATUS else "preparing"
    return render(
        request,
        "clerk/deliveries.html",
        rows=results.deliveries(session, status=status),
        status=status,
    )


@router.post("/deliveries/{delivery_id}", dependencies=[CsrfChecked])
def update_delivery(
    delivery_id: int,
    user: ClerkUser,
    session: SessionDep,
    status: Annotated[str, Form()] = "",
    tracking_number: Annotated[str, Form()] = "",
):
    results.update_delivery(
        session, delivery_id=delivery_id, status=status, tracking_number=tracking_number, actor=user
    )
    return RedirectResponse("/clerk/deliveries", status_code=303)
