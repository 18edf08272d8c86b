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
from sqlalchemy import (
    JSON,
    Column,
    Index,
    LargeBinary,
    Text,
    bindparam,
    event,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, Session, SQLModel, select

from engine import cases
from engine.clock import utcnow
from engine.specs import ProcessSpec, SpecCache


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
# (definition key, process id) of the definitions each database is known to hold (committed)
_STORED_DEFINITIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NEW_DEFINITIONS_KEY = "onething.new_definitions"


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
    status: str = Field(default="pending", max_length=12)  # pending | done | void | failed
    locked_by: str | None = Field(default=None, max_length=64)
    lock_expires_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


@dataclass(slots=True)
class TaskRow:
    """A `human_task` row a save wrote (plain values: no ORM object is built for it)."""

    id: str
    instance_id: int
    bpmn_id: str
    name: str
    lane: str | None
    item: str | None
    state: str
    kind: str
    decision: str | None
    finding: str | None
    created_at: datetime
    completed_at: datetime | None

    def values(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass
class Changes:
    """What a save changed: human tasks opened and closed, automatic checks that ran, deadline
    timers that fired."""

    opened: list[TaskRow] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)  # ids of the human tasks no longer ready
    checked: list[TaskRow] = field(default_factory=list)
    fired: list[TaskRow] = field(default_factory=list)


def ensure_definition(session: Session, spec: ProcessSpec, filename: str) -> None:
    """Store the spec's BPMN content once, so instances outlive edits of the file.

    Several processes may start the first case of a new definition at the same moment: the row
    is inserted with ON CONFLICT DO NOTHING, so the one that comes second does not fail.
    Definitions are never deleted: once a database is known to hold one, it is not asked again."""
    known = _STORED_DEFINITIONS.setdefault(session.get_bind(), set())
    key = (spec.key, spec.process_id)
    if key in known:
        return
    if session.get(ProcessDefinition, key) is not None:
        if key not in session.info.get(_NEW_DEFINITIONS_KEY, ()):  # not only in this transaction
            known.add(key)
        return
    session.info.setdefault(_NEW_DEFINITIONS_KEY, set()).add(key)
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
class _Synced:
    """What the read-model tables hold of an instance after a save: the ids of its open human
    tasks, of the check and fired-timer rows recorded from tasks still in the tree, and of its
    pending timer jobs. Kept with the live workflow, so the next save of it writes only the
    difference, without reading the tables first."""

    ready: frozenset[str] = frozenset()
    checks: frozenset[str] = frozenset()
    fired: frozenset[str] = frozenset()
    pending: frozenset[str] = frozenset()


# The tables' state of each live workflow as of its last save (see `_Synced`). A workflow enters
# the live cache only once the transaction that saved it committed, and leaves it, taken, before
# anyone changes it again: its entry here always matches the committed tables.
_SYNCED: weakref.WeakKeyDictionary[BpmnWorkflow, _Synced] = weakref.WeakKeyDictionary()

_HUMAN_TASK = HumanTask.__table__
_TIMER_JOB = TimerJob.__table__
_INSTANCE = ProcessInstance.__table__
# The statements of every save, built once: building one (and its cache key) costs more than
# running it.
_CLOSE_TASKS = (
    update(_HUMAN_TASK)
    .where(_HUMAN_TASK.c.id.in_(bindparam("ids", expanding=True)), _HUMAN_TASK.c.state == "ready")
    .values(state="completed", completed_at=bindparam("now"))
)
_END_TIMERS = (
    update(_TIMER_JOB)
    .where(_TIMER_JOB.c.id.in_(bindparam("ids", expanding=True)), _TIMER_JOB.c.status == "pending")
    .values(status=bindparam("new_status"))
)
_INSERT_TASKS = insert(_HUMAN_TASK)
_INSERT_TIMERS = insert(_TIMER_JOB)
_SAVE_STATE = (
    update(_INSTANCE)
    .where(_INSTANCE.c.id == bindparam("instance_id"))
    .where(_INSTANCE.c.version == bindparam("read_version"))
    .values(
        state=bindparam("new_state"),
        version=bindparam("new_version"),
        completed=bindparam("now_completed"),
        updated_at=bindparam("now"),
    )
)


def _stored(session: Session, spec: ProcessSpec, instance_id: int) -> _Synced:
    """The read-model tables' state of an instance, read from them (a restored workflow)."""
    rows = session.execute(
        select(_HUMAN_TASK.c.id, _HUMAN_TASK.c.state, _HUMAN_TASK.c.kind).where(
            _HUMAN_TASK.c.instance_id == instance_id,
            (_HUMAN_TASK.c.state == "ready") | _HUMAN_TASK.c.kind.in_(("check", "timer")),
        )
    ).all()
    pending = ()
    if spec.timers:
        # Every timer with a job row, whatever its status: a timer whose firing failed (its job
        # "failed", or made "void" by an operator) still waits in the tree and must not be
        # scheduled again; ending one only ever touches pending jobs (_END_TIMERS).
        pending = session.execute(
            select(_TIMER_JOB.c.id).where(_TIMER_JOB.c.instance_id == instance_id)
        ).scalars()
    return _Synced(
        ready=frozenset(row.id for row in rows if row.state == "ready"),
        checks=frozenset(row.id for row in rows if row.kind == "check"),
        fired=frozenset(row.id for row in rows if row.kind == "timer"),
        pending=frozenset(pending),
    )


def _sync_tasks(
    session: Session,
    instance_id: int,
    observed: cases.Observed,
    before: _Synced,
    now: datetime,
) -> tuple[Changes, _Synced]:
    """Write what changed since `before`: rows for newly ready tasks, check results and fired
    timers, close rows no longer ready, schedule new deadline timers and end those whose task
    finished (done if it fired, void if not). Core statements, one per kind of change."""
    changes = Changes()
    ready = {task.task_id: task for task in observed.ready}
    changes.closed = [task_id for task_id in before.ready if task_id not in ready]
    if changes.closed:
        session.execute(_CLOSE_TASKS, {"ids": changes.closed, "now": now})
    for check in observed.checks:
        if check.task_id not in before.checks:
            row = _finished(instance_id, check, "check", check.decision, now)
            row.lane, row.finding = check.lane, check.finding[:500]
            changes.checked.append(row)
    for timer in observed.fired:
        if timer.task_id not in before.fired:
            changes.fired.append(_finished(instance_id, timer, "timer", timer.deadline, now))
    for task in observed.ready:
        if task.task_id not in before.ready:
            changes.opened.append(
                TaskRow(
                    id=task.task_id,
                    instance_id=instance_id,
                    bpmn_id=task.bpmn_id,
                    name=task.name,
                    lane=task.lane,
                    item=task.item,
                    state="ready",
                    kind=task.kind or "user",
                    decision=None,
                    finding=None,
                    created_at=now,
                    completed_at=None,
                )
            )
    new_rows = changes.checked + changes.fired + changes.opened
    if new_rows:
        session.execute(_INSERT_TASKS, [row.values() for row in new_rows])
    pending = {timer.task_id: timer for timer in observed.pending}
    scheduled = [
        {
            "id": task_id,
            "instance_id": instance_id,
            "item": timer.item,
            "deadline": timer.deadline,
            "due_at": timer.due_at,
            "status": "pending",
            "locked_by": None,
            "lock_expires_at": None,
            "attempts": 0,
            "last_error": None,
        }
        for task_id, timer in pending.items()
        if task_id not in before.pending
    ]
    if scheduled:
        session.execute(_INSERT_TIMERS, scheduled)
    fired = {timer.task_id for timer in observed.fired}
    ended = [task_id for task_id in before.pending if task_id not in pending]
    for status, ids in (
        ("done", [task_id for task_id in ended if task_id in fired]),
        ("void", [task_id for task_id in ended if task_id not in fired]),
    ):
        if ids:
            session.execute(_END_TIMERS, {"ids": ids, "new_status": status})
    synced = _Synced(
        ready=frozenset(ready),
        checks=frozenset(check.task_id for check in observed.checks),
        fired=frozenset(fired),
        pending=frozenset(pending),
    )
    return changes, synced


def _finished(instance_id: int, task, kind: str, decision: str, now: datetime) -> TaskRow:
    """The row of an automatic check or a deadline timer that ran (a finished task)."""
    return TaskRow(
        id=task.task_id,
        instance_id=instance_id,
        bpmn_id=task.bpmn_id,
        name=task.bpmn_id,
        lane=None,
        item=task.item,
        state="completed",
        kind=kind,
        decision=decision,
        finding=None,
        created_at=now,
        completed_at=now,
    )


def create_instance(
    session: Session, spec: ProcessSpec, workflow: BpmnWorkflow, filename: str
) -> tuple[ProcessInstance, Changes]:
    """Insert a new instance and its task rows; returns the instance and what opened."""
    ensure_definition(session, spec, filename)
    now = utcnow()
    saving = cases.saving(spec, workflow, new=True)
    instance = ProcessInstance(
        definition_key=spec.key,
        process_id=spec.process_id,
        state=saving.state,
        completed=saving.completed,
        created_at=now,
        updated_at=now,
    )
    session.add(instance)
    session.flush()
    if not saving.completed:
        _LIVE.keep_after_commit(session, instance.id, instance.version, workflow)
    changes, _SYNCED[workflow] = _sync_tasks(session, instance.id, saving.observed, _Synced(), now)
    return instance, changes


def save_instance(
    session: Session, spec: ProcessSpec, instance: ProcessInstance, workflow: BpmnWorkflow
) -> Changes:
    """Write the new state if nobody else did since it was read; returns what changed. The
    engine's part (observe, compact, dump) is `cases.saving`."""
    now = utcnow()
    before = _SYNCED.pop(workflow, None) or _stored(session, spec, instance.id)
    saving = cases.saving(spec, workflow)
    completed = saving.completed
    result = session.execute(
        _SAVE_STATE,
        {
            "instance_id": instance.id,
            "read_version": instance.version,
            "new_state": saving.state,
            "new_version": instance.version + 1,
            "now_completed": completed,
            "now": now,
        },
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
    if not completed:  # a finished workflow takes no further step
        _LIVE.keep_after_commit(session, instance.id, instance.version, workflow)
    changes, _SYNCED[workflow] = _sync_tasks(session, instance.id, saving.observed, before, now)
    return changes


class LiveWorkflows:
    """Workflows this process saved, by database and instance, so the next step on a case need
    not rebuild it from JSON. An entry enters only once its transaction has committed, and a
    loader takes it out (it owns the object from then on); a version mismatch means another
    process moved the case, and the stored state is restored instead. Entries are bound to the
    database engine that saved them (a process may hold several, e.g. tests): an instance id of
    another database never finds them.

    A kept workflow is some 200 objects (a newborn case's ~40 tasks, their data and events),
    which every full garbage collection traverses while the whole process waits: the entries
    are few (`size`, the newest first out last) and a finished workflow is not kept. What they
    save is a JSON restore (a few milliseconds) on a case's next step soon after its last;
    a step days later restores anyway."""

    def __init__(self, size: int = 256) -> None:
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
    inserted = session.info.pop(_NEW_DEFINITIONS_KEY, None)
    if inserted:
        _STORED_DEFINITIONS.setdefault(session.get_bind(), set()).update(inserted)


@event.listens_for(OrmSession, "after_rollback")
def _after_rollback(session) -> None:
    _LIVE.discard(session)
    session.info.pop(_NEW_DEFINITIONS_KEY, None)


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
        workflow = cases.restore(instance.state, spec)
    return instance, spec, workflow
