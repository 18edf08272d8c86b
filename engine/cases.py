"""Run process instances: start one, list its ready human tasks by lane, complete a task.

These functions work on live `BpmnWorkflow` objects; `engine.store` persists them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timers
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
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


class _WorkflowConverter(BpmnWorkflowConverter):
    """A top-level workflow's state without its process spec.

    SpiffWorkflow's own converter writes the whole parsed spec (every task spec, its flows and
    extensions: more than half of a newborn case's state) into every saved state, and parses it
    back on every restore. Our specs are immutable and stored once per definition
    (`engine.store.ProcessDefinition`, by content hash) and parsed once per process
    (`SpecCache`): a state names its spec and `restore` is given the parsed one. A state written
    with its spec (SpiffWorkflow's format, and ours before) restores as before."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["spec_name"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec: ProcessSpec | None = None):
        if "spec" in dct:  # a self-contained state
            return super().from_dict(dct)
        if spec is None or dct["spec_name"] != spec.spec.name:
            raise ValueError(f"the state of process {dct['spec_name']!r} needs its spec")
        workflow = self.target_class(spec.spec, spec.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: _WorkflowConverter})
)
_SCRIPT_ENGINE = sandboxed_script_engine()


class TaskNotReady(Exception):
    """The task does not exist in the instance or is not waiting for a person."""


class StepFailed(Exception):
    """The instance could not run on: a condition, script, timer expression or decision table
    failed (refused by the sandbox, over a bound, or an error in the code) at `element_id`.

    `reason` says why in English; the original exception is chained (`__cause__`). The workflow
    object is left half-way through the step: callers must not save it (roll back)."""

    def __init__(self, element_id: str, element_name: str, reason: str) -> None:
        super().__init__(f"{element_name or element_id}: {reason}")
        self.element_id = element_id
        self.element_name = element_name
        self.reason = reason


def _original(exc: BaseException) -> BaseException:
    """The exception SpiffWorkflow wrapped (its own exceptions chain the code's error)."""
    while isinstance(exc, SpiffWorkflowException):
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _failing_task(exc: Exception) -> Task | None:
    """The task whose step failed: SpiffWorkflow's exception names it, or else the innermost
    frame of SpiffWorkflow's task code that was working on one (e.g. a timer's date)."""
    task = getattr(exc, "task", None)
    if isinstance(task, Task):
        return task
    frame = exc.__traceback__
    while frame is not None:
        candidate = frame.tb_frame.f_locals.get("my_task")
        if isinstance(candidate, Task):
            task = candidate
        frame = frame.tb_next
    return task


MAX_REASON = 500  # characters of a StepFailed reason


def _step_failed(exc: Exception) -> StepFailed:
    task = _failing_task(exc)
    task_spec = task.task_spec if task is not None else getattr(exc, "task_spec", None)
    element_id = getattr(task_spec, "bpmn_id", None) or getattr(task_spec, "name", "") or ""
    element_name = getattr(task_spec, "bpmn_name", None) or ""
    cause = _original(exc)
    reason = _shortened(f"{type(cause).__name__}: {cause}", MAX_REASON * 3 // 5)
    context = str(exc).rstrip(". ") if cause is not exc else ""
    if context and str(cause) not in context:  # SpiffWorkflow names the expression or DMN row
        reason = f"{reason} ({_shortened(context, MAX_REASON * 2 // 5)})"
    return StepFailed(element_id, element_name, reason)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def _running() -> Iterator[None]:
    """Run a step of the instance; any failure of its code becomes one StepFailed."""
    try:
        yield
    except Exception as exc:
        raise _step_failed(exc) from exc


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
    variable the process reads and `data` does not give starts as None. Raises StepFailed when
    the process's code fails on the way."""
    workflow = BpmnWorkflow(spec.spec, spec.subprocess_specs, script_engine=_SCRIPT_ENGINE)
    start_data = {**spec.inputs({}), **data}
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(start_data)
    with _running():
        workflow.do_engine_steps()
    return workflow


def ready_tasks(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[ReadyTask]:
    """The human tasks ready to be worked, with the lane and item of each."""
    return [_ready(spec, task) for task in workflow.get_tasks(state=TaskState.READY, manual=True)]


def _ready(spec: ProcessSpec, task) -> ReadyTask:
    info = spec.user_tasks.get(task.task_spec.bpmn_id)
    return ReadyTask(
        task_id=str(task.id),
        bpmn_id=task.task_spec.bpmn_id,
        name=task.task_spec.bpmn_name or task.task_spec.bpmn_id,
        lane=task.task_spec.lane,
        item=info.item if info else None,
        kind=info.kind if info else None,
    )


def _timer(spec: ProcessSpec, task) -> Timer | None:
    info = spec.timers.get(task.task_spec.bpmn_id)
    due = task._get_internal_data("event_value")
    if info is None or due is None:
        return None
    moment = datetime.fromisoformat(str(due))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Timer(str(task.id), info.bpmn_id, info.item, info.kind or "", moment)


def pending_timers(spec: ProcessSpec, workflow: BpmnWorkflow) -> list[Timer]:
    """Deadline timers waiting to fire, with the moment each is due."""
    return observe(spec, workflow).pending


@dataclass(frozen=True)
class Observed:
    """What the read model takes from a workflow's tree: its ready human tasks (in tree order),
    the automatic checks that ran, the deadline timers waiting and those that fired."""

    ready: list[ReadyTask]
    checks: list[CheckResult]
    pending: list[Timer]
    fired: list[Timer]


def observe(spec: ProcessSpec, workflow: BpmnWorkflow) -> Observed:
    """The ready human tasks, finished checks, pending and fired timers in one walk of the
    tree (depth first, a subprocess before the task's children, as SpiffWorkflow walks it)."""
    ready, checks, pending, fired = [], [], [], []
    subprocesses = workflow.subprocesses
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        state, bpmn_id = task.state, task.task_spec.bpmn_id
        if state == TaskState.READY:
            if task.task_spec.manual:
                ready.append(_ready(spec, task))
        elif state == TaskState.COMPLETED:
            if bpmn_id in spec.checks:
                checks.append(_check(spec.checks[bpmn_id], task))
            elif bpmn_id in spec.timers and (timer := _timer(spec, task)) is not None:
                fired.append(timer)
        elif (
            state == TaskState.WAITING
            and bpmn_id in spec.timers
            and (timer := _timer(spec, task)) is not None
        ):
            pending.append(timer)
        children = task.children
        if children:
            stack.extend(reversed(children))
        subprocess = subprocesses.get(task.id)
        if subprocess is not None:
            stack.append(subprocess.task_tree)
    return Observed(ready, checks, pending, fired)


def fire_timer(workflow: BpmnWorkflow, task_id: str) -> bool:
    """Fire a waiting timer now (the scheduler decides when it is due, on its own clock) and run
    the instance on; False when the timer no longer waits (its task finished meanwhile). Raises
    StepFailed when the process's code fails on the way."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return False
    if task.state != TaskState.WAITING:
        return False
    task._set_internal_data(event_fired=True)
    with _running():
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
    return observe(spec, workflow).checks


def _check(info, task) -> CheckResult:
    return CheckResult(
        task_id=str(task.id),
        bpmn_id=info.bpmn_id,
        lane=info.lane,
        item=info.item,
        decision=str(task.data.get("check_decision") or "review"),
        finding=str(task.data.get("check_finding") or ""),
    )


def complete(workflow: BpmnWorkflow, task_id: str, data: dict[str, Any]) -> None:
    """Complete a ready human task with `data` and run the instance to its next wait; raises
    StepFailed when the process's code fails on the way."""
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception as exc:  # SpiffWorkflow raises its own TaskNotFound or KeyError
        raise TaskNotReady(task_id) from exc
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    task.data.update(data)
    with _running():
        task.run()
        workflow.do_engine_steps()


def is_completed(workflow: BpmnWorkflow) -> bool:
    return workflow.is_completed()


def decision_data(item: str, decision: str, comment: str) -> dict[str, Any]:
    """The data a department's decision on `item` hands its task (what the process reads)."""
    return {f"decision_{item}": decision, f"comment_{item}": comment}


@dataclass(frozen=True)
class Saving:
    """The engine's part of saving an instance: what the read model takes from the tree, whether
    the instance is completed, and the state to store."""

    observed: Observed
    completed: bool
    state: str


def saving(spec: ProcessSpec, workflow: BpmnWorkflow, *, new: bool = False) -> Saving:
    """Everything the engine does when an instance is saved (the store adds only SQL): a new
    instance is dumped as started; a stepped one is observed first, then its finished history
    is dropped (`compact`) before it is dumped, so a step costs the same at the 200th step of a
    case as at the first. The benchmark's server-path floor calls this too, so it follows the
    server's engine path."""
    if new:
        state = dump(workflow)
        return Saving(observe(spec, workflow), is_completed(workflow), state)
    observed = observe(spec, workflow)
    compact(workflow)
    return Saving(observed, is_completed(workflow), dump(workflow))


def dump(workflow: BpmnWorkflow) -> str:
    """The instance's state as JSON (SpiffWorkflow's serialization of the tasks and data; the
    spec is named, not included: see `_WorkflowConverter`)."""
    return _SERIALIZER.serialize_json(workflow)


def restore(state: str, spec: ProcessSpec) -> BpmnWorkflow:
    """An instance of `spec` from its JSON state, with the sandboxed script engine attached."""
    dct = json.loads(state, cls=_SERIALIZER.json_decoder_cls)
    _SERIALIZER.migrate(dct)
    workflow = _SERIALIZER.from_dict(dct, spec=spec)
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
