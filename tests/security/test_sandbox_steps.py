"""A step whose code fails (refused by the sandbox, over a bound, or a plain error) raises one
engine exception, engine.cases.StepFailed, naming the element and the reason, and leaves nothing
of the half-run step behind once the caller rolls back."""

from __future__ import annotations

import pytest
from sqlmodel import Session, SQLModel, create_engine

from engine import cases, store
from engine.specs import SpecCache

PROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_f" targetNamespace="https://onething.example/bpmn">
  <bpmn:process id="f" isExecutable="true">
    <bpmn:startEvent id="Start_f"><bpmn:outgoing>Flow_1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start_f" targetRef="Task_f"/>
    <bpmn:userTask id="Task_f" name="Review"><bpmn:incoming>Flow_1</bpmn:incoming>
      <bpmn:outgoing>Flow_2</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Task_f" targetRef="Gateway_f"/>
    <bpmn:exclusiveGateway id="Gateway_f" name="Long enough?" default="Flow_no">
      <bpmn:incoming>Flow_2</bpmn:incoming>
      <bpmn:outgoing>Flow_yes</bpmn:outgoing><bpmn:outgoing>Flow_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="Flow_yes" sourceRef="Gateway_f" targetRef="End_f">
      <bpmn:conditionExpression>len('x' * n) &gt; 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_no" sourceRef="Gateway_f" targetRef="End_f"/>
    <bpmn:endEvent id="End_f"><bpmn:incoming>Flow_yes</bpmn:incoming>
      <bpmn:incoming>Flow_no</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize(
    ("n", "words"),
    [(10**9, "SandboxLimit: a repetition would build"), ("3", "TypeError")],
)
def test_a_failing_condition_names_its_gateway_and_why(n, words):
    spec = SpecCache().load(PROCESS, None, "f.bpmn")
    workflow = cases.start(spec, {"n": 1})
    [task] = cases.ready_tasks(spec, workflow)
    with pytest.raises(cases.StepFailed) as failed:
        cases.complete(workflow, task.task_id, {"n": n})
    assert (failed.value.element_id, failed.value.element_name) == ("Gateway_f", "Long enough?")
    assert words in failed.value.reason and "len('x' * n) > 3" in failed.value.reason
    assert failed.value.__cause__ is not None


def test_a_failed_step_leaves_nothing_behind_after_the_rollback(tmp_path):
    db = create_engine(f"sqlite:///{tmp_path / 'engine.sqlite'}")
    SQLModel.metadata.create_all(db)
    specs = SpecCache()
    spec = specs.load(PROCESS, None, "f.bpmn")
    with Session(db) as session:
        instance, _changes = store.create_instance(
            session, spec, cases.start(spec, {"n": 1}), "f.bpmn"
        )
        session.commit()
        instance_id, version, state = instance.id, instance.version, instance.state

    with Session(db) as session:
        _instance, _spec, workflow = store.load_workflow(session, specs, instance_id)
        [task] = cases.ready_tasks(spec, workflow)
        with pytest.raises(cases.StepFailed):
            cases.complete(workflow, task.task_id, {"n": 10**9})
        session.rollback()

    with Session(db) as session:
        instance, _spec, workflow = store.load_workflow(session, specs, instance_id)
        assert (instance.version, instance.state) == (version, state)
        assert [t.task_id for t in cases.ready_tasks(spec, workflow)] == [task.task_id]
        cases.complete(workflow, task.task_id, {"n": 5})
        store.save_instance(session, spec, instance, workflow)
        session.commit()
        assert cases.is_completed(workflow)
