"""Compaction of the task tree: a case that loops through corrections many times keeps a tree of
bounded size, and runs exactly as it would with its whole history kept (same ready tasks at every
step, same timers, same data at the end), whether it stays in memory or is restored from JSON."""

from __future__ import annotations

from collections import Counter

import pytest

from engine import cases
from engine.specs import SpecCache
from tests.engine.test_engine import NEWBORN, start_data

ROUNDS = 30
POLICE = "police_birth_registration"
HEALTH = "health_birth_medical_certificate"


def _ready(spec, workflow) -> Counter:
    return Counter((t.bpmn_id, t.lane, t.item, t.kind) for t in cases.ready_tasks(spec, workflow))


def _pending(spec, workflow) -> Counter:
    return Counter((t.bpmn_id, t.item, t.deadline) for t in cases.pending_timers(spec, workflow))


def _task(spec, workflow, item: str, kind: str | None = None):
    return next(t for t in cases.ready_tasks(spec, workflow) if t.item == item and t.kind == kind)


def _script(spec, workflow, *, compact: bool, cold: bool):
    """Run one scripted case; yield an observation after every step."""

    def step(workflow, observe_also=()):
        if compact:
            cases.compact(workflow)
        if cold:
            workflow = cases.restore(cases.dump(workflow), spec)
        return workflow, (_ready(spec, workflow), _pending(spec, workflow), *observe_also)

    for round_number in range(ROUNDS):
        clerk = _task(spec, workflow, POLICE)
        cases.complete(
            workflow, clerk.task_id, {f"decision_{POLICE}": "correction", "round": round_number}
        )
        workflow, seen = step(workflow)
        yield seen
        applicant = _task(spec, workflow, POLICE, "correction")
        cases.complete(workflow, applicant.task_id, {"applicant_phone": f"139{round_number:08d}"})
        workflow, seen = step(workflow)
        yield seen
        if round_number == ROUNDS // 2:  # a deadline passes in the middle of the loop
            warning = next(t for t in cases.pending_timers(spec, workflow) if t.item == HEALTH)
            assert cases.fire_timer(workflow, warning.task_id)
            workflow, seen = step(workflow)
            yield seen
    # Everything else is approved, in a fixed order
    while ready := sorted(cases.ready_tasks(spec, workflow), key=lambda t: t.bpmn_id):
        cases.complete(workflow, ready[0].task_id, {f"decision_{ready[0].item}": "approved"})
        workflow, seen = step(workflow)
        yield seen
    assert cases.is_completed(workflow)
    yield ("data", dict(workflow.data), len(workflow.tasks))


@pytest.mark.parametrize("cold", [False, True], ids=["in memory", "restored every step"])
def test_a_compacted_case_runs_exactly_like_the_full_history(cold):
    spec = SpecCache().load_file(NEWBORN, "newborn")
    full = list(_script(spec, cases.start(spec, start_data(True)), compact=False, cold=cold))
    compacted = list(_script(spec, cases.start(spec, start_data(True)), compact=True, cold=cold))
    assert len(full) == len(compacted)
    for number, (a, b) in enumerate(zip(full[:-1], compacted[:-1], strict=True)):
        assert a == b, f"step {number}"
    (_, data_full, size_full), (_, data_compacted, size_compacted) = full[-1], compacted[-1]
    assert data_full == data_compacted
    assert size_compacted < size_full / 4


def test_the_tree_stays_bounded_over_many_rounds():
    spec = SpecCache().load_file(NEWBORN, "newborn")
    workflow = cases.start(spec, start_data(False))
    sizes = []
    for _ in range(ROUNDS):
        clerk = _task(spec, workflow, POLICE)
        cases.complete(workflow, clerk.task_id, {f"decision_{POLICE}": "correction"})
        cases.compact(workflow)
        applicant = _task(spec, workflow, POLICE, "correction")
        cases.complete(workflow, applicant.task_id, {})
        cases.compact(workflow)
        sizes.append((len(workflow.tasks), len(cases.dump(workflow))))
    assert sizes[-1][0] <= sizes[0][0] + 5, sizes  # no growth with the rounds
    assert sizes[-1][1] <= sizes[0][1] * 1.2, sizes
    # Every task the tree keeps is reachable from the root, with consistent links
    for task in workflow.tasks.values():
        if task.parent is not None:
            assert task.id in task.parent._children
        assert all(child is not None and child.parent is task for child in task.children)
