"""The JSON API, for departmental systems and scripts (documented at /docs)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from services.accounts import service as accounts
from services.cases import access, decisions, external, progress, submission, workbench
from services.cases.models import Case
from services.cases.schemas import (
    ERROR_RESPONSES,
    ID_MAX,
    CaseCreate,
    CasePublic,
    Decision,
    ErrorPublic,
    ExternalComplete,
    ExternalFailure,
    ExternalTask,
    FetchAndLock,
    ItemStatus,
    LoginRequest,
    LoginResult,
    TaskPublic,
)
from web.deps import (
    CitizenUser,
    ClerkUser,
    CsrfChecked,
    CurrentUser,
    RuntimeDep,
    SessionDep,
    SystemUser,
    read_only,
)
from web.idempotency import IdempotentRoute
from web.routes.auth import client_address

router = APIRouter(
    prefix="/api", tags=["api"], responses=ERROR_RESPONSES, route_class=IdempotentRoute
)
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorPublic,
        "description": "Too many failed sign-ins: try again later",
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        },
    }
}

# A row id in a path, and a list's offset: numbers the database can hold (else 422)
RowId = Annotated[int, Path(ge=1, le=ID_MAX)]
Offset = Annotated[int, Query(le=ID_MAX)]


def _case_public(session, rt, case: Case) -> CasePublic:
    items = [
        _item_status(rt, view.row)
        if view.row
        else ItemStatus(
            id=None,
            item=view.item.code,
            name=view.item.name,
            department=view.item.department,
            status=view.status,
            status_label=view.status_label,
            due_date=None,
            decided_at=None,
            comment=None,
            result_number=None,
        )
        for view in progress.item_views(session, rt, case)
    ]
    return CasePublic(**case.model_dump(include=set(CasePublic.model_fields)), items=items)


@router.post("/login", response_model=LoginResult, responses=LOGIN_RESPONSES)
def login(body: LoginRequest, request: Request, session: SessionDep, rt: RuntimeDep):
    """Sign in and get a bearer token. After too many failed sign-ins for a username, or from
    the client's address, attempts are refused for a while: 429, with Retry-After in seconds."""
    user = accounts.authenticate(
        session, username=body.username, password=body.password, address=client_address(request)
    )
    token, _row = accounts.open_session(session, user=user, hours=rt.settings.session_hours)
    session.commit()
    return LoginResult(
        token=token, role=user.role, department=user.department, display_name=user.display_name
    )


@router.post("/cases", response_model=CasePublic, status_code=201, dependencies=[CsrfChecked])
def start_case(body: CaseCreate, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Submit a combined application; with `consent`, registry facts are fetched on the server
    (the consent is recorded with the submission)."""
    case = submission.submit_application(
        session,
        rt,
        user=user,
        matter_code=body.matter,
        answers=body.answers,
        consented=body.consent,
        record_consent=body.consent,
    )
    return _case_public(session, rt, case)


@router.get("/cases", response_model=list[CasePublic])
@read_only
def my_cases(
    user: CitizenUser, session: SessionDep, rt: RuntimeDep, limit: int = 50, offset: Offset = 0
):
    """The signed-in citizen's cases, newest first."""
    found = progress.cases_of(
        session, user=user, limit=min(max(limit, 1), 200), offset=max(offset, 0)
    )
    return [_case_public(session, rt, case) for case in found]


@router.get("/cases/{case_id}", response_model=CasePublic)
def get_case(case_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """A case with each department's status: for its applicant, and for the clerks and systems
    of the departments it was routed to (statuses only, no personal data)."""
    return _case_public(session, rt, access.load_case_progress(session, case_id=case_id, user=user))


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
    return _item_status(rt, row)


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
    return _item_status(rt, row)


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
    return _item_status(rt, row)


@router.post(
    "/external-tasks/{task_id}/resolve", response_model=ItemStatus, dependencies=[CsrfChecked]
)
def resolve_incident(task_id: RowId, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """A clerk clears an incident: the department system may fetch the task again."""
    return _item_status(rt, external.resolve_incident(session, user=user, item_id=task_id))


def _item_status(rt, row) -> ItemStatus:
    item = rt.catalog.items[row.item_code]
    return ItemStatus(
        id=row.id,
        item=row.item_code,
        name=item.name,
        department=row.department,
        status=row.status,
        status_label=progress.ITEM_STATUS[row.status][0],
        due_date=row.due_date,
        decided_at=row.decided_at,
        comment=row.comment,
        result_number=row.result_number,
        auto=row.auto,
        finding=row.finding,
        incident=row.incident,
    )
