"""Run process instances: start one, list its ready human tasks by lane, complete a task.

These functions work on live `BpmnWorkflow` objects; `engine.store` persists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timers
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.sandbox import sandboxed_script_engine
from engine.specs import ProcessSpec


class _ClockTime(datetime):
    """datetime whose now() reads the engine's clock: SpiffWorkflow's timers then agree with
    the scheduler (and with tests that move the clock)."""

    @classmethod
    def now(cls, tz=None):
        moment = clock.utcnow()
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


spiff_timers.datetime = _ClockTime

_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_SCRIPT_ENGINE = sandboxed_script_engine()


class TaskNotReady(Exception):
    """The task does not exist in the instance or is not waiting for a person."""


@dataclass(frozen=True)
class ReadyTask:
    """A human task waiting in a lane."""

    task_id: str
    bpmn_id: str
    name: str
    lane: str | None
    item: str | None
    kind: str | None = None  # "correction": the applicant's task of sending back corrections


@dataclass(frozen=True)
class Timer:
    """A statutory-deadline timer (a BPMN boundary timer) waiting on a human task."""

    task_id: str
    bpmn_id: str
    item: str | None
    deadline: str  # "warning" or "overdue"
    due_at: datetime


def start(spec: ProcessSpec, data: dict[str, Any]) -> BpmnWorkflow:
    """Create an instance with `data` as its start data and run it to its first wait; every
    variable the process reads and `data` does not give starts as None."""
    workflow = BpmnWorkflow(spec.spec, spec.subprocess_specs, script_engine=_SCRIPT_ENGINE)
    start_data = {**spec.inputs({}), **data}
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(start_data)
    workflow.do_engine_steps()
    return workflow


def ready_tasks(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[ReadyTask]:
    """The human tasks ready to be worked, with the lane and item of each."""
    found = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        info = spec.user_tasks.get(task.task_spec.bpmn_id)
        found.append(
            ReadyTask(
                task_id=str(task.id),
                bpmn_id=task.task_spec.bpmn_id,
                name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
                lane=task.task_spec.lane,
                item=info.item if info else None,
                kind=info.kind if info else None,
            )
        )
    return found


def _timers(spec: ProcessSpec, workflow: BpmnWorkflow, state: TaskState) -> list[Timer]:
    found = []
    if not spec.timers:
        return found
    for task in workflow.get_tasks(state=state):
        info = spec.timers.get(task.task_spec.bpmn_id)
        due = task._get_internal_data("event_value")
        if info is None or due is None:
            continue
        moment = datetime.fromisoformat(str(due))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        found.append(Timer(str(task.id), info.bpmn_id, info.item, info.kind or "", moment))
    return found


def pending_timers(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[Timer]:
    """Deadline timers waiting to fire, with the moment each is due."""
    return _timers(spec, workflow, TaskState.WAITING)


def fired_timers(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[Timer]:
    """Deadline timers that have fired (their boundary events completed)."""
    return _timers(spec, workflow, TaskState.COMPLETED)


def fire_timer(workflow: BpmnWorkflow, task_id: str) -> bool:
    """Fire a waiting timer now (the scheduler decides when it is due, on its own clock) and run
    the instance on; False when the timer no longer waits (its task finished meanwhile)."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return False
    if task.state != TaskState.WAITING:
        return False
    task._set_internal_data(event_fired=True)
    workflow.refresh_timers()
    workflow.do_engine_steps()
    return True


@dataclass(frozen=True)
class CheckResult:
    """An automatic check (a DMN business-rule task bound to an item) that has run."""

    task_id: str
    bpmn_id: str
    lane: str | None
    item: str
    decision: str  # "approved" (instant approval, 秒批) or "review" (findings for the clerk)
    finding: str


def finished_checks(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[CheckResult]:
    """Every automatic check of the instance that has completed, with its decision and finding."""
    found = []
    if not spec.checks:
        return found
    for task in workflow.get_tasks(state=TaskState.COMPLETED):
        info = spec.checks.get(task.task_spec.bpmn_id)
        if info is None:
            continue
        found.append(
            CheckResult(
                task_id=str(task.id),
                bpmn_id=info.bpmn_id,
                lane=info.lane,
                item=info.item,
                decision=str(task.data.get("check_decision") or "review"),
                finding=str(task.data.get("check_finding") or ""),
            )
        )
    return found


def complete(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> None:
    """Complete a ready human task with `data` and run the instance to its next wait."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception as exc:  # SpiffWorkflow raises its own TaskNotFound or KeyError
        raise TaskNotReady(task_id) from exc
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()


def is_completed(workflow: BpmnWorkflow) -> bool:
    return workflow.is_completed()


def dump(workflow: BpmnWorkflow) -> str:
    """The instance's state as JSON (SpiffWorkflow's serialization)."""
    return _SERIALIZER.serialize_json(workflow)


def restore(state: str) -> BpmnWorkflow:
    """An instance from its JSON state, with the sandboxed script engine attached."""
    workflow = _SERIALIZER.deserialize_json(state)
    workflow.script_engine = _SCRIPT_ENGINE
    return workflow


# How many ancestors of each unfinished task compaction keeps: SpiffWorkflow looks a few levels
# up from a waiting task (a boundary-event join finds its split two levels up; a task inherits
# its data from its parent), never further.
KEEP_ANCESTORS = 4


def compact(workflow: BpmnWorkflow) -> int:
    """Drop finished history from the task tree; returns how many tasks were removed.

    Every step of a case adds tasks to SpiffWorkflow's tree and they stay, finished, for good: a
    correction loop taken a hundred times leaves hundreds of tasks, and every later step walks,
    dumps and restores them all. Our tables keep the history (task rows, decisions, events, fired
    timers), so the tree needs only what can still run. Kept: every unfinished task and its
    nearest ancestors (`KEEP_ANCESTORS`), every finished task of a parallel or inclusive join
    that is not an ancestor of unfinished work (the join merges their data when it fires) with
    its parent, the workflow's last task, tasks that own a subprocess, and the root. Finished
    subtrees holding none of these are removed; a chain of finished tasks between kept ones is
    shortened by linking each kept task to its nearest kept ancestor (descendant relations among
    kept tasks do not change, so loops and joins still tell iterations apart).

    Must run after the read model took what it needs from finished tasks (checks, fired timers).
    """
    tasks = workflow.tasks
    root = workflow.task_tree
    if len(tasks) < 64:  # small trees cost nothing to keep
        return 0
    keep: set = {root.id}
    if workflow.last_task is not None:
        keep.add(workflow.last_task.id)
    keep.update(task_id for task_id in workflow.subprocesses if task_id in tasks)
    for task in tasks.values():
        if not task.has_state(TaskState.FINISHED_MASK):
            ancestor, levels = task, 0
            while ancestor is not None and levels <= KEEP_ANCESTORS:
                keep.add(ancestor.id)
                ancestor, levels = ancestor.parent, levels + 1
        elif isinstance(task.task_spec, UnstructuredJoin):
            keep.add(task.id)
            if task._parent is not None:
                keep.add(task._parent)
    # A task is needed if it is kept or has a kept descendant (post-order over the tree).
    needed: set = set()
    order = []
    stack = [root]
    while stack:
        task = stack.pop()
        order.append(task)
        stack.extend(task.children)
    for task in reversed(order):
        if task.id in keep or any(child in needed for child in task._children):
            needed.add(task.id)
    if len(needed) == len(tasks):
        return 0
    removed = 0
    for task in order:
        if task.id not in needed:
            continue
        # Link each needed child to this task's nearest kept ancestor-or-self.
        children = [child for child in task._children if child in needed]
        if task.id not in keep and len(children) == 1 and task._parent is not None:
            continue  # spliced out below, by the kept ancestor
        task._children = []
        for child_id in children:
            child = tasks[child_id]
            # walk down a chain of spliceable tasks to the next task that stays
            while child.id not in keep:
                grandchildren = [c for c in child._children if c in needed]
                if len(grandchildren) != 1:
                    break
                child = tasks[grandchildren[0]]
            child._parent = task.id
            task._children.append(child.id)
    reachable = set()
    stack = [root.id]
    while stack:
        task_id = stack.pop()
        reachable.add(task_id)
        stack.extend(tasks[task_id]._children)
    for task_id in [t for t in tasks if t not in reachable]:
        del tasks[task_id]
        removed += 1
    return removed
