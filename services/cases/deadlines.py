"""Statutory deadlines: the background runner that fires due deadline timers (BPMN boundary
timers on every departmental task) and turns them into warnings and escalations."""

from __future__ import annotations

import os
import socket
from functools import partial

from sqlmodel import Session, select

from engine import scheduler
from engine.cases import StepFailed
from engine.clock import utcnow
from engine.store import Changes, ProcessInstance, TimerJob
from services.background import PeriodicWorker
from services.cases import incidents
from services.cases.models import Case
from services.cases.routing import apply_changes
from services.runtime import Runtime


def owner_name() -> str:
    """Who holds a timer job's lock: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _on_fired(rt: Runtime, session: Session, instance: ProcessInstance, changes: Changes) -> None:
    case = session.exec(select(Case).where(Case.instance_id == instance.id)).one()
    apply_changes(session, rt, case, changes, utcnow())
    session.add(case)


def _on_failed(session: Session, job: TimerJob, failure: StepFailed) -> None:
    case = session.exec(select(Case).where(Case.instance_id == job.instance_id)).one()
    incidents.add(session, failure, matter=case.matter, step="deadline", case_id=case.id)


def run_deadlines(rt: Runtime, *, owner: str | None = None) -> int:
    """Fire every due deadline timer once; returns how many fired. A timer whose step fails in
    the process becomes an incident, not a retry at every run."""
    with Session(rt.db, expire_on_commit=False) as session:
        return scheduler.run_due(
            session,
            rt.specs,
            owner=owner or owner_name(),
            on_fired=partial(_on_fired, rt),
            on_failed=_on_failed,
        )


def deadline_scheduler(rt: Runtime, interval: float = 30.0) -> PeriodicWorker:
    """A background worker that runs due deadline timers every `interval` seconds."""
    owner = owner_name()
    return PeriodicWorker("deadlines", lambda: run_deadlines(rt, owner=owner), interval)
