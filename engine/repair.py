"""Repair a running instance by hand (an operator's work, issue 21): withdraw an item's task,
send a decided item back to its task, move a waiting step to another task of its branch, and
change a variable the process reads.

SpiffWorkflow 3.2 offers `reset_from_task_id`, which needs the finished task itself in the tree;
our trees are compacted (`engine.cases.compact`), so a decided task is often gone while the
task after it (a gateway, a join's input) is kept. These functions therefore place a new token
themselves: under a kept finished task (the *anchor*) a fresh task of the target's entry (the
task, or its boundary-event split when it carries deadline timers) is added, as the parallel
join's own reset handling expects, and the instance runs on to its next wait.

The functions change the live workflow only; the caller saves it (`engine.store.save_instance`)
in the transaction that records why, or rolls back. Nothing here knows HTTP or the services.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine import cases
from engine.cases import _running
from engine.specs import ProcessSpec

WITHDRAWN = "cancelled"  # the decision variable's value of an item withdrawn by hand

# A task in one of these states holds a token (a waiting join's token is taken back freely).
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


class RepairRefused(Exception):
    """The repair cannot be done on this instance; `code` says why (see each function)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def department_task(spec: ProcessSpec, item: str) -> str:
    """The bpmn id of the department's task of `item` (not the applicant's correction task)."""
    for bpmn_id, info in spec.user_tasks.items():
        if info.item == item and info.kind is None:
            return bpmn_id
    raise RepairRefused("no_task", item)


def ready_of_item(workflow: BpmnWorkflow, spec: ProcessSpec, item: str) -> list[Task]:
    """The item's ready human tasks (its department's, or the applicant's correction)."""
    return [
        task
        for task in workflow.get_tasks(state=TaskState.READY, manual=True)
        if (info := spec.user_tasks.get(task.task_spec.bpmn_id)) is not None and info.item == item
    ]


def withdraw_item(workflow: BpmnWorkflow, spec: ProcessSpec, item: str) -> None:
    """Withdraw the item's waiting task: its department's task completes with the decision
    `WITHDRAWN` (the process's own gateways then go on without it, to its join or to the next
    step); an applicant's correction task waiting first is completed unchanged, which hands the
    item back to its department's task, withdrawn in turn. Refused ("not_active") when the item
    has no waiting task. Raises StepFailed when the process cannot go on that way."""
    for _round in range(2):
        ready = ready_of_item(workflow, spec, item)
        if not ready:
            raise RepairRefused("not_active", item)
        task = ready[0]
        if spec.user_tasks[task.task_spec.bpmn_id].kind == "correction":
            cases.complete(workflow, str(task.id), {f"decision_{item}": None})
            continue
        cases.complete(
            workflow, str(task.id), {f"decision_{item}": WITHDRAWN, f"comment_{item}": ""}
        )
        return
    raise RepairRefused("not_active", item)


def reopen_item(workflow: BpmnWorkflow, spec: ProcessSpec, item: str) -> None:
    """Send a decided item back to its department: its task is ready again (with new deadline
    timers). The token is taken back from where the item's branch got to (a waiting join, the
    end of a completed instance). Refused ("active") when the item or a later step of its
    branch is still waiting, ("not_reached") when the instance never passed its task."""
    target = department_task(spec, item)
    branch = _downstream(workflow.spec, target)
    anchor = _latest(workflow, branch)
    if anchor is None:
        raise RepairRefused("not_reached", target)
    if any(_holds_token(task) for task in anchor):
        raise RepairRefused("active", target)
    _place(workflow, anchor, _entry(workflow.spec, target))


def move_targets(spec: ProcessSpec, bpmn_id: str) -> list[str]:
    """The department tasks a waiting task `bpmn_id` may be moved to: those of its own branch
    (reached from it, or reaching it, without passing a parallel or inclusive gateway), itself
    aside, in the process's order of tasks."""
    thread = _thread(spec.spec, bpmn_id)
    return [
        other
        for other, info in spec.user_tasks.items()
        if info.kind is None and other in thread and other != bpmn_id
    ]


def move(workflow: BpmnWorkflow, spec: ProcessSpec, task_id: str, target: str) -> None:
    """Move a waiting human task's token to the department task `target` of its branch (back to
    an earlier step, or on to a later one): the waiting task and its deadline timers are
    withdrawn, `target` is ready with new ones. Refused ("not_active") for a task that is not
    waiting, ("not_a_target") for a target `move_targets` does not offer."""
    task = _ready_task(workflow, task_id)
    if target not in move_targets(spec, task.task_spec.bpmn_id):
        raise RepairRefused("not_a_target", target)
    entry = task.parent if isinstance(task.parent.task_spec, BoundaryEventSplit) else task
    anchor = entry.parent
    workflow._remove_task(entry.id)
    _drop_orphans(workflow)
    _place(workflow, anchor, _entry(workflow.spec, target), keep_children=True)


def set_variables(workflow: BpmnWorkflow, values: dict[str, Any]) -> None:
    """Change variables the process reads (a corrected fact) everywhere the instance keeps
    them: every unfinished task's data, every finished task's that holds them (a join merges
    its inputs' data when it fires), and the workflow's."""
    for task in workflow.tasks.values():
        if not task.has_state(TaskState.FINISHED_MASK) or any(key in task.data for key in values):
            task.data.update(values)
    workflow.data.update({key: value for key, value in values.items() if key in workflow.data})


# ---------------------------------------------------------------- tokens


def _ready_task(workflow: BpmnWorkflow, task_id: str) -> Task:
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except Exception as exc:  # SpiffWorkflow raises its own TaskNotFound or KeyError
        raise RepairRefused("not_active", task_id) from exc
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise RepairRefused("not_active", task_id)
    return task


def _holds_token(task: Task) -> bool:
    return task.has_state(_ACTIVE) and not isinstance(task.task_spec, UnstructuredJoin)


def _spec(process: BpmnProcessSpec, bpmn_id: str) -> TaskSpec:
    for task_spec in process.task_specs.values():
        if getattr(task_spec, "bpmn_id", None) == bpmn_id:
            return task_spec
    raise RepairRefused("no_task", bpmn_id)


def _entry(process: BpmnProcessSpec, bpmn_id: str) -> TaskSpec:
    """The spec a token enters `bpmn_id` by: its boundary-event split if it has timers."""
    task_spec = _spec(process, bpmn_id)
    splits = [spec for spec in task_spec.inputs if isinstance(spec, BoundaryEventSplit)]
    return splits[0] if splits else task_spec


def _is_barrier(task_spec: TaskSpec) -> bool:
    """A parallel or inclusive gateway: a branch does not reach past it."""
    return isinstance(task_spec, UnstructuredJoin)


def _walk(start: TaskSpec, neighbours) -> set[TaskSpec]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in neighbours(queue.popleft()):
            if nxt not in seen and not _is_barrier(nxt):
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _downstream(process: BpmnProcessSpec, bpmn_id: str) -> set[TaskSpec]:
    """The specs from the task (its entry included) to the next parallel or inclusive gateway,
    stopping before any other department task's entry: the item's own branch."""
    entry = _entry(process, bpmn_id)
    start = _spec(process, bpmn_id)
    others = {
        spec
        for spec in process.task_specs.values()
        if spec is not start and getattr(spec, "manual", False)
    }
    stops = others | {spec for other in others for spec in other.inputs if _is_split(spec)}

    def onward(task_spec: TaskSpec) -> Iterable[TaskSpec]:
        return [spec for spec in task_spec.outputs if spec not in stops or spec is entry]

    found = _walk(entry, onward)
    return found - {spec for spec in found if getattr(spec, "manual", False) and spec is not start}


def _is_split(task_spec: TaskSpec) -> bool:
    return isinstance(task_spec, BoundaryEventSplit)


def _thread(process: BpmnProcessSpec, bpmn_id: str) -> set[str]:
    """The bpmn ids connected to the task in both directions without a parallel gateway."""
    found = _walk(_spec(process, bpmn_id), lambda spec: [*spec.outputs, *spec.inputs])
    return {spec.bpmn_id for spec in found if getattr(spec, "bpmn_id", None)}


def _latest(workflow: BpmnWorkflow, specs: set[TaskSpec]) -> Task | None:
    """The finished task of `specs` that finished last (the deepest among equals)."""
    found = [
        task
        for task in workflow.tasks.values()
        if task.task_spec in specs and task.state == TaskState.COMPLETED
    ]
    if not found:
        return None
    return max(found, key=lambda task: (task.last_state_change, task.depth))


def _drop_orphans(workflow: BpmnWorkflow) -> None:
    """Forget removed tasks everywhere: a task whose parent is gone (a compacted tree may name
    a parent that no longer lists it), and the removed timers SpiffWorkflow's event manager
    still holds (removing a task does not tell it; it would refresh them at the next step)."""
    while orphans := [
        task_id
        for task_id, task in workflow.tasks.items()
        if task._parent is not None and task._parent not in workflow.tasks
    ]:
        for task_id in orphans:
            workflow.tasks.pop(task_id, None)
    waiting = workflow.event_manager.tasks
    for task_id in [task_id for task_id in waiting if task_id not in workflow.tasks]:
        del waiting[task_id]


def _place(
    workflow: BpmnWorkflow, anchor: Task, entry: TaskSpec, *, keep_children: bool = False
) -> None:
    """Put a new token on `entry` under `anchor` (its other children dropped unless
    `keep_children`) and run the instance to its next wait."""
    if not keep_children:
        anchor._drop_children(force=True)
        _drop_orphans(workflow)
    child = anchor._add_child(entry, TaskState.FUTURE)
    entry._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
    entry._update(child)
    workflow.completed = False
    workflow.last_task = anchor
    with _running():
        workflow.do_engine_steps()
