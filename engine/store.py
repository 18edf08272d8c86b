"""Persist process definitions, instance state and the human-task read model.

Everything here runs inside the caller's database transaction: the caller writes its own
rows (cases, audit events) in the same session and commits once, so state, task rows and
events land together or not at all. Saving is optimistic: an instance row carries a version,
and a save that finds another writer got there first raises `StaleInstance`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from sqlalchemy import Column, LargeBinary, Text, update
from sqlmodel import Field, Session, SQLModel, select

from engine import cases
from engine.specs import ProcessSpec, SpecCache


def utcnow() -> datetime:
    return datetime.now(UTC)


class StaleInstance(Exception):
    """Another transaction saved the instance since it was loaded."""


class ProcessDefinition(SQLModel, table=True):
    """A BPMN file's content as deployed; instances refer to it by content hash."""

    __tablename__ = "process_definition"
    key: str = Field(primary_key=True, max_length=64)
    process_id: str = Field(primary_key=True, max_length=200)
    filename: str = Field(max_length=200)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


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
    """Read model of a human task: which lane it waits in, without restoring the instance."""

    __tablename__ = "human_task"
    id: str = Field(primary_key=True, max_length=36)
    instance_id: int = Field(foreign_key="process_instance.id", index=True)
    bpmn_id: str = Field(max_length=200)
    name: str = Field(max_length=200)
    lane: str | None = Field(default=None, max_length=64, index=True)
    item: str | None = Field(default=None, max_length=100)
    state: str = Field(default="ready", max_length=16, index=True)  # ready | completed
    created_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


def ensure_definition(session: Session, spec: ProcessSpec, filename: str) -> None:
    """Store the spec's BPMN content once, so instances outlive edits of the file."""
    if session.get(ProcessDefinition, (spec.key, spec.process_id)) is None:
        session.add(
            ProcessDefinition(
                key=spec.key, process_id=spec.process_id, filename=filename, content=spec.content
            )
        )


def spec_for(session: Session, specs: SpecCache, instance: ProcessInstance) -> ProcessSpec:
    """The spec an instance runs on, parsed from the stored definition if not cached."""
    spec = specs.get(instance.definition_key, instance.process_id)
    if spec is None:
        definition = session.get(ProcessDefinition, (instance.definition_key, instance.process_id))
        if definition is None:
            raise LookupError(f"process definition {instance.definition_key} is missing")
        spec = specs.load(definition.content, instance.process_id, definition.filename)
    return spec


def _sync_tasks(
    session: Session, instance_id: int, ready: list[cases.ReadyTask], now: datetime
) -> tuple[list[HumanTask], list[HumanTask]]:
    """Insert rows for newly ready tasks and close rows no longer ready: (opened, closed)."""
    open_rows = session.exec(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
    ).all()
    by_id = {row.id: row for row in open_rows}
    ready_ids = {task.task_id for task in ready}
    closed = []
    for row in open_rows:
        if row.id not in ready_ids:
            row.state = "completed"
            row.completed_at = now
            session.add(row)
            closed.append(row)
    opened = []
    for task in ready:
        if task.task_id not in by_id:
            row = HumanTask(
                id=task.task_id,
                instance_id=instance_id,
                bpmn_id=task.bpmn_id,
                name=task.name,
                lane=task.lane,
                item=task.item,
                created_at=now,
            )
            session.add(row)
            opened.append(row)
    return opened, closed


def create_instance(
    session: Session, spec: ProcessSpec, workflow: BpmnWorkflow, filename: str
) -> tuple[ProcessInstance, list[HumanTask]]:
    """Insert a new instance and its ready task rows; returns the instance and opened tasks."""
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
    opened, _ = _sync_tasks(session, instance.id, cases.ready_tasks(spec, workflow), now)
    return instance, opened


def save_instance(
    session: Session, spec: ProcessSpec, instance: ProcessInstance, workflow: BpmnWorkflow
) -> tuple[list[HumanTask], list[HumanTask]]:
    """Write the new state if nobody else did since it was read; returns (opened, closed)."""
    now = utcnow()
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
    session.expire(instance)
    return _sync_tasks(session, instance.id, cases.ready_tasks(spec, workflow), now)


def load_workflow(
    session: Session, specs: SpecCache, instance_id: int
) -> tuple[ProcessInstance, ProcessSpec, BpmnWorkflow]:
    """Read an instance row and restore its workflow."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise LookupError(f"process instance {instance_id} does not exist")
    spec = spec_for(session, specs, instance)
    return instance, spec, cases.restore(instance.state)
