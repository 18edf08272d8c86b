"""External tasks (Camunda-style) for departments' own systems (部门业务系统): fetch and lock a
batch of the department's open tasks, complete each with a decision and result data, or report
a failure (after the last retry an incident, which a clerk resolves). Only department system
accounts (`<department>-system`) use this API; window clerks work tasks at `/api/v1/tasks`.

A locked task carries what its item needs of the case and nothing more: the facts, their
registry provenance, and the item's materials with the address to download each one (each
download, like each task handed over, is logged in the applicant's data-access log)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.cases import decisions, external
from services.cases.external import MAX_BATCH, MAX_LOCK_SECONDS
from services.cases.schemas import NO_NUL, ErrorPublic, ItemStatus, UploadRef
from web.api.cases import item_status, upload_ref
from web.api.routing import RowId, api_router
from web.api.tasks import ResultFieldPublic, result_fields_public
from web.deps import ClerkUser, CsrfChecked, RuntimeDep, SessionDep, SystemUser
from web.openapi import answers

router = api_router(tags=["api: external tasks"])

WORKER_ID = Field(
    min_length=1,
    max_length=64,
    pattern=NO_NUL,
    description="Names the worker process; a lock belongs to the worker that took it",
    examples=["police-worker-1"],
)
NOT_LOCKED = {
    409: {
        "model": ErrorPublic,
        "description": "The task is not locked by this worker (never locked, expired, or "
        "taken over), a clerk claimed it, or it was decided already",
    }
}


class FetchAndLock(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"worker_id": "police-worker-1", "max_tasks": 10, "lock_seconds": 300}]
        }
    )

    worker_id: str = WORKER_ID
    max_tasks: int = Field(
        default=10, ge=1, le=MAX_BATCH, description="At most this many tasks are locked"
    )
    lock_seconds: int = Field(
        default=300,
        ge=1,
        le=MAX_LOCK_SECONDS,
        description="How long the lock holds: complete or report a failure before it expires, "
        "or another worker may take the task over",
    )


class ExternalTask(BaseModel):
    """One locked task: enough of the case to decide the item without asking for more."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "case_id": 7,
                    "case_number": "YJS2026112300007",
                    "matter": "newborn",
                    "item": "police_birth_registration",
                    "name": "出生登记（新生儿落户）",
                    "due_date": "2026-11-30",
                    "lock_expires_at": "2026-11-23T02:05:00Z",
                    "retries": None,
                    "facts": {"child_name": "张小满", "mother_name": "王芳"},
                    "provenance": {
                        "mother_name": {
                            "registry": "population",
                            "registry_name": "人口库",
                            "record_id": "31010519940908028X",
                            "retrieved_at": "2026-11-23T02:00:00+00:00",
                        }
                    },
                    "uploads": [
                        {
                            "id": 3,
                            "material": "marriage_certificate",
                            "filename": "marriage.pdf",
                            "content_type": "application/pdf",
                            "size": 48213,
                            "uploaded_at": "2026-11-23T02:00:00Z",
                            "url": "/api/v1/uploads/3",
                        }
                    ],
                    "finding": None,
                    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                }
            ]
        }
    )

    id: int = Field(description="The task (case item) id, for complete and failure")
    case_id: int
    case_number: str | None
    matter: str = Field(description="The matter's code")
    item: str = Field(description="The item's code in the catalog")
    name: str = Field(description="The item's name")
    due_date: date = Field(description="The statutory due date")
    lock_expires_at: datetime | None = Field(description="When this worker's lock ends")
    retries: int | None = Field(
        description="Retries left, as the last failure report set them; null before any"
    )
    facts: dict[str, Any] = Field(
        description="The application's values of the facts this item needs (and who applied), "
        "by data-dictionary key"
    )
    results: list[ResultFieldPublic] = Field(
        default_factory=list,
        description="The result data an approval records: send them, by `key`, in the "
        "complete call's `result`",
    )
    provenance: dict[str, Any] = Field(
        description="For each fact read from a registry: registry, registry_name, record_id, "
        "retrieved_at; a fact without an entry was typed by the applicant"
    )
    uploads: list[UploadRef] = Field(description="The applicant's files for the materials")
    finding: str | None = Field(description="An automatic check's finding, if one ran")
    traceparent: str | None = Field(
        default=None,
        description="The W3C trace context the case was submitted under (null for a case "
        "submitted before traces were kept): continue its trace (the same trace id, a span id "
        "of yours) in the `traceparent` header of this task's complete or failure call and in "
        "your own logs, so that the case is followed across systems by one trace id",
        examples=["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    )


class ExternalComplete(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "worker_id": "police-worker-1",
                    "decision": "approved",
                    "comment": "部门业务系统自动核验通过",
                    "result": {
                        "child_id_number": "110105202612060011",
                        "household_number": "110105012345",
                        "hukou_address": "示范市中心区和平路12号",
                        "hukou_registered_on": "2026-12-06",
                    },
                },
                {"worker_id": "police-worker-1", "decision": "rejected", "comment": "材料不全"},
            ]
        }
    )

    worker_id: str = WORKER_ID
    decision: Literal["approved", "rejected"] = Field(
        description="approved, or rejected (with the reason in `comment`, shown to the applicant)"
    )
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)
    result: dict[str, Any] = Field(
        default_factory=dict,
        description="Result data to keep with the item. Entries named by the task's `results` "
        "are the item's result data, printed on its document: when any is given on approval, "
        "every required one must be, each of its type (checked as a clerk's are, 422 naming "
        "the field); other entries are kept as given",
    )


class ExternalFailure(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "worker_id": "police-worker-1",
                    "error_message": "户籍系统连接超时",
                    "retries": 2,
                    "retry_seconds": 60,
                }
            ]
        }
    )

    worker_id: str = WORKER_ID
    error_message: str = Field(max_length=500, pattern=NO_NUL, description="What went wrong")
    retries: int = Field(
        ge=0,
        le=100,
        description="Retries left: the task is offered again after `retry_seconds`; 0 raises an "
        "incident that a clerk resolves (POST /api/v1/external-tasks/{task_id}/resolve)",
    )
    retry_seconds: int = Field(default=60, ge=0, le=MAX_LOCK_SECONDS)


@router.post(
    "/external-tasks/fetch-and-lock",
    response_model=list[ExternalTask],
    dependencies=[CsrfChecked],
)
def fetch_and_lock(body: FetchAndLock, user: SystemUser, session: SessionDep, rt: RuntimeDep):
    """For a department's own system: lock up to `max_tasks` of its department's open tasks
    that no clerk holds, oldest due first (an empty list: nothing to do). Each task handed over
    is logged in its applicant's data-access log."""
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
            results=result_fields_public(rt.catalog.items[task.item.item_code]),
            provenance=task.provenance,
            uploads=[upload_ref(u) for u in task.uploads],
            finding=task.item.finding,
            traceparent=task.case.traceparent,
        )
        for task in locked
    ]


@router.post(
    "/external-tasks/{task_id}/complete",
    response_model=ItemStatus,
    dependencies=[CsrfChecked],
    responses=NOT_LOCKED,
)
@answers(503)
def complete_external_task(
    task_id: RowId,
    body: ExternalComplete,
    user: SystemUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Complete a task this worker locked with a decision and result data; the case's process
    moves on (and the case completes with its last item)."""
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
    "/external-tasks/{task_id}/failure",
    response_model=ItemStatus,
    dependencies=[CsrfChecked],
    responses=NOT_LOCKED,
)
def external_task_failure(
    task_id: RowId, body: ExternalFailure, user: SystemUser, session: SessionDep, rt: RuntimeDep
):
    """Report that a locked task failed: with retries left it is offered again after
    `retry_seconds`; with none left it becomes an incident (the item's `incident`), shown to the
    department's clerks."""
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
    "/external-tasks/{task_id}/resolve",
    response_model=ItemStatus,
    dependencies=[CsrfChecked],
    responses={409: {"model": ErrorPublic, "description": "The task has no incident"}},
)
def resolve_incident(task_id: RowId, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """A clerk of the department clears a task's incident (the cause is fixed): the department
    system may fetch the task again. The clerk may instead decide it by hand."""
    return item_status(rt, external.resolve_incident(session, user=user, item_id=task_id))
