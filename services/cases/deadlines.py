"""Statutory deadlines: the background runner that fires due deadline timers (BPMN boundary
timers on every departmental task) and turns them into warnings and escalations."""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import partial

from sqlmodel import Session, select

from engine import scheduler
from engine.store import Changes, ProcessInstance, utcnow
from services.cases.models import Case
from services.cases.service import apply_changes
from services.runtime import Runtime

log = logging.getLogger(__name__)


def owner_name() -> str:
    """Who holds a timer job's lock: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _on_fired(rt: Runtime, session: Session, instance: ProcessInstance, changes: Changes) -> None:
    case = session.exec(select(Case).where(Case.instance_id == instance.id)).one()
    apply_changes(session, rt, case, changes, utcnow())
    session.add(case)


def run_deadlines(rt: Runtime, *, owner: str | None = None) -> int:
    """Fire every due deadline timer once; returns how many fired."""
    with Session(rt.db, expire_on_commit=False) as session:
        return scheduler.run_due(
            session, rt.specs, owner=owner or owner_name(), on_fired=partial(_on_fired, rt)
        )


class DeadlineScheduler:
    """A daemon thread that runs due deadline timers every `interval` seconds."""

    def __init__(self, rt: Runtime, interval: float = 30.0) -> None:
        self._rt = rt
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        owner = owner_name()
        while not self._stop.wait(self._interval):
            try:
                run_deadlines(self._rt, owner=owner)
            except Exception:  # the jobs keep their state; their locks expire and they rerun
                log.exception("deadline round failed")
