"""Run process instances: start one, list its ready human tasks by lane, complete a task.

These functions work on live `BpmnWorkflow` objects; `engine.store` persists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.sandbox import sandboxed_script_engine
from engine.specs import ProcessSpec

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


def start(spec: ProcessSpec, data: dict[str, Any]) -> BpmnWorkflow:
    """Create an instance with `data` as its start data and run it to its first wait."""
    workflow = BpmnWorkflow(spec.spec, spec.subprocess_specs, script_engine=_SCRIPT_ENGINE)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
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
            )
        )
    return found


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
