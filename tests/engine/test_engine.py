"""The engine adapter: spec cache, running the newborn process, persistence and its version check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import Session, SQLModel, create_engine, select

from engine import cases, store
from engine.sandbox import (
    SandboxError,
    SandboxLimit,
    check_expression,
    check_script,
    evaluate,
    sandboxed_script_engine,
)
from engine.specs import BPMN_MODEL, SPIFF, SpecCache, SpecError

NEWBORN = Path(__file__).resolve().parents[2] / "bpmn" / "newborn.bpmn"
DEPARTMENTS = {"health", "police", "medical", "hrss", "cdc"}


def start_data(maternity: bool, *, verified: bool = False) -> dict:
    """Process data as a submission gives it; `verified`: the birth certificate came from a registry."""
    return {
        "mother_maternity_insurance": maternity,
        "household_parent": "mother",
        "prefilled": ["child_birth_cert_number"] if verified else [],
        "time_limits": dict.fromkeys(
            (info.item for info in SpecCache().load_file(NEWBORN).user_tasks.values()), 5
        ),
    }


def test_spec_is_parsed_once_per_content():
    specs = SpecCache()
    first = specs.load_file(NEWBORN, "newborn")
    second = specs.load_file(NEWBORN, "newborn")
    assert first is second
    assert len(specs) == 1
    changed = NEWBORN.read_bytes().replace("一次办好".encode(), "办结".encode())
    third = specs.load(changed, "newborn", "newborn.bpmn", first.decisions)
    assert third is not first and third.key != first.key


def test_user_tasks_carry_lane_and_item():
    spec = SpecCache().load_file(NEWBORN, "newborn")
    lanes = {info.lane for info in spec.user_tasks.values() if info.kind != "correction"}
    assert lanes == DEPARTMENTS
    corrections = [info for info in spec.user_tasks.values() if info.kind == "correction"]
    assert corrections and {info.lane for info in corrections} == {"applicant"}
    assert all(info.item for info in spec.user_tasks.values())


def _legacy_lanes(content: bytes) -> bytes:
    """`content` as versions deployed before lanes were named: each lane named by its code."""
    root = etree.fromstring(content)
    for lane in root.iter(f"{{{BPMN_MODEL}}}lane"):
        extensions = lane.find(f"{{{BPMN_MODEL}}}extensionElements")
        code = extensions.find(f".//{{{SPIFF}}}property[@name='department']").get("value")
        lane.remove(extensions)
        lane.set("name", code)
    return etree.tostring(root)


def test_a_lane_routes_to_its_bound_department_and_a_legacy_lane_by_its_name():
    content = NEWBORN.read_bytes()
    assert "公安局".encode() in content  # the lane shows the department's name
    bound = SpecCache().load_file(NEWBORN, "newborn")
    legacy = SpecCache().load(_legacy_lanes(content), "newborn", "newborn.bpmn", bound.decisions)
    assert bound.key != legacy.key
    assert bound.user_tasks == legacy.user_tasks
    assert bound.user_tasks["Task_birth_registration"].lane == "police"
    assert set(bound.lanes) == set(legacy.lanes) == DEPARTMENTS | {"center", "applicant"}
    data = start_data(True)
    for spec in (bound, legacy):
        ready = cases.ready_tasks(spec, cases.start(spec, data))
        assert {t.lane for t in ready} == DEPARTMENTS


def test_invalid_bpmn_is_refused_with_message():
    with pytest.raises(SpecError, match="broken.bpmn"):
        SpecCache().load(b"<definitions>not bpmn", None, "broken.bpmn")


def _run_all(spec, workflow, completed_items):
    while ready := cases.ready_tasks(spec, workflow):
        task = ready[0]
        completed_items.append(task.item)
        cases.complete(workflow, task.task_id, {f"decision_{task.item}": "approved"})
        workflow = cases.restore(cases.dump(workflow), spec)
    return workflow


@pytest.mark.parametrize(("maternity", "expected"), [(True, 6), (False, 5)])
def test_newborn_routes_in_parallel_and_gateway_follows_data(maternity, expected):
    spec = SpecCache().load_file(NEWBORN, "newborn")
    workflow = cases.start(spec, start_data(maternity))
    ready = cases.ready_tasks(spec, workflow)
    assert len(ready) == expected
    assert {t.lane for t in ready} == DEPARTMENTS
    assert ("medical_maternity_allowance" in {t.item for t in ready}) is maternity
    done: list[str] = []
    workflow = _run_all(spec, workflow, done)
    assert cases.is_completed(workflow)
    assert len(done) == expected


def test_states_name_their_spec_and_older_self_contained_states_still_restore():
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

    spec = SpecCache().load_file(NEWBORN, "newborn")
    workflow = cases.start(spec, start_data(False))
    state = cases.dump(workflow)
    assert '"spec_name": "newborn"' in state and '"task_specs"' not in state
    # A state as SpiffWorkflow writes it (and we did before): the whole spec inside.
    stock = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    old_state = stock.serialize_json(workflow)
    assert len(state) < len(old_state) / 2
    for restored in (cases.restore(state, spec), cases.restore(old_state, spec)):
        assert [t.task_id for t in cases.ready_tasks(spec, restored)] == [
            t.task_id for t in cases.ready_tasks(spec, workflow)
        ]
        done: list[str] = []
        assert cases.is_completed(_run_all(spec, restored, done)) and len(done) == 5
    other = SpecCache().load(
        NEWBORN.read_bytes().replace(b'id="newborn"', b'id="other"'),
        "other",
        "other.bpmn",
        spec.decisions,
    )
    with pytest.raises(ValueError, match="needs its spec"):
        cases.restore(state, other)


def test_completing_a_task_twice_is_refused():
    spec = SpecCache().load_file(NEWBORN, "newborn")
    workflow = cases.start(spec, start_data(False))
    task = cases.ready_tasks(spec, workflow)[0]
    cases.complete(workflow, task.task_id, {})
    with pytest.raises(cases.TaskNotReady):
        cases.complete(workflow, task.task_id, {})
    with pytest.raises(cases.TaskNotReady):
        cases.complete(workflow, "not-a-uuid", {})


def test_store_saves_state_tasks_and_detects_a_stale_writer(tmp_path):
    db = create_engine(f"sqlite:///{tmp_path / 'engine.sqlite'}")
    SQLModel.metadata.create_all(db)
    specs = SpecCache()
    spec = specs.load_file(NEWBORN, "newborn")
    with Session(db) as session:
        workflow = cases.start(spec, start_data(False))
        instance, changes = store.create_instance(session, spec, workflow, "newborn.bpmn")
        session.commit()
        instance_id = instance.id
    assert len(changes.opened) == 5

    # A fresh cache (as after a restart) restores the spec from the stored definition.
    fresh = SpecCache()
    with Session(db) as first, Session(db) as second:
        inst1, spec1, wf1 = store.load_workflow(first, fresh, instance_id)
        inst2, spec2, wf2 = store.load_workflow(second, fresh, instance_id)
        task_id = cases.ready_tasks(spec1, wf1)[0].task_id
        cases.complete(wf1, task_id, {})
        changes = store.save_instance(first, spec1, inst1, wf1)
        first.commit()
        assert changes.closed == [task_id]
        cases.complete(wf2, cases.ready_tasks(spec2, wf2)[1].task_id, {})
        with pytest.raises(store.StaleInstance):
            store.save_instance(second, spec2, inst2, wf2)
        second.rollback()
    with Session(db) as session:
        states = session.exec(
            select(store.HumanTask.state).where(store.HumanTask.kind == "user")
        ).all()
        assert sorted(states) == ["completed", "ready", "ready", "ready", "ready"]


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "getattr(x, '__globals__')",
        "eval('1')",
    ],
)
def test_sandbox_refuses_escapes(source):
    assert check_expression(source)
    with pytest.raises(SandboxError):
        evaluate(source, {"x": 1})


def test_sandbox_refuses_import_in_scripts_and_evaluates_plain_conditions():
    assert check_script("import os\nos.system('true')")
    assert evaluate("mother_maternity_insurance == True", {"mother_maternity_insurance": True})
    assert evaluate("len(items) > 1 and 'a' in items", {"items": ["a", "b"]})


@pytest.mark.parametrize(
    "source",
    [
        "10 ** 10 ** n",
        "'x' * 10 ** n",
        "[0] * (10 ** n) * 10",
        "1 << 10 ** n",
        "sum(range(10 ** n))",
        "sum(1 for a in range(10 ** n) for b in range(10 ** n))",
        "len([a * b for a in range(2000 + n) for b in range(2000)])",
    ],
)
def test_sandbox_bounds_time_and_size_while_code_runs(source):
    assert check_expression(source) == []  # valid code over data, stopped by the bounds as it runs
    with pytest.raises(SandboxLimit):
        evaluate(source, {"n": 8})
    # written with constants only, the same bomb is computed under the bounds when it is checked
    assert check_expression(re.sub(r"\bn\b", "8", source))


def test_a_script_loop_counts_against_the_step_budget():
    script = (
        "total = 0\nfor a in range(100000):\n    for b in range(100000):\n        total = total + 1"
    )
    engine = sandboxed_script_engine()
    with pytest.raises(SandboxLimit):
        engine.environment.execute(script, {})
    small = {"n": 3}
    engine.environment.execute("total = 0\nfor a in range(n):\n    total = total + a", small)
    assert small == {"n": 3, "total": 3, "a": 2}


@pytest.mark.parametrize(
    "source",
    ["'{:>999999}'.format(1)", "f'{1:>99999}'", "f'{1:>{w}}'", "'a'.ljust(10 ** 9)"],
)
def test_padding_that_could_grow_without_bound_is_refused_before_it_runs(source):
    assert check_expression(source)


def test_bounded_arithmetic_still_works_as_python():
    assert evaluate("2 ** 10 + 3 * 4 - 7 % 3 + (1 << 4)", {}) == 1024 + 12 - 1 + 16
    assert evaluate("'ab' * 3 + f'{x:>5}'", {"x": 7}) == "ababab    7"
    assert evaluate("[a * 2 for a in range(4) if a]", {}) == [2, 4, 6]


def test_dmn_check_approves_instantly_or_passes_its_finding_to_the_clerk():
    spec = SpecCache().load_file(NEWBORN, "newborn")
    assert [c.item for c in spec.checks.values()] == ["medical_resident_enrollment"]
    instant = cases.start(spec, start_data(False, verified=True))
    assert "medical_resident_enrollment" not in {t.item for t in cases.ready_tasks(spec, instant)}
    [check] = cases.finished_checks(spec, instant)
    assert check.decision == "approved" and "即时办结" in check.finding
    review = cases.start(spec, start_data(False, verified=False))
    assert "medical_resident_enrollment" in {t.item for t in cases.ready_tasks(spec, review)}
    [check] = cases.finished_checks(spec, review)
    assert check.decision == "review" and "未能通过电子证照库核验" in check.finding


def test_retirement_check_hands_its_findings_to_the_clerk():
    spec = SpecCache().load_file(NEWBORN.parent / "retirement.bpmn", "retirement")
    base = {
        "applicant_statutory_retirement_date": "2026-12-15",
        "retirement_date": "2026-12-15",
        "time_limits": dict.fromkeys((i.item for i in spec.user_tasks.values()), 20),
    }
    eligible = cases.start(spec, {**base, "pension_contribution_months": 460})
    [check] = cases.finished_checks(spec, eligible)
    assert check.decision == "review" and "累计缴费460个月，满15年" in check.finding
    assert [t.item for t in cases.ready_tasks(spec, eligible)] == ["hrss_pension_claim"]
    short = cases.start(spec, {**base, "pension_contribution_months": 150})
    assert "不足15年" in cases.finished_checks(spec, short)[0].finding
    early = cases.start(
        spec, {**base, "retirement_date": "2026-06-01", "pension_contribution_months": 200}
    )
    assert "早于法定退休日期" in cases.finished_checks(spec, early)[0].finding


def test_a_live_workflow_is_reused_only_after_commit_and_at_its_version(tmp_path):
    db = create_engine(f"sqlite:///{tmp_path / 'live.sqlite'}")
    SQLModel.metadata.create_all(db)
    specs = SpecCache()
    spec = specs.load_file(NEWBORN, "newborn")
    with Session(db) as session:
        workflow = cases.start(spec, start_data(False))
        instance, _ = store.create_instance(session, spec, workflow, "newborn.bpmn")
        session.commit()
        instance_id = instance.id
    with Session(db) as session:
        _, _, loaded = store.load_workflow(session, specs, instance_id)
        assert loaded is workflow  # committed: the live object, no JSON restore
    with Session(db) as session:  # taken once; a second loader restores its own copy
        _, _, again = store.load_workflow(session, specs, instance_id)
        assert again is not workflow
        inst, spec2, wf = store.load_workflow(session, specs, instance_id)
        cases.complete(wf, cases.ready_tasks(spec2, wf)[0].task_id, {})
        store.save_instance(session, spec2, inst, wf)
        session.rollback()  # not committed: never offered to the next loader
    with Session(db) as session:
        inst, _, restored = store.load_workflow(session, specs, instance_id)
        assert restored is not wf and inst.version == 1
        assert len(cases.ready_tasks(spec, restored)) == 5
