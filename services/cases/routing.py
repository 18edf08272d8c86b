"""Routing: turn what a case's process did into case items (instant approvals, routed tasks,
corrected items resuming, deadline flags), record each step in the case's history, finish the
case; and run a process step in one transaction, retried when another step raced it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from engine import store
from engine.clock import utcnow
from engine.store import StaleInstance
from forms.catalog import Item
from services import db_outage
from services.accounts.models import User
from services.accounts.service import supervisors_of
from services.calendar import add_working_days, local_date
from services.cases import history
from services.cases.models import Case, CaseItem
from services.cases.results import open_delivery
from services.departments import webhooks
from services.departments.schemas import TaskCreated
from services.errors import Conflict
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.notifications.service import notify
from services.observability import note_case
from services.runtime import Runtime

MAX_RETRIES = 5
T = TypeVar("T")


def run_step(session: Session, step: Callable[[], T]) -> T:
    """Run `step` (a change of a case and its process) and commit it, all or nothing; a step
    that raced another one on the same case (stale process state, a unique or lock conflict)
    is rolled back and run again, up to MAX_RETRIES times; any other failure rolls it back
    and is raised."""
    for _attempt in range(MAX_RETRIES):
        try:
            result = step()
            session.commit()
            return result
        except (StaleInstance, IntegrityError, OperationalError) as exc:
            session.rollback()
            if db_outage.unavailable(exc):  # not a race: trying again would only wait
                raise
        except BaseException:
            session.rollback()  # refused or failed: nothing of the step is kept
            raise
    raise Conflict("办件正被其他部门同时更新，请稍后重试", "The case is busy, please retry")


def record_event(
    session: Session, case: Case, user: User | None, kind: str, message: str, *, tell: bool = True
) -> None:
    """A step of the case: in its history, and told to the applicant unless `tell` is False
    (a step the applicant hears about with others, in one message: see `routing_summary`)."""
    note_case(case.number)  # the request's log line names the case
    history.record(session, case_id=case.id, user=user, kind=kind, message=message)
    if tell:
        on_case_event(session, case=case, kind=kind, message=message, sender=default_sender())


def routing_summary(rt: Runtime, items: list[CaseItem]) -> str:
    """What a case's process did in one step (`apply_changes`'s new items), for the applicant's
    one message about the step (the submission, a decision) rather than one per item: the items
    approved at once and those routed, each with its department, in the order they were made."""
    instant = [row for row in items if row.status == "approved"]
    routed = [row for row in items if row.status != "approved"]

    def named(rows: list[CaseItem]) -> str:
        return "；".join(
            f"{department_name(rt, row.department)}（{rt.catalog.items[row.item_code].name}）"
            for row in rows
        )

    parts = [f"即时办结（秒批）：{named(instant)}" if instant else ""]
    parts.append(f"已分送：{named(routed)}" if routed else "")
    return "。".join(part for part in parts if part)


def apply_changes(
    session: Session,
    rt: Runtime,
    case: Case,
    changes: store.Changes,
    now: datetime,
    *,
    new_case: bool = False,
    tell: bool = True,
) -> list[CaseItem]:
    """Turn what the process did into case items: instant approvals, newly routed tasks (or
    corrected ones resuming), deadline flags. `new_case`: the case has no items yet. `tell`:
    False when the caller tells the applicant of the new items itself, in its own message
    (`routing_summary`); a new case's always are. Returns the items it created."""
    tell = tell and not new_case
    today = local_date(now)
    findings = {}
    instant = []
    created: list[CaseItem] = []
    for check in changes.checked:
        item = catalog_item(rt, check)
        findings[item.code] = check.finding
        if check.decision != "approved":
            continue
        row = CaseItem(
            case_id=case.id,
            item_code=item.code,
            department=check.lane or item.department,
            status="approved",
            auto=True,
            finding=check.finding or None,
            due_date=today,
            decided_at=now,
        )
        session.add(row)
        instant.append((row, item))
        created.append(row)
    if instant:
        session.flush()  # the result numbers name the rows' ids
    for row, item in instant:
        row.result_number = f"{case.number}-{row.id:04d}"
        record_event(
            session,
            case,
            None,
            "approved",
            f"{department_name(rt, row.department)}自动核验通过，即时办结（秒批）：{item.name}",
            tell=tell,
        )
    awaiting: dict[str, CaseItem] | None = {} if new_case else None
    for task in changes.opened:
        item = catalog_item(rt, task)
        if task.kind == "correction":
            record_event(session, case, None, "correction_requested", f"请补正：{item.name}")
            case.status = "correction"
            continue
        if awaiting is None:  # read once: the case's items waiting for a correction
            awaiting = _items_by_code(session, case, "correction")
        row = awaiting.pop(item.code, None)
        if row is not None:  # corrected: the same item resumes, its time limit starts again
            row.status = "processing"
            row.engine_task_id = task.id
            row.due_date = add_working_days(today, item.time_limit_days)
            row.deadline_flag = None
            row.escalated_at = None
            session.add(row)
            dept = department_name(rt, row.department)
            record_event(
                session, case, None, "resumed", f"补正材料已提交，{dept}继续办理：{item.name}"
            )
            continue
        row = CaseItem(
            case_id=case.id,
            item_code=item.code,
            department=task.lane or item.department,
            engine_task_id=task.id,
            finding=findings.get(item.code) or None,
            due_date=add_working_days(today, item.time_limit_days),
        )
        session.add(row)
        created.append(row)
        if row.department in rt.settings.webhooks:
            session.flush()
            webhooks.enqueue(
                session,
                department=row.department,
                event="task.created",
                payload=TaskCreated(
                    task_id=row.id,
                    case_number=case.number,
                    matter=case.matter,
                    item=item.code,
                    due_date=row.due_date,
                ).model_dump(mode="json"),
                traceparent=case.traceparent,
            )
        record_event(
            session,
            case,
            None,
            "routed",
            f"已分送{department_name(rt, item.department)}：{item.name}",
            tell=tell,
        )
    processing = _items_by_code(session, case, "processing") if changes.fired else {}
    for timer in changes.fired:
        row = processing.get(timer.item or "")
        if row is None:
            continue
        item = rt.catalog.items[row.item_code]
        dept = department_name(rt, row.department)
        if timer.decision == "overdue":
            row.deadline_flag = "overdue"
            row.escalated_at = now
            message = f"{dept}办理“{item.name}”已超过法定时限，已提请科室负责人督办"
            record_event(session, case, None, "escalated", message)
            for supervisor in supervisors_of(session, department=row.department):
                notify(
                    session,
                    user_id=supervisor.id,
                    case_id=case.id,
                    kind="escalated",
                    title=f"超期督办：{case.number}",
                    body=f"{item.name}已超过{item.time_limit_days}个工作日的法定时限，请督办。",
                    batched=True,
                )
        elif row.deadline_flag is None:
            row.deadline_flag = "warning"
            record_event(
                session, case, None, "deadline_warning", f"{dept}办理“{item.name}”临近办结时限"
            )
        session.add(row)
    return created


def _items_by_code(session: Session, case: Case, status: str) -> dict[str, CaseItem]:
    """The case's items in `status`, by item code (the first of each, by id)."""
    rows = session.exec(
        select(CaseItem)
        .where(CaseItem.case_id == case.id, CaseItem.status == status)
        .order_by(col(CaseItem.id).desc())
    ).all()
    return {row.item_code: row for row in rows}


def catalog_item(rt: Runtime, task: store.TaskRow) -> Item:
    item = rt.catalog.items.get(task.item or "")
    if item is None:
        raise LookupError(f"task {task.bpmn_id} is bound to unknown item {task.item!r}")
    return item


def department_name(rt: Runtime, code: str) -> str:
    department = rt.catalog.departments.get(code)
    return department.name if department else code


_STATUSES_OF_CASE = select(CaseItem.status).where(CaseItem.case_id == bindparam("case_id"))


def finish_case(session: Session, case: Case) -> None:
    recorded = session.exec(_STATUSES_OF_CASE, params={"case_id": case.id}).all()
    # items withdrawn or re-opened by an operator (services/cases/repair.py) do not count
    statuses = [status for status in recorded if status not in ("cancelled", "superseded")]
    case.status = "completed"
    case.completed_at = utcnow()
    if recorded and not statuses:  # an operator withdrew every item: nothing was granted
        case.outcome = "withdrawn"
        case.subject_key = None
    elif statuses and all(s == "rejected" for s in statuses):
        case.outcome = "rejected"
        case.subject_key = None  # nothing was granted: the subject may be applied for again
    elif "rejected" in statuses:
        case.outcome = "partly_rejected"
    else:
        case.outcome = "approved"
    record_event(session, case, None, "completed", "全部事项办结，统一出件")
    open_delivery(session, case=case)
