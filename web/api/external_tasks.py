"""External tasks (Camunda-style) for departments' own systems: fetch and lock, complete with
result data, report a failure; clerks resolve an incident."""

from __future__ import annotations

from services.cases import decisions, external
from services.cases.schemas import (
    ExternalComplete,
    ExternalFailure,
    ExternalTask,
    FetchAndLock,
    ItemStatus,
)
from web.api.cases import item_status
from web.api.routing import RowId, api_router
from web.deps import ClerkUser, CsrfChecked, RuntimeDep, SessionDep, SystemUser

router = api_router(tags=["api: external tasks"])


@router.post(
    "/external-tasks/fetch-and-lock",
    response_model=list[ExternalTask],
    dependencies=[CsrfChecked],
)
def fetch_and_lock(body: FetchAndLock, user: SystemUser, session: SessionDep, rt: RuntimeDep):
    """For a department's own system: lock a batch of its department's open tasks."""
    locked = external.fetch_and_lock(
        session,
        rt,
        user=user,
        worker_id=body.worker_id,
        max_tasks=body.max_tasks,
        lock_seconds=body.lock_seconds,
    )
    return [
        ExternalTask(
            id=task.item.id,
            case_id=task.case.id,
            case_number=task.case.number,
            matter=task.case.matter,
            item=task.item.item_code,
            name=rt.catalog.items[task.item.item_code].name,
            due_date=task.item.due_date,
            lock_expires_at=task.item.lock_expires_at,
            retries=task.item.retries,
            facts=task.facts,
            provenance=task.provenance,
            uploads=task.uploads,
            finding=task.item.finding,
        )
        for task in locked
    ]


@router.post(
    "/external-tasks/{task_id}/complete", response_model=ItemStatus, dependencies=[CsrfChecked]
)
def complete_external_task(
    task_id: RowId,
    body: ExternalComplete,
    user: SystemUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Complete a locked task with a decision and result data."""
    row = decisions.decide(
        session,
        rt,
        user=user,
        item_id=task_id,
        decision=body.decision,
        comment=body.comment,
        worker_id=body.worker_id,
        result=body.result,
    )
    return item_status(rt, row)


@router.post(
    "/external-tasks/{task_id}/failure", response_model=ItemStatus, dependencies=[CsrfChecked]
)
def external_task_failure(
    task_id: RowId, body: ExternalFailure, user: SystemUser, session: SessionDep, rt: RuntimeDep
):
    """Report that a locked task failed; with no retries left it becomes an incident."""
    row = external.report_failure(
        session,
        user=user,
        item_id=task_id,
        worker_id=body.worker_id,
        message=body.error_message,
        retries=body.retries,
        retry_seconds=body.retry_seconds,
    )
    return item_status(rt, row)


@router.post(
    "/external-tasks/{task_id}/resolve", response_model=ItemStatus, dependencies=[CsrfChecked]
)
def resolve_incident(task_id: RowId, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """A clerk clears an incident: the department system may fetch the task again."""
    return item_status(rt, external.resolve_incident(session, user=user, item_id=task_id))
