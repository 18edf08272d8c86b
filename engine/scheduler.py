"""The timer job executor (after Camunda's): due timer jobs are acquired in batches by a lock
owner for a while; each is then run in its own transaction together with the case step it
causes, so a timer fires exactly once even with several server processes, and the jobs of a
process that crashed are taken over when its locks expire.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, select

from engine import cases, store
from engine.clock import utcnow
from engine.specs import SpecCache
from engine.store import Changes, ProcessInstance, StaleInstance, TimerJob


def _due(now):
    return (
        (TimerJob.status == "pending")
        & (col(TimerJob.due_at) <= now)
        & or_(col(TimerJob.lock_expires_at).is_(None), col(TimerJob.lock_expires_at) < now)
    )


def claim_rows(
    session: Session,
    *,
    model: Any,
    due: Callable[[datetime], ColumnElement[bool]],
    order: Any,
    owner: str,
    limit: int,
    lock_seconds: int,
    key: Any = None,
) -> list:
    """Lock up to `limit` rows of `model` that `due(now)` selects, for `owner` until
    `lock_seconds` from now; returns their ids in `order` (committed). Rows another owner holds
    are skipped, not waited for (`SKIP LOCKED` on PostgreSQL), and a conditional UPDATE makes
    exactly one of two claimers win a row, on SQLite too. `model` has `locked_by` and
    `lock_expires_at` columns and its key in `key` (default: its `id`): timer jobs here, a
    service's outbox rows and periodic jobs likewise."""
    key = model.id if key is None else key
    now = utcnow()
    query = select(key).where(due(now)).order_by(order).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    taken = []
    for row_id in list(session.exec(query).all()):
        won = session.execute(
            update(model)
            .where((key == row_id) & due(now))
            .values(locked_by=owner, lock_expires_at=now + timedelta(seconds=lock_seconds))
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:
            taken.append(row_id)
    session.commit()
    return taken


def acquire(session: Session, *, owner: str, batch: int = 20, lock_seconds: int = 60) -> list[str]:
    """Lock up to `batch` due jobs for `owner`; returns their ids (committed)."""
    return claim_rows(
        session,
        model=TimerJob,
        due=_due,
        order=col(TimerJob.due_at),
        owner=owner,
        limit=batch,
        lock_seconds=lock_seconds,
    )


log = logging.getLogger(__name__)
OnFired = Callable[[Session, ProcessInstance, Changes], None]


def run(session: Session, specs: SpecCache, *, job_id: str, owner: str, on_fired: OnFired) -> bool:
    """Fire one acquired job's timer and run its case on, all in one transaction; `on_fired`
    writes the application's side of the step (flags, notices) in the same transaction.
    Returns whether the timer fired (False: its task had finished, the job is void)."""
    job = session.get(TimerJob, job_id)
    if job is None or job.status != "pending" or job.locked_by != owner:
        session.rollback()
        return False
    instance, spec, workflow = store.load_workflow(session, specs, job.instance_id)
    fired = cases.fire_timer(workflow, job.id)
    if not fired:
        job.status = "void"
        session.add(job)
        session.commit()
        return False
    # The instance row is written first: runs on the same case queue behind it, in one order.
    try:
        changes = store.save_instance(session, spec, instance, workflow)
    except StaleInstance:
        session.rollback()  # the case moved meanwhile: the lock expires and the job runs again
        return False
    job.attempts += 1
    job.status = "done"
    job.locked_by = None
    session.add(job)
    on_fired(session, instance, changes)
    session.commit()
    return True


OnFailed = Callable[[Session, TimerJob, cases.StepFailed], None]


def run_due(
    session: Session,
    specs: SpecCache,
    *,
    owner: str,
    on_fired: OnFired,
    on_failed: OnFailed | None = None,
    batch: int = 20,
) -> int:
    """Acquire and run every due job, batch by batch; returns how many timers fired. A job
    whose step fails in the process's code (`StepFailed`) is not retried: it is marked failed,
    and `on_failed` records it (in the same transaction)."""
    fired = 0
    while job_ids := acquire(session, owner=owner, batch=batch):
        for job_id in job_ids:
            try:
                fired += run(session, specs, job_id=job_id, owner=owner, on_fired=on_fired)
            except cases.StepFailed as failure:  # retrying would fail the same way
                session.rollback()
                log.warning("timer job %s failed in the process: %s", job_id, failure)
                job = session.get(TimerJob, job_id)
                if job is not None:
                    job.status = "failed"
                    job.locked_by = None
                    job.last_error = f"StepFailed: {failure}"[:500]
                    job.attempts += 1
                    session.add(job)
                    if on_failed is not None:
                        on_failed(session, job, failure)
                    session.commit()
            except Exception as exc:  # e.g. a deadlock: the job stays pending, its lock expires
                session.rollback()
                log.warning("timer job %s failed: %s", job_id, exc)
                job = session.get(TimerJob, job_id)
                if job is not None:
                    job.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    job.attempts += 1
                    session.add(job)
                    session.commit()
        if len(job_ids) < batch:
            break
    return fired
