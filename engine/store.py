"""Persist process definitions, instance state and the human-task read model.

Everything here runs inside the caller's database transaction: the caller writes its own
rows (cases, audit events) in the same session and commits once, so state, task rows and
events land together or not at all. Saving is optimistic: an instance row carries a version,
and a save that finds another writer got there first raises `StaleInstance`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import JSON, Column, Index, LargeBinary, Text, event, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, Session, SQLModel, select

from engine import cases, clock
from engine.specs import ProcessSpec, SpecCache


def utcnow() -> datetime:
    return clock.utcnow()


class StaleInstance(Exception):
    """Another transaction saved the instance since it was loaded."""


class ProcessDefinition(SQLModel, table=True):
    """A BPMN file's content as deployed; instances refer to it by content hash."""

    __tablename__ = "process_definition"
    key: str = Field(primary_key=True, max_length=64)
    process_id: str = Field(primary_key=True, max_length=200)
    filename: str = Field(max_length=200)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    decisions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


_INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}


class ProcessInstance(SQLModel, table=True):
    __tablename__ = "process_instance"
    id: int | None = Field(default=None, primary_key=True)
    definition_key: str = Field(max_length=64)
    process_id: str = Field(max_length=200)
    state: str = Field(sa_column=Column(Text, nullable=False))
    version: int = 1
    completed: bool = Field(default=False, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class HumanTask(SQLModel, table=True):
    """Read model of a human task (which lane it waits in, without restoring the instance),
    and of the automatic checks that ran (kind "check", with their decision and finding)."""

    __tablename__ = "human_task"
    id: str = Field(primary_key=True, max_length=36)
    instance_id: int = Field(foreign_key="process_instance.id", index=True)
    bpmn_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    lane: str | None = Field(default=None, max_length=64, index=True)
    item: str | None = Field(default=None, max_length=100)
    state: str = Field(default="ready", max_length=16, index=True)  # ready | completed
    kind: str = Field(default="user", max_length=12)  # user | correction | check | timer
    decision: str | None = Field(default=None, max_length=16)
    finding: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


class TimerJob(SQLModel, table=True):
    """A deadline timer due at a moment: the scheduler acquires due jobs in batches, with a lock
    owner and expiry (a crashed process's jobs are taken over), and completes each in the same
    transaction as the case step it runs."""

    __tablename__ = "timer_job"
    __table_args__ = (Index("ix_timer_job_due", "status", "due_at"),)
    id: str = Field(primary_key=True, max_length=36)  # the timer task's id
    instance_id: int = Field(foreign_key="process_instance.id", index=True)
    item: str | None = Field(default=None, max_length=100)
    deadline: str = Field(max_length=16)
    due_at: datetime
    status: str = Field(default="pending", max_length=12)  # pending | done | void
    locked_by: str | None = Field(default=None, max_length=64)
    lock_expires_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


@dataclass
class Changes:
    """What a save changed: human tasks opened and closed, automatic checks that ran, deadline
    timers that fired."""

    opened: list[HumanTask] = field(default_factory=list)
    closed: list[HumanTask] = field(default_factory=list)
    checked: list[HumanTask] = field(default_factory=list)
    fired: list[HumanTask] = field(default_factory=list)


def ensure_definition(session: Session, spec: ProcessSpec, filename: str) -> None:
    """Store the spec's BPMN content once, so instances outlive edits of the file.

    Several processes may start the first case of a new definition at the same moment: the row
    is inserted with ON CONFLICT DO NOTHING, so the one that comes second does not fail."""
    if session.get(ProcessDefinition, (spec.key, spec.process_id)) is not None:
        return
    values = {
        "key": spec.key,
        "process_id": spec.process_id,
        "filename": filename,
        "content": spec.content,
        "decisions": {name: text.decode() for name, text in spec.decisions},
        "created_at": utcnow(),
    }
    insert = _INSERTS.get(session.get_bind().dialect.name)
    if insert is None:
        session.add(ProcessDefinition(**values))
        return
    session.execute(insert(ProcessDefinition).values(**values).on_conflict_do_nothing())


def spec_for(session: Session, specs: SpecCache, instance: ProcessInstance) -> ProcessSpec:
    """The spec an instance runs on, parsed from the stored definition if not cached."""
    spec = specs.get(instance.definition_key, instance.process_id)
    if spec is None:
        definition = session.get(ProcessDefinition, (instance.definition_key, instance.process_id))
        if definition is None:
            raise LookupError(f"process definition {instance.definition_key} is missing")
        decisions = tuple((name, text.encode()) for name, text in definition.decisions.items())
        spec = specs.load(definition.content, instance.process_id, definition.filename, decisions)
    return spec


@dataclass(frozen=True)
class _Observed:
    """What the read model takes from a workflow's tree, read before the tree is compacted."""

    ready: list
    checks: list
    pending: dict
    fired: dict


def _observe(spec: ProcessSpec, workflow: BpmnWorkflow) -> _Observed:
    timers = bool(spec.timers)
    return _Observed(
        ready=cases.ready_tasks(spec, workflow),
        checks=cases.finished_checks(spec, workflow),
        pending={t.task_id: t for t in cases.pending_timers(spec, workflow)} if timers else {},
        fired={t.task_id: t for t in cases.fired_timers(spec, workflow)} if timers else {},
    )


def _sync_tasks(
    session: Session, spec: ProcessSpec, instance_id: int, observed: _Observed, now: datetime
) -> Changes:
    """Insert rows for newly ready tasks and new check results, close rows no longer ready."""
    changes = Changes()
    ready = observed.ready
    open_rows = session.exec(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
    ).all()
    by_id = {row.id: row for row in open_rows}
    ready_ids = {task.task_id for task in ready}
    for row in open_rows:
        if row.id not in ready_ids:
            row.state = "completed"
            row.completed_at = now
            session.add(row)
            changes.closed.append(row)
    checks = observed.checks
    if checks:
        seen = set(
            session.exec(
                select(HumanTask.id).where(
                    HumanTask.instance_id == instance_id, HumanTask.kind == "check"
                )
            ).all()
        )
        for check in checks:
            if check.task_id in seen:
                continue
            row = HumanTask(
                id=check.task_id,
                instance_id=instance_id,
                bpmn_id=check.bpmn_id,
                name=check.bpmn_id,
                lane=check.lane,
                item=check.item,
                state="completed",
                kind="check",
                decision=check.decision,
                finding=check.finding[:500],
                created_at=now,
                completed_at=now,
            )
            session.add(row)
            changes.checked.append(row)
    _sync_timers(session, spec, instance_id, observed, now, changes)
    for task in ready:
        if task.task_id not in by_id:
            row = HumanTask(
                id=task.task_id,
                instance_id=instance_id,
                bpmn_id=task.bpmn_id,
                name=task.name,
                lane=task.lane,
                item=task.item,
                kind=task.kind or "user",
                created_at=now,
            )
            session.add(row)
            changes.opened.append(row)
    return changes


def _sync_timers(
    session: Session,
    spec: ProcessSpec,
    instance_id: int,
    observed: _Observed,
    now: datetime,
    changes: Changes,
) -> None:
    """Schedule new deadline timers, void those whose task finished, record those that fired."""
    if not spec.timers:
        return
    pending = observed.pending
    fired = observed.fired
    jobs = {
        job.id: job
        for job in session.exec(select(TimerJob).where(TimerJob.instance_id == instance_id)).all()
    }
    for task_id, timer in pending.items():
        if task_id not in jobs:
            session.add(
                TimerJob(
                    id=task_id,
                    instance_id=instance_id,
                    item=timer.item,
                    deadline=timer.deadline,
                    due_at=timer.due_at,
                )
            )
    for job in jobs.values():
        if job.status == "pending" and job.id not in pending:
            job.status = "done" if job.id in fired else "void"
            session.add(job)
    recorded = set(
        session.exec(
            select(HumanTask.id).where(
                HumanTask.instance_id == instance_id, HumanTask.kind == "timer"
            )
        ).all()
    )
    for task_id, timer in fired.items():
        if task_id in recorded:
            continue
        row = HumanTask(
            id=task_id,
            instance_id=instance_id,
            bpmn_id=timer.bpmn_id,
            name=timer.bpmn_id,
            item=timer.item,
            state="completed",
            kind="timer",
            decision=timer.deadline,
            created_at=now,
            completed_at=now,
        )
        session.add(row)
        changes.fired.append(row)


def create_instance(
    session: Session, spec: ProcessSpec, workflow: BpmnWorkflow, filename: str
) -> tuple[ProcessInstance, Changes]:
    """Insert a new instance and its task rows; returns the instance and what opened."""
    ensure_definition(session, spec, filename)
    now = utcnow()
    instance = ProcessInstance(
        definition_key=spec.key,
        process_id=spec.process_id,
        state=cases.dump(workflow),
        completed=cases.is_completed(workflow),
        created_at=now,
        updated_at=now,
    )
    session.add(instance)
    session.flush()
    _LIVE.keep_after_commit(session, instance.id, instance.version, workflow)
    return instance, _sync_tasks(session, spec, instance.id, _observe(spec, workflow), now)


def save_instance(
    session: Session, spec: ProcessSpec, instance: ProcessInstance, workflow: BpmnWorkflow
) -> Changes:
    """Write the new state if nobody else did since it was read; returns what changed.

    The read model takes what it needs from the tree first (checks, fired timers, ready tasks);
    then finished history is dropped from the tree (`cases.compact`) before it is written, so a
    step costs the same at the 200th step of a case as at the first."""
    now = utcnow()
    observed = _observe(spec, workflow)
    cases.compact(workflow)
    completed = cases.is_completed(workflow)
    result = session.execute(
        update(ProcessInstance)
        .where(ProcessInstance.id == instance.id, ProcessInstance.version == instance.version)
        .values(
            state=cases.dump(workflow),
            version=instance.version + 1,
            completed=completed,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StaleInstance(instance.id)
    # The row now holds what we wrote: tell the identity map without reading it back.
    for name, value in (
        ("version", instance.version + 1),
        ("completed", completed),
        ("updated_at", now),
    ):
        set_committed_value(instance, name, value)
    _LIVE.keep_after_commit(session, instance.id, instance.version, workflow)
    return _sync_tasks(session, spec, instance.id, observed, now)


class LiveWorkflows:
    """Workflows this process saved, by database and instance, so the next step on a case need
    not rebuild it from JSON. An entry enters only once its transaction has committed, and a
    loader takes it out (it owns the object from then on); a version mismatch means another
    process moved the case, and the stored state is restored instead. Entries are bound to the
    database engine that saved them (a process may hold several, e.g. tests): an instance id of
    another database never finds them."""

    def __init__(self, size: int = 2048) -> None:
        self._entries: dict[tuple[int, int], tuple[weakref.ref, int, BpmnWorkflow]] = {}
        self._size = size
        self._lock = threading.Lock()

    def keep_after_commit(
        self, session: Session, instance_id: int, version: int, workflow: BpmnWorkflow
    ) -> None:
        session.info.setdefault(_PENDING_KEY, {})[instance_id] = (version, workflow)

    def commit(self, session: Session) -> None:
        pending = session.info.pop(_PENDING_KEY, None)
        if not pending:
            return
        bind = session.get_bind()
        with self._lock:
            for instance_id, (version, workflow) in pending.items():
                key = (id(bind), instance_id)
                self._entries.pop(key, None)
                self._entries[key] = (weakref.ref(bind), version, workflow)
            while len(self._entries) > self._size:
                self._entries.pop(next(iter(self._entries)))

    def discard(self, session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)

    def take(self, session: Session, instance_id: int, version: int) -> BpmnWorkflow | None:
        bind = session.get_bind()
        with self._lock:
            entry = self._entries.pop((id(bind), instance_id), None)
        if entry is None or entry[0]() is not bind or entry[1] != version:
            return None
        return entry[2]


_PENDING_KEY = "onething.live_workflows"
_LIVE = LiveWorkflows()


@event.listens_for(OrmSession, "after_commit")
def _after_commit(session) -> None:
    _LIVE.commit(session)


@event.listens_for(OrmSession, "after_rollback")
def _after_rollback(session) -> None:
    _LIVE.discard(session)


def load_workflow(
    session: Session, specs: SpecCache, instance_id: int
) -> tuple[ProcessInstance, ProcessSpec, BpmnWorkflow]:
    """Read an instance row and its workflow: the live one this process saved last if the
    row's version is still that one, else restored from the stored state."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise LookupError(f"process instance {instance_id} does not exist")
    spec = spec_for(session, specs, instance)
    workflow = _LIVE.take(session, instance_id, instance.version)
    if workflow is None:
        workflow = cases.restore(instance.state)
    return instance, spec, workflow
