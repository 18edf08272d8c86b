"""Repairing a case over the API (issue 21; the pages: web/routes/repair.py): an operator looks
at a case by its number and withdraws an item, re-opens a decided one, moves a waiting step
or corrects a fact, each for a reason that goes into the case's history and to the applicant."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from services import operators
from services.cases import repair
from services.cases.progress import CASE_STATUS
from services.runtime import Runtime
from web.api.routing import RowId, api_router
from web.deps import CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers

router = api_router(prefix="/operations", tags=["api: operations"])

# A case number as printed (YJS + date + serial): letters and digits only, never echoed.
CaseNumber = Annotated[
    str,
    Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9]+$", examples=["YJS20261123000001"]),
]
ItemAction = Annotated[Literal["cancel", "reopen"], Path(description="What to do with the item")]
Reason = Annotated[
    str,
    Field(
        max_length=1000,
        description=f"Why ({operators.REASON_MIN}-{operators.REASON_MAX} characters once whitespace "
        "is folded): goes into the case's history and to the applicant",
        examples=["部门系统故障，按部门来函处理"],
    ),
]


# ---------------------------------------------------------------- shapes


class ReasonIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "部门系统故障，按部门来函处理"}]}
    )

    reason: Reason


class MoveIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_id": "0b6f7a52-6d1c-4f5e-9c1a-2f3e4d5c6b7a",
                    "target": "Task_taxes",
                    "reason": "税务部门来函：需重新核定税费",
                }
            ]
        }
    )

    task_id: str = Field(max_length=36, description="The waiting step (a step's `task_id`)")
    target: str = Field(max_length=200, description="A bpmn id among the step's `targets`")
    reason: Reason


class FactIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"key": "applicant_phone", "value": "13900001111", "reason": "申请人来电更正手机号"}
            ]
        }
    )

    key: str = Field(max_length=100, description="The fact (a `correctable` fact's key)")
    value: Any = Field(description="The new value, as the application form takes it")
    reason: Reason


class RepairItemPublic(BaseModel):
    id: int
    item_code: str
    name: str
    name_en: str
    department: str
    department_name: str
    status: str
    status_label: str
    status_label_en: str
    due_date: str
    can_cancel: bool
    can_reopen: bool


class StepTargetPublic(BaseModel):
    bpmn_id: str
    name: str


class ActiveStepPublic(BaseModel):
    task_id: str
    bpmn_id: str
    name: str
    item: str | None
    kind: str = Field(description="user (a department's) or correction (the applicant's)")
    targets: list[StepTargetPublic]


class RepairFactPublic(BaseModel):
    key: str
    label: str
    label_en: str
    type: str
    shown: str = Field(description="The value as shown; personal numbers masked")
    masked: bool
    correctable: bool


class RepairEventPublic(BaseModel):
    at: str
    actor: str
    kind: str
    message: str


class RepairCasePublic(BaseModel):
    """A case as an operator repairs it (facts only in the look that is logged: GET)."""

    id: int
    number: str
    matter: str
    status: str
    status_label: str
    status_label_en: str
    items: list[RepairItemPublic]
    steps: list[ActiveStepPublic]
    facts: list[RepairFactPublic] | None = None
    events: list[RepairEventPublic]


def repair_case_public(view: repair.RepairView, *, facts: bool) -> RepairCasePublic:
    case = view.case
    label = CASE_STATUS.get(case.status, (case.status, case.status))
    return RepairCasePublic(
        id=case.id,
        number=case.number or "",
        matter=case.matter,
        status=case.status,
        status_label=label[0],
        status_label_en=label[1],
        items=[
            RepairItemPublic(
                id=entry.row.id,
                item_code=entry.row.item_code,
                name=entry.name,
                name_en=entry.name_en,
                department=entry.row.department,
                department_name=entry.department_name,
                status=entry.status,
                status_label=entry.status_label[0],
                status_label_en=entry.status_label[1],
                due_date=entry.row.due_date.isoformat(),
                can_cancel=entry.can_cancel,
                can_reopen=entry.can_reopen,
            )
            for entry in view.items
        ],
        steps=[
            ActiveStepPublic(
                task_id=step.task_id,
                bpmn_id=step.bpmn_id,
                name=step.name,
                item=step.item,
                kind=step.kind,
                targets=[StepTargetPublic(bpmn_id=t.bpmn_id, name=t.name) for t in step.targets],
            )
            for step in view.steps
        ],
        facts=[
            RepairFactPublic(
                key=fact.key,
                label=fact.label,
                label_en=fact.label_en,
                type=fact.type,
                shown=fact.shown,
                masked=fact.masked,
                correctable=fact.correctable,
            )
            for fact in view.facts
        ]
        if facts
        else None,
        events=[
            RepairEventPublic(
                at=event.at.isoformat(), actor=event.actor, kind=event.kind, message=event.message
            )
            for event in view.events
        ],
    )


def _after(session, rt: Runtime, user, number: str) -> RepairCasePublic:
    """The case after a repair: its items, steps and history (no facts: not a second look)."""
    case = repair.find_case(session, user=user, number=number)
    return repair_case_public(repair.case_state(session, rt, case), facts=False)


# ---------------------------------------------------------------- operations


@router.get("/cases/{case_number}", response_model=RepairCasePublic)
def get_case_for_repair(
    case_number: CaseNumber, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """A case by its number, as an operator repairs it: items and their states, the steps
    waiting in its process with where each may be moved, its facts (personal numbers masked;
    the look is written to the data-access log the applicant reads) and its history."""
    view = repair.repair_view(session, rt, user=user, number=case_number)
    return repair_case_public(view, facts=True)


@router.post(
    "/cases/{case_number}/items/{item_id}/{action}",
    response_model=RepairCasePublic,
    dependencies=[CsrfChecked],
)
@answers(409)
def repair_case_item(
    case_number: CaseNumber,
    item_id: RowId,
    action: ItemAction,
    body: ReasonIn,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """`cancel`: withdraw an open item (its department's task is withdrawn; the case goes on,
    and completes, without it). `reopen`: send a decided or withdrawn item back to its
    department's queue (the old item superseded, its certificate revoked; a new item waits with
    a new time limit). 409: the item is not in a state for it, a later step of its branch is
    open, or the case changed meanwhile."""
    repair_item(
        session,
        rt,
        user=user,
        number=case_number,
        item_id=item_id,
        action=action,
        reason=body.reason,
    )
    return _after(session, rt, user, case_number)


def repair_item(session, rt: Runtime, *, user, number: str, item_id: int, action: str, reason: str):
    """Withdraw or re-open an item of the case `number` (the page's and the API's one call)."""
    case = repair.find_case(session, user=user, number=number)
    operation = repair.cancel_item if action == "cancel" else repair.reopen_item
    return operation(session, rt, user=user, case_id=case.id, item_id=item_id, reason=reason)


@router.post(
    "/cases/{case_number}/move", response_model=RepairCasePublic, dependencies=[CsrfChecked]
)
@answers(409)
def move_case_step(
    case_number: CaseNumber, body: MoveIn, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """Move a waiting step to another department task of its branch (`targets`). 422: a target
    the step cannot reach; 409: the step no longer waits, or the case changed meanwhile."""
    case = repair.find_case(session, user=user, number=case_number)
    repair.move_step(
        session,
        rt,
        user=user,
        case_id=case.id,
        task_id=body.task_id,
        target=body.target,
        reason=body.reason,
    )
    return _after(session, rt, user, case_number)


@router.post(
    "/cases/{case_number}/facts", response_model=RepairCasePublic, dependencies=[CsrfChecked]
)
@answers(409)
def correct_case_fact(
    case_number: CaseNumber, body: FactIn, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """Correct one fact, checked as the form checks it; refused (422) when it would change
    which items the case needs. The history names the fact, never its value."""
    case = repair.find_case(session, user=user, number=case_number)
    repair.correct_fact(
        session,
        rt,
        user=user,
        case_id=case.id,
        key=body.key,
        value=body.value,
        reason=body.reason,
    )
    return _after(session, rt, user, case_number)
