"""Move a running instance to another version of its process (a newer deployment).

SpiffWorkflow compares the two specs (`SpecDiff`: which element of the old version is which of
the new, by id and then by its place among its neighbours), then the instance's tasks against
that (`WorkflowDiff`), and `migrate_workflow` points every task at its new spec and predicts
again the branches that wait (READY or WAITING tasks keep their ids, their descendants are
predicted anew). Around that, this module tells what the move would do to the case, before it
is done: where each active step lands, which steps the new version adds ahead of the case or
behind it (skipped), which finished steps the case would pass again, which deadline timers
move, and why an instance cannot be moved at all (`Refusal`).

A migration works on the workflow it is given: plan on a restored copy, save the same object
(`save_migrated`) to apply it. No HTTP and no knowledge of cases here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from engine import cases, store
from engine.cases import _running  # a step's failure as one StepFailed, as everywhere
from engine.specs import ProcessSpec

# Converts task specs to dictionaries, which is how `SpecDiff` tells a changed spec
_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
ACTIVE = TaskState.READY | TaskState.WAITING


@dataclass(frozen=True)
class Step:
    """An element of a process: its BPMN id and the name a person reads."""

    bpmn_id: str
    name: str


@dataclass(frozen=True)
class Landing:
    """Where an active task of the instance (READY or WAITING) stands in the new version."""

    task_id: str
    old: Step
    new: Step
    state: str  # "ready" | "waiting"
    changed: tuple[str, ...] = ()  # the attributes of its spec that differ (e.g. "lane")


@dataclass(frozen=True)
class DeadlineMove:
    """A deadline timer whose moment changes (`new_due` None: it no longer waits; `old_due`
    None: it waits only in the new version)."""

    bpmn_id: str
    item: str | None
    deadline: str
    old_due: datetime | None
    new_due: datetime | None


@dataclass(frozen=True)
class Refusal:
    """Why an instance cannot be moved: `code` (removed_active, removed_finished,
    subprocess_removed, waits_forever, step_failed, state), the element concerned, and a
    detail in English."""

    code: str
    element: Step
    detail: str = ""


@dataclass
class Migration:
    """What moving an instance does (see the module's docstring)."""

    landings: list[Landing] = field(default_factory=list)
    ahead: list[Step] = field(default_factory=list)  # added steps the instance will reach
    skipped: list[Step] = field(default_factory=list)  # added steps behind where it stands
    repeated: list[Step] = field(default_factory=list)  # passed steps it would pass again
    deadlines: list[DeadlineMove] = field(default_factory=list)
    refusal: Refusal | None = None
    added: list[Step] = field(default_factory=list)  # every step the new version adds
    removed: list[Step] = field(default_factory=list)  # every step the new version drops

    @property
    def ok(self) -> bool:
        return self.refusal is None


def _step(task_spec) -> Step:
    bpmn_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
    return Step(bpmn_id, getattr(task_spec, "bpmn_name", None) or bpmn_id)


def _is_step(task_spec) -> bool:
    """A task a case passes through (user, business rule, script, service, call activity),
    not a gateway, an event or the engine's own start and end specs."""
    name = type(task_spec).__name__
    return getattr(task_spec, "bpmn_id", None) is not None and (
        name.endswith("Task") or name in {"CallActivity", "SubWorkflowTask"}
    )


def _is_timer(spec: ProcessSpec, task) -> bool:
    return getattr(task.task_spec, "bpmn_id", None) in spec.timers


def _reachable(starts: Iterable) -> set:
    """Every task spec reachable from `starts` (themselves included) along the flows."""
    seen: set = set()
    stack = list(starts)
    while stack:
        task_spec = stack.pop()
        if task_spec in seen:
            continue
        seen.add(task_spec)
        stack.extend(task_spec.outputs)
    return seen


def _ordered(specs: Iterable) -> list[Step]:
    return sorted({_step(s) for s in specs if _is_step(s)}, key=lambda s: s.bpmn_id)


def migrate(
    workflow: BpmnWorkflow,
    old: ProcessSpec,
    new: ProcessSpec,
    *,
    passed: Collection[str] = (),
    keep_deadlines: bool = True,
) -> Migration:
    """Move `workflow` (an instance of `old`) to `new`, in place, and say what that did.
    `passed`: BPMN ids of steps the instance finished (the read model keeps them after the
    tree dropped finished history), to tell which ones it would pass again. A deadline timer
    whose definition is unchanged keeps its moment (`keep_deadlines`); a changed one is
    evaluated again. On a refusal the workflow may be half-moved: do not save it."""
    result = Migration()
    spec_diff = SpecDiff(_REGISTRY, workflow.spec, new.spec)
    result.added = _ordered(spec_diff.added)
    result.removed = _ordered(spec_diff.removed)
    top, sub_diffs = diff_workflow(_REGISTRY, workflow, new.spec, new.subprocess_specs)
    for sp_id, sp_diff in sub_diffs.items():
        if sp_diff is None:
            task = workflow.get_task_from_id(sp_id)
            result.refusal = Refusal("subprocess_removed", _step(task.task_spec))
            return result
    before_active = workflow.get_tasks(state=ACTIVE)
    for task in top.removed:  # predicted tasks are predicted anew; these would stay
        if task.has_state(ACTIVE):
            result.refusal = Refusal("removed_active", _step(task.task_spec))
            return result
        if task.has_state(TaskState.FINISHED_MASK):
            result.refusal = Refusal("removed_finished", _step(task.task_spec))
            return result
    old_due = {t.task_id: t for t in cases.observe(old, workflow).pending}
    kept_values = {
        task.id: task._get_internal_data("event_value")
        for task in before_active
        if task.state == TaskState.WAITING and _is_timer(old, task)
    }
    changed_specs = {ts.name for ts in spec_diff.changed}
    for task in before_active:
        new_spec = top.alignment.get(task)
        if new_spec is None or not (_is_step(task.task_spec) or _is_timer(old, task)):
            continue
        result.landings.append(
            Landing(
                task_id=str(task.id),
                old=_step(task.task_spec),
                new=_step(new_spec),
                state="ready" if task.state == TaskState.READY else "waiting",
                changed=tuple(spec_diff.changed.get(task.task_spec, ())),
            )
        )
    old_ahead = _reachable(t.task_spec for t in before_active)
    migrate_workflow(top, workflow, new.spec)
    for sp_id, sp_diff in sub_diffs.items():
        subprocess = workflow.subprocesses[sp_id]
        migrate_workflow(sp_diff, subprocess, new.subprocess_specs[subprocess.spec.name])
    if keep_deadlines:
        for task_id, value in kept_values.items():
            task = workflow.tasks.get(task_id)
            if task is not None and value is not None and task.task_spec.name not in changed_specs:
                task._set_internal_data(event_value=value)
    try:
        with _running():
            workflow.refresh_timers()
            workflow.do_engine_steps()
    except cases.StepFailed as failure:
        result.refusal = Refusal(
            "step_failed", Step(failure.element_id, failure.element_name), failure.reason
        )
        return result
    active = workflow.get_tasks(state=ACTIVE)
    ahead = _reachable(t.task_spec for t in active)
    added = set(spec_diff.added)
    result.ahead = _ordered(added & ahead)
    result.skipped = _ordered(added - ahead)
    old_by_new = {new_spec: old_spec for old_spec, new_spec in spec_diff.alignment.items()}
    finished = {t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)}
    result.repeated = _ordered(
        s
        for s in ahead
        if s in old_by_new
        and old_by_new[s] not in old_ahead
        and (s.bpmn_id in passed or s.bpmn_id in finished)
    )
    stuck = _waits_forever(workflow, ahead)
    if stuck is not None:
        result.refusal = stuck
        return result
    new_due = {t.task_id: t for t in cases.observe(new, workflow).pending}
    for task_id in old_due.keys() | new_due.keys():
        before, after = old_due.get(task_id), new_due.get(task_id)
        if before is not None and after is not None and before.due_at == after.due_at:
            continue
        timer = after or before
        result.deadlines.append(
            DeadlineMove(
                timer.bpmn_id,
                timer.item,
                timer.deadline,
                before.due_at if before else None,
                after.due_at if after else None,
            )
        )
    result.deadlines.sort(key=lambda d: (d.item or "", d.deadline))
    try:
        cases.restore(cases.dump(workflow), new)
    except Exception as exc:  # noqa: BLE001 - any failure means the state does not fit
        result.refusal = Refusal("state", Step(new.process_id, new.name), repr(exc)[:300])
    return result


def _waits_forever(workflow: BpmnWorkflow, ahead: set) -> Refusal | None:
    """A parallel join ahead of the instance (or waiting now) with an incoming flow that no
    branch delivered and none still can: a branch the new version adds where the instance
    has already passed the fork. The join would wait for it forever."""
    joins = {s for s in ahead if isinstance(s, ParallelGateway) and len(s.inputs) > 1}
    joins |= {
        t.task_spec
        for t in workflow.get_tasks(state=TaskState.WAITING)
        if isinstance(t.task_spec, ParallelGateway)
    }
    for join in joins:
        delivered = set()
        for task in workflow.get_tasks(spec_name=join.name):
            ancestor = task.parent
            while ancestor is not None:
                if ancestor.task_spec in join.inputs:
                    delivered.add(ancestor.task_spec)
                    break
                ancestor = ancestor.parent
        for source in join.inputs:
            if source not in delivered and source not in ahead:
                return Refusal(
                    "waits_forever",
                    _step(join),
                    f"the flow from {_step(source).bpmn_id} can no longer be reached",
                )
    return None


def save_migrated(
    session: Session,
    spec: ProcessSpec,
    instance: store.ProcessInstance,
    workflow: BpmnWorkflow,
    filename: str,
) -> store.Changes:
    """Save a migrated workflow as an instance of `spec`, in the caller's transaction: its
    state (optimistically: `StaleInstance` if another writer saved the instance since it was
    read), its definition, and the read model (task rows opened and closed; the names and
    lanes of the tasks still open, the moments of the timers still pending, which the new
    version may have changed)."""
    store.ensure_definition(session, spec, filename)
    changes = store.save_instance(session, spec, instance, workflow)
    table = store.ProcessInstance.__table__
    session.execute(
        update(table)
        .where(table.c.id == instance.id, table.c.version == instance.version)
        .values(definition_key=spec.key, process_id=spec.process_id)
    )
    set_committed_value(instance, "definition_key", spec.key)
    set_committed_value(instance, "process_id", spec.process_id)
    observed = cases.observe(spec, workflow)
    tasks = store.HumanTask.__table__
    for task in observed.ready:
        session.execute(
            update(tasks)
            .where(tasks.c.id == task.task_id, tasks.c.state == "ready")
            .values(bpmn_id=task.bpmn_id, name=task.name, lane=task.lane, item=task.item)
        )
    timers = store.TimerJob.__table__
    for timer in observed.pending:
        session.execute(
            update(timers)
            .where(timers.c.id == timer.task_id, timers.c.status == "pending")
            .values(due_at=timer.due_at, item=timer.item, deadline=timer.deadline)
        )
    return changes


def spec_changes(old: ProcessSpec, new: ProcessSpec) -> tuple[list[Step], list[Step], list[Step]]:
    """The steps `new` adds, removes and changes compared with `old` (no instance needed)."""
    spec_diff = SpecDiff(_REGISTRY, old.spec, new.spec)
    return (
        _ordered(spec_diff.added),
        _ordered(spec_diff.removed),
        _ordered(spec_diff.changed),
    )
