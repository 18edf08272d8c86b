"""Pages for department clerks: the queue of their own department, the case view, decisions."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from forms.catalog import REJECT_REASONS_EN
from services.cases import corrections, decisions, external, frontdesk, results, workbench
from services.cases.results import DELIVERY_STATUS
from services.errors import InvalidInput
from web.api.routing import twin
from web.api.tasks import QueueQuery
from web.deps import ClerkUser, CsrfChecked, Id, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(prefix="/clerk", tags=["pages: clerk"], default_response_class=HTMLResponse)


@router.get("")
@twin("GET /api/v1/queue")
def queue(
    request: Request, user: ClerkUser, session: SessionDep, rt: RuntimeDep, query: QueueQuery
):
    """The workbench: the department's tasks, filtered, sorted and paged by the address (plain
    links and a GET form, so it works without JavaScript and any view can be bookmarked)."""
    error = None
    try:
        wanted = workbench.normalize_filter(query)
    except InvalidInput as exc:
        error, wanted = exc, query
    if error is None and wanted.search != query.search:
        # A full citizen ID typed into the search box is kept out of the address: only its mask.
        return RedirectResponse(f"/clerk?{urlencode(wanted.params())}", status_code=303)
    if error is None:
        found = workbench.search_queue(session, rt, user=user, filter=wanted)
    else:
        found = workbench.QueuePage(rows=[], total=0, filter=wanted)
    matters, items = workbench.queue_choices(rt, department=user.department)
    clerks = (
        workbench.department_clerks(session, department=user.department) if user.supervisor else []
    )
    return render(
        request,
        "clerk/queue.html",
        status_code=error.status if error else 200,
        error=error,
        found=found,
        counts=workbench.status_counts(session, user=user),
        statuses=workbench.STATUSES,
        department=rt.catalog.departments[user.department],
        matters=matters,
        items=items,
        clerks=clerks,
    )


def _item_page(
    request,
    session,
    rt,
    user,
    item_id: int,
    error=None,
    comment: str = "",
    reveal: str | None = None,
    reason: str = "",
    reveal_error=None,
    result_values: dict[str, str] | None = None,
):
    task = workbench.open_task(
        session, rt, user=user, item_id=item_id, reveal=reveal, reason=reason
    )
    view = task.view
    return render(
        request,
        "clerk/item.html",
        status_code=422 if error or reveal_error else 200,
        view=view,
        row=view.row,
        item=view.item,
        case=view.case,
        items=task.items,
        case_path=task.path,
        events=task.events,
        checklist=[corrections.readable_entry(rt, entry) for entry in view.checklist],
        corrected=task.correction,
        REJECT_REASONS_EN=REJECT_REASONS_EN,
        error=error,
        comment=comment,
        reveal_error=reveal_error,
        result_values=result_values or {},
    )


@router.get("/items/{item_id}")
@twin("GET /api/v1/tasks/{task_id}")
def item_page(request: Request, item_id: Id, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """The case as this department's item needs it: its facts (personal numbers masked), its
    materials, the other items' progress. The view is logged for the applicant."""
    return _item_page(request, session, rt, user, item_id)


@router.post("/items/{item_id}/reveal", dependencies=[CsrfChecked])
@twin("POST /api/v1/tasks/{task_id}/reveal")
@answers(200)
def reveal(
    request: Request,
    item_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    fact: Annotated[str, Form(max_length=100, examples=["mother_id_number"])] = "",
    reason: Annotated[str, Form(max_length=500, examples=["核对出生医学证明上的母亲身份"])] = "",
):
    """Show one masked number of the application in full, for a stated reason (logged)."""
    try:
        return _item_page(request, session, rt, user, item_id, reveal=fact, reason=reason)
    except InvalidInput as exc:
        return _item_page(request, session, rt, user, item_id, reveal_error=exc)


async def posted_results(request: Request) -> dict[str, str] | None:
    """The result data of the decision form (its `result_<key>` fields, read from the body the
    form parameters parse: I/O only); None when the page offered none (`results_form`)."""
    form = await request.form()
    if form.get("results_form") != "1":
        return None
    return {
        key.removeprefix("result_"): value
        for key, value in form.multi_items()
        if key.startswith("result_") and isinstance(value, str)
    }


@router.post("/items/{item_id}/decision", dependencies=[CsrfChecked])
@twin("POST /api/v1/tasks/{task_id}/complete")
@answers(409, 503)
def decide(
    request: Request,
    item_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    decision: Annotated[str, Form(examples=["correction"])] = "",
    comment: Annotated[str, Form(examples=["请上传清晰的结婚证"])] = "",
    reopen: Annotated[list[str], Form(examples=[["material_marriage_certificate"]])] = [],  # noqa: B006 - FastAPI reads the default
    reason: Annotated[str, Form()] = "",
    result_data: Annotated[dict[str, str] | None, Depends(posted_results)] = None,
):
    """Approve (recording the item's result data: `result_<key>` fields, e.g. the child's
    assigned citizen ID), reject with a reason from the item's list, or send back for
    correction naming the facts and materials to correct."""
    try:
        decisions.decide(
            session,
            rt,
            user=user,
            item_id=item_id,
            decision=decision,
            comment=comment,
            reopen=reopen,
            reason=reason,
            result_data=result_data,
        )
    except InvalidInput as exc:
        return _item_page(
            request,
            session,
            rt,
            user,
            item_id,
            error=exc,
            comment=comment,
            result_values=result_data,
        )
    return RedirectResponse("/clerk?decided=1", status_code=303)


@router.post("/items/{item_id}/resolve", dependencies=[CsrfChecked])
@twin("POST /api/v1/external-tasks/{task_id}/resolve")
@answers(409)
def resolve(item_id: Id, user: ClerkUser, session: SessionDep):
    """The incident is fixed: the department's system may fetch the item again."""
    external.resolve_incident(session, user=user, item_id=item_id)
    return RedirectResponse(f"/clerk/items/{item_id}", status_code=303)


@router.get("/deliveries")
@twin("GET /api/v1/deliveries")
@answers(404)
def deliveries(request: Request, user: ClerkUser, session: SessionDep, status: str = "preparing"):
    """The service centre's window: results to post and their tracking."""
    status = status if status in DELIVERY_STATUS else "preparing"
    return render(
        request,
        "clerk/deliveries.html",
        rows=frontdesk.deliveries_to_post(session, clerk=user, status=status),
        status=status,
    )


@router.post("/deliveries/{delivery_id}", dependencies=[CsrfChecked])
@twin("POST /api/v1/deliveries/{delivery_id}")
@answers(409)
def update_delivery(
    delivery_id: Id,
    user: ClerkUser,
    session: SessionDep,
    status: Annotated[str, Form(examples=["shipped"])] = "",
    tracking_number: Annotated[str, Form(examples=["SF1234567890123"])] = "",
):
    results.update_delivery(
        session, delivery_id=delivery_id, status=status, tracking_number=tracking_number, actor=user
    )
    return RedirectResponse("/clerk/deliveries", status_code=303)


def _back(to: str, notice: str) -> str:
    """Where a workbench action returns: a clerk page of this site (never elsewhere), with a
    notice of what was done."""
    parts = urlsplit(to)
    if parts.scheme or parts.netloc or not parts.path.startswith("/clerk"):
        parts = urlsplit("/clerk")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("notice", "decided")]
    return f"{parts.path}?{urlencode([*query, ('notice', notice)])}"


@router.post("/items/{item_id}/claim", dependencies=[CsrfChecked])
@twin("POST /api/v1/tasks/{task_id}/claim")
@answers(409)
def claim(
    item_id: Id,
    user: ClerkUser,
    session: SessionDep,
    back: Annotated[str, Form(examples=["/clerk"])] = "",
):
    """Claim a task, so no other clerk works it; 409 names who was first."""
    workbench.claim(session, user=user, item_id=item_id)
    return RedirectResponse(_back(back, "claimed"), status_code=303)


@router.post("/items/{item_id}/release", dependencies=[CsrfChecked])
@twin("POST /api/v1/tasks/{task_id}/release")
@answers(409)
def release(
    item_id: Id,
    user: ClerkUser,
    session: SessionDep,
    back: Annotated[str, Form(examples=["/clerk"])] = "",
):
    """Give a claimed task back to the department's queue (its holder or a supervisor)."""
    workbench.release(session, user=user, item_id=item_id)
    return RedirectResponse(_back(back, "released"), status_code=303)


@router.post("/items/{item_id}/reassign", dependencies=[CsrfChecked])
@twin("POST /api/v1/tasks/{task_id}/reassign")
@answers(409)
def reassign(
    item_id: Id,
    user: ClerkUser,
    session: SessionDep,
    to_user_id: Annotated[str, Form(max_length=9, examples=["7"])] = "",
    back: Annotated[str, Form(examples=["/clerk"])] = "",
):
    """A supervisor gives a task to a clerk of the department."""
    if not to_user_id.strip().isdigit():
        raise InvalidInput("to_user_id", "请选择改派给哪位窗口人员", "Choose the clerk to assign")
    workbench.reassign(session, user=user, item_id=item_id, to_user_id=int(to_user_id))
    return RedirectResponse(_back(back, "reassigned"), status_code=303)
