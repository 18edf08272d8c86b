"""Operating running cases (issue 21) over the API: the open incidents in groups of alike ones,
a group's cases, retrying or resolving a whole group, and the record of each retry or resolve
with where its cases stand now (the pages: web/routes/operations.py). Operators only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services import operations, operators
from services.incident_batches import IncidentBatch
from services.runtime import Runtime
from web.api.routing import RowId, api_router
from web.deps import CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers

router = api_router(prefix="/operations", tags=["api: operations"])

# A group's name (services.operations.group_id): 16 hexadecimal digits
GroupId = Annotated[str, Path(min_length=16, max_length=16, pattern=r"^[0-9a-f]{16}$")]
KindFilter = Annotated[
    Literal["process", "department_system"] | None,
    Query(description="process: a process could not run on; department_system: a system gave up"),
]
CodeFilter = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")]

OUTCOME_HELP = (
    "waiting: handed back to the department's system, not decided yet; done: the step moved on "
    "(decided, or the deadline timer ran); failed_again: failed the same way again (a new "
    "incident); resolved: closed by the operator; gone: handled by someone else meanwhile"
)


# ---------------------------------------------------------------- shapes


class IncidentGroupPublic(BaseModel):
    """Alike open incidents: what they share, how many and since when."""

    id: str = Field(description="The group's name in addresses (a hash of what they share)")
    kind: Literal["process", "department_system"] = Field(
        description="process: a case's process could not run on at an element; "
        "department_system: a department's own system failed an item after its last retry"
    )
    step: str = Field(
        description="Where it failed: deadline, decision, correction, submission; external "
        "for a department's system"
    )
    matter: str
    matter_name: str
    matter_name_en: str
    item: str = Field(description="The item's code (\"\": not an item's failure)")
    item_name: str
    item_name_en: str
    department: str = Field(description='The item\'s department ("" likewise)')
    department_name: str
    department_name_en: str
    element: str = Field(description='The process element that failed ("" for a system\'s)')
    cause: str = Field(description="The failure's text with its varying parts put aside")
    count: int = Field(description="Open incidents in the group")
    cases: int = Field(description="Cases they belong to")
    first_at: datetime | None = Field(description="The oldest failure")
    last_at: datetime | None = Field(description="The newest failure")
    example: str = Field(description="One failure's own text (personal numbers masked)")
    retryable: bool = Field(
        description="A retry can help: a system's items go back to it, failed deadline timers "
        "run again; a person's rolled-back step is theirs to do again (resolve it instead)"
    )


class GroupFilterPublic(BaseModel):
    kind: str
    matter: str
    department: str


class IncidentGroupListPublic(BaseModel):
    filter: GroupFilterPublic
    groups: list[IncidentGroupPublic] = Field(description="The largest group first")


class GroupCasePublic(BaseModel):
    """One case of a group: its number and item, none of the applicant's data."""

    case_id: int | None = Field(description="None: a submission that failed (no case was made)")
    case_number: str | None
    case_status: str | None = Field(description="processing, correction, completed")
    item_id: int | None
    item: str
    item_name: str
    item_name_en: str
    item_status: str | None = Field(description="processing, correction, approved, rejected…")
    failed_at: datetime | None


class IncidentGroupDetailPublic(IncidentGroupPublic):
    case_list: list[GroupCasePublic] = Field(description="Oldest failure first")


class ResolveIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "部门系统已恢复，重新交办"}]}
    )

    reason: str = Field(
        max_length=1000,
        description=f"Why the group is resolved ({operators.REASON_MIN} to "
        f"{operators.REASON_MAX} characters once trimmed): shown in each case's history",
    )


class CaseOutcomePublic(BaseModel):
    case_id: int | None
    case_number: str | None
    item_id: int | None
    item: str
    item_name: str
    item_name_en: str
    outcome: Literal["waiting", "done", "failed_again", "resolved", "gone"] = Field(
        description=OUTCOME_HELP
    )


class BatchSummaryPublic(BaseModel):
    """One retry or resolve of a group: what, when, on which group."""

    id: int
    group_id: str
    action: Literal["retry", "resolve"]
    kind: str
    matter: str
    matter_name: str
    matter_name_en: str
    item: str
    item_name: str
    item_name_en: str
    cause: str
    reason: str | None = Field(description="The operator's reason (a resolve's)")
    at: datetime
    cases: int = Field(description="Cases it acted on")


class BatchPublic(BatchSummaryPublic):
    """One retry or resolve of a group, with where each of its cases stands now."""

    step: str
    department: str
    department_name: str
    department_name_en: str
    element: str
    settled: bool = Field(description="No case waits for a department's system any more")
    counts: dict[str, int] = Field(description="Cases per outcome")
    case_list: list[CaseOutcomePublic]


class BatchListPublic(BaseModel):
    batches: list[BatchSummaryPublic] = Field(description="Newest first")


# ---------------------------------------------------------------- shared with the pages


def _item_names(rt: Runtime, item: str) -> dict[str, str]:
    found = rt.catalog.items.get(item) if item else None
    return {
        "item_name": found.name if found else item,
        "item_name_en": found.name_en if found else item,
    }


def _names(rt: Runtime, *, matter: str, item: str, department: str = "") -> dict[str, str]:
    """The catalog's names of a matter, an item and a department (their codes if gone)."""
    m = rt.catalog.matters.get(matter)
    d = rt.catalog.departments.get(department) if department else None
    return {
        "matter_name": m.name if m else matter,
        "matter_name_en": m.name_en if m else matter,
        **_item_names(rt, item),
        "department_name": d.name if d else department,
        "department_name_en": d.name_en if d else department,
    }


def _group_fields(rt: Runtime, group: operations.IncidentGroup) -> dict:
    key = group.key
    return {
        "id": key.id,
        "kind": key.kind,
        "step": key.step,
        "matter": key.matter,
        "item": key.item,
        "department": key.department,
        "element": key.element,
        "cause": key.cause,
        "count": group.count,
        "cases": len(group.case_ids),
        "first_at": group.first_at,
        "last_at": group.last_at,
        "example": operations.masked(group.example),
        "retryable": key.retryable,
        **_names(rt, matter=key.matter, item=key.item, department=key.department),
    }


def group_list_public(
    rt: Runtime, groups: list[operations.IncidentGroup], *, kind, matter: str, department: str
) -> IncidentGroupListPublic:
    return IncidentGroupListPublic(
        filter=GroupFilterPublic(kind=kind or "", matter=matter, department=department),
        groups=[IncidentGroupPublic(**_group_fields(rt, g)) for g in groups],
    )


def group_detail(session, rt: Runtime, group_id: str) -> IncidentGroupDetailPublic:
    """A group with its cases (as the group's page shows it)."""
    group = operations.find_group_by_id(session, group_id)
    return IncidentGroupDetailPublic(
        **_group_fields(rt, group),
        case_list=[
            GroupCasePublic(
                case_id=row.case_id,
                case_number=row.case_number,
                case_status=row.case_status,
                item_id=row.item_id,
                item=row.item_code,
                **_item_names(rt, row.item_code),
                item_status=row.item_status,
                failed_at=row.at,
            )
            for row in operations.group_cases(session, group)
        ],
    )


def _batch_fields(rt: Runtime, batch: IncidentBatch) -> dict:
    return {
        "cases": len(batch.outcomes),
        "id": batch.id,
        "group_id": batch.group_id,
        "action": batch.action,
        "kind": batch.kind,
        "matter": batch.matter,
        "item": batch.item,
        "cause": batch.cause,
        "reason": batch.reason,
        "at": batch.at,
        **_names(rt, matter=batch.matter, item=batch.item, department=batch.department),
    }


def batch_public(rt: Runtime, report: operations.BatchReport) -> BatchPublic:
    batch = report.batch
    fields = _batch_fields(rt, batch)
    return BatchPublic(
        **fields,
        step=batch.step,
        department=batch.department,
        element=batch.element,
        settled=report.settled,
        counts=report.counts,
        case_list=[
            CaseOutcomePublic(
                case_id=row.case_id,
                case_number=row.case_number,
                item_id=row.item_id,
                item=row.item_code,
                **_item_names(rt, row.item_code),
                outcome=row.outcome,
            )
            for row in report.rows
        ],
    )


def batch_list_public(rt: Runtime, batches: list[IncidentBatch]) -> BatchListPublic:
    fields = set(BatchSummaryPublic.model_fields)
    return BatchListPublic(
        batches=[
            BatchSummaryPublic(**{k: v for k, v in _batch_fields(rt, b).items() if k in fields})
            for b in batches
        ]
    )


# ---------------------------------------------------------------- operations


@router.get("/incidents", response_model=IncidentGroupListPublic)
@answers(422)
def incident_groups(
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    kind: KindFilter = None,
    matter: CodeFilter = "",
    department: CodeFilter = "",
):
    """The open incidents in groups of alike ones (same kind, step, matter, item, department,
    element and cause), the largest first; filtered by kind, matter and department (an unknown
    matter or department is refused with 422)."""
    groups = operations.list_groups(session, rt, kind=kind, matter=matter, department=department)
    return group_list_public(rt, groups, kind=kind, matter=matter, department=department)


@router.get("/incidents/groups/{group_id}", response_model=IncidentGroupDetailPublic)
@answers(404)
def incident_group(group_id: GroupId, user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """One open group with its cases (number, status, item; no applicant's data); 404 once it
    is handled."""
    return group_detail(session, rt, group_id)


@router.post(
    "/incidents/groups/{group_id}/retry", response_model=BatchPublic, dependencies=[CsrfChecked]
)
@answers(404, 422)
def retry_group(group_id: GroupId, user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """Retry the whole group: a department system's items are handed back to it (each
    `waiting` until the system decides it: then `done`, or `failed_again`); failed deadline
    timers run again at once (each case `done` or `failed_again`). A group of a person's
    rolled-back steps is refused (422): resolve it instead. Follow the outcome later with
    GET /api/v1/operations/incidents/batches/{id}."""
    return batch_public(rt, operations.retry_group(session, rt, user=user, key=group_id))


@router.post(
    "/incidents/groups/{group_id}/resolve", response_model=BatchPublic, dependencies=[CsrfChecked]
)
@answers(404, 422)
def resolve_group(
    group_id: GroupId, body: ResolveIn, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """Resolve the whole group with a reason, written into each case's history: process
    incidents are closed (a group of failed deadline timers: the timers are made void, their
    late reminders dropped; the items still wait for their departments); a department system's
    items are handed back to it, as a clerk's single resolve does (`waiting` until decided)."""
    report = operations.resolve_group(session, rt, user=user, key=group_id, reason=body.reason)
    return batch_public(rt, report)


@router.get("/incidents/batches", response_model=BatchListPublic)
def incident_batches(user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """The newest retries and resolves (at most 20), newest first."""
    return batch_list_public(rt, operations.recent_batches(session))


@router.get("/incidents/batches/{batch_id}", response_model=BatchPublic)
@answers(404)
def incident_batch(batch_id: RowId, user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """A retry or resolve and where each of its cases stands now (items handed back to a
    department's system are looked at again)."""
    return batch_public(rt, operations.batch_report(session, batch_id=batch_id))
