"""External tasks: departments that keep their own systems (自建系统) work their items over the
API, Camunda-style: fetch and lock a batch, complete each with result data, or report a failure;
after the last retry a failure becomes an incident that people see and resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.accounts.models import User
from services.cases import history
from services.cases.access import item_facts, load_case_item, log_view, require_system
from services.cases.models import Case, CaseItem, Upload
from services.errors import Conflict, InvalidInput
from services.runtime import Runtime

MAX_LOCK_SECONDS = 3600
MAX_BATCH = 100


@dataclass(frozen=True)
class LockedTask:
    """What a department system gets for one locked item: enough to decide without asking."""

    item: CaseItem
    case: Case
    facts: dict[str, Any]
    provenance: dict[str, Any]
    uploads: list[Upload]  # the applicant's files for the item's materials


def _available(department: str, now):
    return (
        (CaseItem.department == department)
        & (CaseItem.status == "processing")
        & col(CaseItem.incident).is_(None)
        & col(CaseItem.claimed_by).is_(None)  # a clerk holds it: not for the system
        & or_(col(CaseItem.lock_expires_at).is_(None), col(CaseItem.lock_expires_at) < now)
    )


def fetch_and_lock(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    worker_id: str,
    max_tasks: int = 10,
    lock_seconds: int = 300,
) -> list[LockedTask]:
    """Lock up to `max_tasks` open items of the caller's department for `lock_seconds`.

    Each lock is taken by a conditional UPDATE, so two workers never get the same item, on
    SQLite and PostgreSQL alike; an expired lock (a crashed worker) is taken over."""
    department = require_system(user)
    worker_id = (worker_id or "").strip()
    if not worker_id or len(worker_id) > 64:
        raise InvalidInput(
            "worker_id", "请提供1至64个字符的worker_id", "worker_id: 1-64 characters"
        )
    if not 1 <= lock_seconds <= MAX_LOCK_SECONDS:
        raise InvalidInput(
            "lock_seconds", f"锁定时长应在1至{MAX_LOCK_SECONDS}秒之间", "lock_seconds out of range"
        )
    max_tasks = min(max(max_tasks, 1), MAX_BATCH)
    now = utcnow()
    expires = now + timedelta(seconds=lock_seconds)
    candidates = session.exec(
        select(CaseItem.id)
        .where(_available(department, now))
        .order_by(col(CaseItem.due_date), col(CaseItem.id))
        .limit(max_tasks * 2)
    ).all()
    locked_ids = []
    for item_id in candidates:
        result = session.execute(
            update(CaseItem)
            .where((CaseItem.id == item_id) & _available(department, now))
            .values(locked_by=worker_id, lock_expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            locked_ids.append(item_id)
        if len(locked_ids) == max_tasks:
            break
    session.commit()
    return [_locked_task(session, rt, user, item_id) for item_id in locked_ids]


def _locked_task(session: Session, rt: Runtime, user: User, item_id: int) -> LockedTask:
    """What the system needs of one locked item: the item's facts and materials, no more; the
    handing over is logged for the applicant, like a clerk's look."""
    item = session.get(CaseItem, item_id)
    session.refresh(item)
    case = session.get(Case, item.case_id)
    entry = rt.catalog.items[item.item_code]
    facts = item_facts(rt, case, entry)
    materials = {m.code for m in entry.materials}
    uploads = session.exec(select(Upload).where(Upload.case_id == case.id)).all()
    log_view(session, user, case, f"{user.display_name}获取待办（{entry.name}）")
    return LockedTask(
        item=item,
        case=case,
        facts=facts,
        provenance={  # registry records only: a corrected fact was typed, like any other
            key: value
            for key, value in case.provenance.items()
            if key in facts and value.get("registry")
        },
        uploads=[u for u in uploads if u.material_code in materials],
    )


def report_failure(
    session: Session,
    *,
    user: User,
    item_id: int,
    worker_id: str,
    message: str,
    retries: int,
    retry_seconds: int = 60,
) -> CaseItem:
    """A worker could not handle its locked item. With retries left, the item is offered again
    after `retry_seconds`; with none left it becomes an incident shown to clerks and admins."""
    require_system(user)
    item = load_case_item(session, item_id=item_id, user=user)
    now = utcnow()
    if item.locked_by != worker_id or not item.lock_expires_at or item.lock_expires_at < now:
        raise Conflict("该任务未被本系统锁定或锁定已过期", "The task is not locked by this worker")
    message = (message or "").strip()[:500] or "unknown error"
    item.locked_by = None
    item.retries = max(retries, 0)
    if item.retries == 0:
        item.incident = message
        item.lock_expires_at = None
        history.record(
            session,
            case_id=item.case_id,
            user=user,
            kind="incident",
            message=f"部门业务系统处理失败，已转人工：{message}",
        )
    else:
        item.lock_expires_at = now + timedelta(seconds=min(max(retry_seconds, 0), MAX_LOCK_SECONDS))
    session.add(item)
    session.commit()
    return item


def resolve_incident(session: Session, *, user: User, item_id: int, retries: int = 1) -> CaseItem:
    """Clear an incident so the department system may fetch the item again."""
    item = load_case_item(session, item_id=item_id, user=user)
    if item.incident is None:
        raise Conflict("该事项没有待处理的故障", "This task has no incident")
    hand_back(
        session, item, user, retries=retries, message="故障已处理，任务重新交部门业务系统办理"
    )
    session.commit()
    return item


def hand_back(session: Session, item: CaseItem, user: User, *, retries: int, message: str) -> None:
    """Clear the item's incident and offer it to its department's system again, recorded in the
    case's history (the caller commits)."""
    item.incident = None
    item.retries = max(retries, 1)
    item.lock_expires_at = None
    item.locked_by = None
    session.add(item)
    history.record(
        session, case_id=item.case_id, user=user, kind="incident_resolved", message=message
    )
