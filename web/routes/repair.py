"""Repairing a case (issue 21): an operator finds a case by its number and, for a reason,
withdraws an item, re-opens a decided one, moves a waiting step or corrects a fact. Plain forms,
no script (JSON twins: web/api/repair.py)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services import operators
from services.cases import repair
from services.errors import Conflict, InvalidInput
from web.api.repair import CaseNumber, ItemAction, repair_item
from web.api.routing import PREFIX, RowId, twin
from web.deps import NO_NUL, CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: operations"])
API = f"{PREFIX}/operations/cases"
_NUMBER = re.compile(r"[A-Za-z0-9]{1,32}")
DONE = {
    "cancel": ("事项已撤回，已告知申请人", "The item was withdrawn; the applicant was told"),
    "reopen": (
        "事项已退回部门重新办理，已告知申请人",
        "The item is back in its department's queue; the applicant was told",
    ),
    "move": ("办理步骤已调整，已告知申请人", "The step was moved; the applicant was told"),
    "correct": ("信息已更正，已告知申请人", "The fact was corrected; the applicant was told"),
}


@router.get("/operations/cases", response_class=HTMLResponse)
@twin(f"GET {API}/{{case_number}}")
def find_case_page(
    request: Request,
    user: OperatorUser,
    number: Annotated[str, Query(max_length=64)] = "",
):
    """Find a case by its number (the form); a number given goes on to the case's page."""
    number = number.strip()
    if number and _NUMBER.fullmatch(number):
        return RedirectResponse(f"/operations/cases/{number.upper()}", status_code=303)
    error = None
    if number:
        error = InvalidInput(
            "number", "办件编号只含字母和数字", "A case number has letters and digits only"
        )
    return render(
        request, "operations/repair_find.html", status_code=422 if error else 200, error=error
    )


def _case_page(request, session, rt, user, number: str, *, error=None, done: str = ""):
    view = repair.repair_view(session, rt, user=user, number=number)
    status = 200
    if isinstance(error, Conflict):
        status = 409
    elif error is not None:
        status = 422
    return render(
        request,
        "operations/repair_case.html",
        status_code=status,
        view=view,
        error=error,
        done=DONE.get(done),
        operations=repair.OPERATIONS,
        reason_min=operators.REASON_MIN,
        reason_max=operators.REASON_MAX,
    )


@router.get("/operations/cases/{case_number}", response_class=HTMLResponse)
@twin(f"GET {API}/{{case_number}}")
def case_page(
    request: Request,
    case_number: CaseNumber,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    done: Annotated[str, Query(max_length=16)] = "",
):
    """The case: its items and their states, the steps waiting in its process, its facts
    (masked), the four repairs as forms and the history. The look is logged."""
    return _case_page(request, session, rt, user, case_number, done=done)


def _repaired(request, session, rt, user, number: str, operation: str, run):
    """Run a repair; on to the case's page, or the page again with what was refused."""
    try:
        run()
    except (InvalidInput, Conflict) as refused:
        session.rollback()
        return _case_page(request, session, rt, user, number, error=refused)
    return RedirectResponse(f"/operations/cases/{number}?done={operation}", status_code=303)


@router.post(
    "/operations/cases/{case_number}/items/{item_id}/{action}",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
@twin(f"POST {API}/{{case_number}}/items/{{item_id}}/{{action}}")
@answers(409, 422)
def repair_item_page(
    request: Request,
    case_number: CaseNumber,
    item_id: RowId,
    action: ItemAction,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    reason: Annotated[str, Form(pattern=NO_NUL, examples=["部门来函：该事项另行办理"])] = "",
):
    """Withdraw (`cancel`) or re-open (`reopen`) an item, for the reason given."""

    def run():
        repair_item(
            session,
            rt,
            user=user,
            number=case_number,
            item_id=item_id,
            action=action,
            reason=reason,
        )

    return _repaired(request, session, rt, user, case_number, action, run)


@router.post(
    "/operations/cases/{case_number}/move", dependencies=[CsrfChecked], response_class=HTMLResponse
)
@twin(f"POST {API}/{{case_number}}/move")
@answers(409, 422)
def move_step_page(
    request: Request,
    case_number: CaseNumber,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    step: Annotated[str, Form(max_length=300, examples=["<task id>:Task_taxes"])] = "",
    reason: Annotated[str, Form(pattern=NO_NUL, examples=["部门来函：该事项另行办理"])] = "",
):
    """Move a waiting step to another step of its branch: `step` is "task id:target"."""
    task_id, _, target = step.partition(":")

    def run():
        case = repair.find_case(session, user=user, number=case_number)
        repair.move_step(
            session, rt, user=user, case_id=case.id, task_id=task_id, target=target, reason=reason
        )

    return _repaired(request, session, rt, user, case_number, "move", run)


@router.post(
    "/operations/cases/{case_number}/facts", dependencies=[CsrfChecked], response_class=HTMLResponse
)
@twin(f"POST {API}/{{case_number}}/facts")
@answers(409, 422)
def correct_fact_page(
    request: Request,
    case_number: CaseNumber,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    key: Annotated[str, Form(max_length=100, examples=["applicant_phone"])] = "",
    value: Annotated[str, Form(pattern=NO_NUL, examples=["13900001111"])] = "",
    reason: Annotated[str, Form(pattern=NO_NUL, examples=["部门来函：该事项另行办理"])] = "",
):
    """Correct one fact, checked as the application form checks it."""

    def run():
        case = repair.find_case(session, user=user, number=case_number)
        repair.correct_fact(
            session, rt, user=user, case_id=case.id, key=key, value=value, reason=reason
        )

    return _repaired(request, session, rt, user, case_number, "correct", run)
