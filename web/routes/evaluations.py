"""好差评 pages: the applicant rates a completed case; supervisors follow up bad reviews."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from engine.clock import utcnow
from services.calendar import local_date
from services.cases.access import load_case
from services.errors import InvalidInput
from services.evaluations import service as evaluations
from services.notifications.senders import default_sender
from web.api.routing import twin
from web.deps import CitizenUser, ClerkUser, CsrfChecked, Id, Page, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: evaluation"], default_response_class=HTMLResponse)
PAGE = 50


def _level(raw: str) -> int:
    """The chosen level; anything else is 0, which the service refuses with a message."""
    return int(raw) if raw.strip().isdigit() else 0


@router.get("/cases/{case_id}/evaluation")
@twin("GET /api/v1/cases/{case_id}/evaluation")
def evaluation_page(request: Request, case_id: Id, user: CitizenUser, session: SessionDep):
    """The evaluation form on its own page (the case page includes the same form)."""
    case = load_case(session, case_id=case_id, user=user)
    return render(
        request,
        "citizen/evaluation.html",
        case=case,
        evaluation=evaluations.evaluation_of(session, case=case),
        reasons=evaluations.REASONS,
    )


@router.post("/cases/{case_id}/evaluation", dependencies=[CsrfChecked])
@twin("POST /api/v1/cases/{case_id}/evaluation")
@answers(409)
def evaluate(
    request: Request,
    case_id: Id,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
    level: Annotated[str, Form(examples=["5"])] = "",
    reasons: Annotated[list[str] | None, Form(examples=[["done_once", "quick"]])] = None,
    comment: Annotated[str, Form()] = "",
):
    """The applicant rates their completed case, once."""
    case = load_case(session, case_id=case_id, user=user)
    try:
        evaluations.evaluate(
            session,
            user=user,
            case=case,
            level=_level(level),
            reasons=reasons or [],
            comment=comment,
            catalog=rt.catalog,
        )
    except InvalidInput as exc:
        return render(
            request,
            "citizen/evaluation.html",
            status_code=422,
            case=case,
            evaluation=None,
            reasons=evaluations.REASONS,
            evaluation_errors=exc.fields,
            evaluation_input={"level": level, "reasons": reasons or [], "comment": comment},
        )
    return RedirectResponse(f"/cases/{case_id}?evaluated=1#evaluation", status_code=303)


def _follow_ups_page(
    request: Request,
    session,
    user,
    status: str,
    page: int,
    status_code: int = 200,
    failed: int | None = None,
    errors=None,
    given=None,
):
    page = max(page, 1)
    status = status if status in evaluations.FOLLOW_UP_STATUS else "open"
    rows = evaluations.follow_ups(
        session, user=user, status=status, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "clerk/follow_ups.html",
        status_code=status_code,
        rows=rows,
        status=status,
        page=page,
        page_size=PAGE,
        today=local_date(utcnow()),
        failed=failed,
        errors=errors or {},
        given=given or {},
    )


@router.get("/clerk/follow-ups")
@twin("GET /api/v1/follow-ups")
def follow_ups(
    request: Request, user: ClerkUser, session: SessionDep, status: str = "open", page: Page = 1
):
    """A supervisor's list of bad reviews their department must follow up."""
    return _follow_ups_page(request, session, user, status, page)


@router.post("/clerk/follow-ups/{follow_up_id}/resolve", dependencies=[CsrfChecked])
@twin("POST /api/v1/follow-ups/{follow_up_id}/resolve")
@answers(409)
def resolve(
    request: Request,
    follow_up_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    resolution: Annotated[str, Form(examples=["已电话回访申请人，说明补正原因并致歉"])] = "",
    callback_done: Annotated[str, Form(examples=["1"])] = "",
):
    """A supervisor records how a bad review was put right, after calling the applicant back."""
    try:
        evaluations.resolve_follow_up(
            session,
            user=user,
            follow_up_id=follow_up_id,
            resolution=resolution,
            callback_done=callback_done == "1",
            catalog=rt.catalog,
            sender=default_sender(),
        )
    except InvalidInput as exc:
        return _follow_ups_page(
            request,
            session,
            user,
            "open",
            1,
            status_code=422,
            failed=follow_up_id,
            errors=exc.fields,
            given={"resolution": resolution, "callback_done": callback_done == "1"},
        )
    return RedirectResponse("/clerk/follow-ups?resolved=1", status_code=303)
