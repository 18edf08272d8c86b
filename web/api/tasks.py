"""A department's tasks (待办) over the API: the queue with its filters, claiming, deciding. A
task is a case item; its id is the item's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from services.cases import decisions, workbench
from services.cases.models import CaseItem
from services.cases.schemas import ID_MAX, NO_NUL, Decision, ItemStatus, TaskPublic
from services.errors import InvalidInput
from web.api.cases import item_status
from web.api.routing import Offset, RowId, api_router
from web.deps import ClerkUser, CsrfChecked, RuntimeDep, SessionDep, read_only

router = api_router(tags=["api: tasks"])


@router.get("/tasks", response_model=list[TaskPublic])
@read_only
def department_tasks(
    user: ClerkUser, session: SessionDep, rt: RuntimeDep, limit: int = 50, offset: Offset = 0
):
    """The ready tasks of the signed-in clerk's department, oldest due first."""
    found = workbench.search_queue(
        session,
        rt,
        user=user,
        filter=workbench.QueueFilter(),
        offset=offset,
        limit=limit,
        count=False,
    )
    return [
        TaskPublic(
            id=row.item.id,
            case_id=row.case.id,
            case_number=row.case.number,
            matter=row.case.matter,
            item=row.item.item_code,
            name=row.item_name,
            applicant=row.masked_id,
            due_date=row.item.due_date,
            created_at=row.item.created_at,
        )
        for row in found.rows
    ]


@router.post("/tasks/{task_id}/complete", response_model=ItemStatus, dependencies=[CsrfChecked])
def complete_task(
    task_id: RowId, body: Decision, user: ClerkUser, session: SessionDep, rt: RuntimeDep
):
    """Approve or reject a task of the clerk's department."""
    row = decisions.decide(
        session, rt, user=user, item_id=task_id, decision=body.decision, comment=body.comment
    )
    return item_status(rt, row)


def queue_filter(
    status: Annotated[str, Query(max_length=16, pattern=NO_NUL)] = "processing",
    matter: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    item: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    due_before: Annotated[str, Query(max_length=32)] = "",
    overdue: bool = False,
    search: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    mine: bool = False,
    unclaimed: bool = False,
    sort: Annotated[str, Query(max_length=16, pattern=NO_NUL)] = "due",
    desc: bool = False,
    page: Annotated[int, Query(le=ID_MAX)] = 1,
    per_page: int = workbench.DEFAULT_PER_PAGE,
) -> workbench.QueueFilter:
    """The queue's query parameters (shared by the page and the API): `status=all` for every
    status; `due_before` is a date (YYYY-MM-DD), inclusive; `search` a case number or its
    beginning, a masked citizen ID such as 310105********028X, or an ID's last 4 characters."""
    day = None
    if due_before.strip():
        try:
            day = date.fromisoformat(due_before.strip())
        except ValueError:
            raise InvalidInput(
                "due_before", "日期格式应为年-月-日", "Use a date like 2026-11-30"
            ) from None
    return workbench.QueueFilter(
        status=None if status in ("", "all") else status,
        matter=matter,
        item=item,
        due_before=day,
        overdue=overdue,
        search=search,
        mine=mine,
        unclaimed=unclaimed,
        sort=sort,
        desc=desc,
        page=page,
        per_page=per_page,
    )


QueueQuery = Annotated[workbench.QueueFilter, Depends(queue_filter)]


class QueueTask(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    matter: str
    item: str
    name: str
    applicant_name: str
    applicant: str = Field(description="Masked citizen ID of the applicant")
    status: str
    due_date: date
    overdue: bool
    created_at: datetime
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None


class QueuePublic(BaseModel):
    total: int = Field(
        description=f"Tasks matching, counted up to {workbench.COUNT_CAP + 1} "
        f"(that many means more than {workbench.COUNT_CAP}: narrow the filter)"
    )
    total_capped: bool = Field(description="More tasks match than were counted")
    page: int
    per_page: int
    pages: int
    counts: dict[str, int] = Field(
        description="Per status, and of the open tasks: overdue, mine (claimed by me), "
        f"unclaimed; each counted up to {workbench.COUNT_CAP + 1}, meaning more than "
        f"{workbench.COUNT_CAP}"
    )
    tasks: list[QueueTask]


class ClaimPublic(BaseModel):
    id: int
    status: str
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None


class Reassign(BaseModel):
    to_user_id: int = Field(ge=1, le=ID_MAX, description="A clerk of the same department")


@router.get("/queue", response_model=QueuePublic)
@read_only
def queue(user: ClerkUser, session: SessionDep, rt: RuntimeDep, query: QueueQuery):
    """The signed-in clerk's department queue, filtered, sorted and paged."""
    found = workbench.search_queue(session, rt, user=user, filter=query)
    return QueuePublic(
        total=found.total,
        total_capped=found.capped,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        counts=workbench.status_counts(session, user=user),
        tasks=[
            QueueTask(
                id=row.item.id,
                case_id=row.case.id,
                case_number=row.case.number,
                matter=row.case.matter,
                item=row.item.item_code,
                name=row.item_name,
                applicant_name=row.case.applicant_name,
                applicant=row.masked_id,
                status=row.item.status,
                due_date=row.item.due_date,
                overdue=row.overdue,
                created_at=row.item.created_at,
                claimed_by=row.item.claimed_by,
                claimed_by_name=row.claimed_by_name,
                claimed_at=row.item.claimed_at,
            )
            for row in found.rows
        ],
    )


def _claim_public(session, row: CaseItem) -> ClaimPublic:
    return ClaimPublic(
        id=row.id,
        status=row.status,
        claimed_by=row.claimed_by,
        claimed_by_name=workbench.holder_name(session, row),
        claimed_at=row.claimed_at,
    )


@router.post("/tasks/{task_id}/claim", response_model=ClaimPublic, dependencies=[CsrfChecked])
def claim(task_id: RowId, user: ClerkUser, session: SessionDep):
    """Claim an open task; 409 names who holds it if another clerk was first."""
    return _claim_public(session, workbench.claim(session, user=user, item_id=task_id))


@router.post("/tasks/{task_id}/release", response_model=ClaimPublic, dependencies=[CsrfChecked])
def release(task_id: RowId, user: ClerkUser, session: SessionDep):
    """Give a task back to the queue (its holder, or a supervisor)."""
    return _claim_public(session, workbench.release(session, user=user, item_id=task_id))


@router.post("/tasks/{task_id}/reassign", response_model=ClaimPublic, dependencies=[CsrfChecked])
def reassign(task_id: RowId, body: Reassign, user: ClerkUser, session: SessionDep):
    """A supervisor gives a task to a clerk of the department."""
    row = workbench.reassign(session, user=user, item_id=task_id, to_user_id=body.to_user_id)
    return _claim_public(session, row)
