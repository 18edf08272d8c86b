"""Periodic jobs that run once per period across all hosts (after the timer executor in
`engine.scheduler`): every host checks now and then whether a job is due, and the one that
claims its `periodic_job` row runs it, records the outcome and schedules the next run. A host
that crashed mid-run keeps the row only until its lock expires; another then takes it over.

Work that changes shared state belongs here. What only refreshes a process's own memory (the
holiday calendar, the department settings: `services.background.refresh_periodically`) must run
in every process and is not claimed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from engine.clock import utcnow
from engine.scheduler import claim_rows
from services.background import PeriodicWorker
from services.cases.deadlines import owner_name
from services.maintenance.models import PeriodicJob
from services.maintenance.retention import purge
from services.runtime import Runtime

log = logging.getLogger(__name__)

# A failed run is tried again after this long (or after its period, if that is shorter).
RETRY = timedelta(hours=1)


@dataclass(frozen=True)
class Outcome:
    """What a run did, in words for the operator (counts, case numbers; never personal data),
    and whether work is left that the next run should not wait a whole period for."""

    summary: str
    more: bool = False


@dataclass(frozen=True)
class Job:
    """A periodic job: `run(until)` does one period's work, stopping to take new work after
    `until` (the holder's lock then still has a margin); `lock` is how long a holder may run
    before another host takes the job over."""

    name: str
    every: timedelta
    lock: timedelta
    run: Callable[[datetime], Outcome]


def register_jobs(db: Engine, jobs: list[Job]) -> None:
    """Give each job its row, due at once, unless it has one (several hosts may do this at the
    same moment: the second insert does nothing)."""
    if not jobs:
        return
    rows = [{"name": job.name, "next_run_at": utcnow()} for job in jobs]
    with Session(db) as session:
        postgresql = session.get_bind().dialect.name == "postgresql"
        insert = postgresql_insert if postgresql else sqlite_insert
        statement = insert(PeriodicJob.__table__).values(rows)
        session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
        session.commit()


def claim_job(session: Session, *, name: str, owner: str, lock: timedelta) -> bool:
    """Lock the job `name` for `owner` if it is due and nobody holds it (committed); exactly one
    of several claimers wins (`SKIP LOCKED` and a conditional UPDATE, see `claim_rows`)."""

    def due(now: datetime):
        free = or_(
            col(PeriodicJob.lock_expires_at).is_(None), col(PeriodicJob.lock_expires_at) < now
        )
        return (col(PeriodicJob.name) == name) & (col(PeriodicJob.next_run_at) <= now) & free

    taken = claim_rows(
        session,
        model=PeriodicJob,
        key=col(PeriodicJob.name),
        due=due,
        order=col(PeriodicJob.name),
        owner=owner,
        limit=1,
        lock_seconds=int(lock.total_seconds()),
    )
    return bool(taken)


def _held(name: str, owner: str):
    return (col(PeriodicJob.name) == name) & (col(PeriodicJob.locked_by) == owner)


def run_job(db: Engine, job: Job, *, owner: str) -> bool:
    """Run `job` if this owner claims it; returns whether it ran. Its outcome is recorded, and
    its next run scheduled, only while the owner still holds it (a run that outlived its lock
    was taken over, and the new holder records its own)."""
    with Session(db) as session:
        if not claim_job(session, name=job.name, owner=owner, lock=job.lock):
            return False
        started = utcnow()
        session.execute(
            update(PeriodicJob).where(_held(job.name, owner)).values(last_started_at=started)
        )
        session.commit()
    try:
        outcome = job.run(started + job.lock * 0.8)
        result, next_run = "succeeded", (utcnow() if outcome.more else started + job.every)
    except Exception as exc:
        # The type only: an error's text may quote the data it failed on.
        log.exception("periodic job %s failed", job.name)
        outcome = Outcome(f"{type(exc).__name__} (see this host's log)")
        result, next_run = "failed", utcnow() + min(RETRY, job.every)
    with Session(db) as session:
        recorded = session.execute(
            update(PeriodicJob)
            .where(_held(job.name, owner))
            .values(
                locked_by=None,
                lock_expires_at=None,
                last_finished_at=utcnow(),
                last_outcome=result,
                last_summary=outcome.summary[:500],
                next_run_at=next_run,
            )
        )
        session.commit()
    if recorded.rowcount != 1:
        log.warning("periodic job %s outlived its lock: another host took it over", job.name)
    log.info("periodic job %s %s: %s", job.name, result, outcome.summary)
    return True


def run_due_jobs(db: Engine, jobs: list[Job], *, owner: str) -> list[str]:
    """Run every job of `jobs` that is due and that this owner claims; returns their names."""
    return [job.name for job in jobs if run_job(db, job, owner=owner)]


def maintenance_jobs(runtime: Runtime) -> list[Job]:
    """The periodic jobs the settings ask for: the daily retention purge unless it is off."""
    if runtime.settings.retention_days <= 0:
        return []
    return [
        Job(
            name="retention-purge",
            every=timedelta(days=1),
            lock=timedelta(hours=1),
            run=lambda until: _purge(runtime, until),
        )
    ]


def _purge(runtime: Runtime, until: datetime) -> Outcome:
    settings = runtime.settings
    report = purge(runtime.db, runtime.files, days=settings.retention_days, until=until)
    return Outcome(report.summary(), more=report.more)


def maintenance_workers(runtime: Runtime) -> list[PeriodicWorker]:
    """The workers this process starts besides the deadline scheduler and the webhook sender:
    one that runs the due maintenance jobs every `maintenance_interval` seconds (0: none)."""
    jobs = maintenance_jobs(runtime)
    interval = runtime.settings.maintenance_interval
    if not jobs or interval <= 0:
        return []
    owner = owner_name()
    registered = False

    def tick() -> None:
        nonlocal registered
        if not registered:  # at the first round, not at start: a start needs no database write
            register_jobs(runtime.db, jobs)
            registered = True
        run_due_jobs(runtime.db, jobs, owner=owner)

    return [PeriodicWorker("maintenance", tick, interval)]
