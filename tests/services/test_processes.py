"""Administrators deploy processes: the engine's checks on a BPMN file, the catalog's checks on
lanes and items, numbered versions, their diff, and rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from engine.specs import content_key
from engine.store import ProcessDefinition
from engine.validation import validate_bpmn
from services.errors import Forbidden, InvalidInput
from services.processes import current_version, deploy, deployed_spec, diff, rollback, versions
from services.processes_models import ProcessVersion

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
NEWBORN = (BPMN_DIR / "newborn.bpmn").read_bytes()
NEWBORN_DMN = (("newborn.dmn", (BPMN_DIR / "newborn.dmn").read_bytes()),)
MALICIOUS_CONDITION = "__import__('os').system('id')"


# --- engine: validate_bpmn, one rule at a time -------------------------------------------------


def _bpmn(body: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Definitions_t" targetNamespace="https://onething.example/bpmn">
  <bpmn:process id="t" isExecutable="true">
    <bpmn:startEvent id="Start_t"><bpmn:outgoing>Flow_a</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="Flow_a" sourceRef="Start_t" targetRef="Task_a"/>
    {body}
  </bpmn:process>
</bpmn:definitions>""".encode()


SIMPLE = """
    <bpmn:userTask id="Task_a"><bpmn:incoming>Flow_a</bpmn:incoming>
      <bpmn:outgoing>Flow_b</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_b" sourceRef="Task_a" targetRef="End_t"/>
    <bpmn:endEvent id="End_t"><bpmn:incoming>Flow_b</bpmn:incoming></bpmn:endEvent>
"""


def _gateway(condition: str) -> str:
    return f"""
    <bpmn:exclusiveGateway id="Task_a" default="Flow_no">
      <bpmn:incoming>Flow_a</bpmn:incoming>
      <bpmn:outgoing>Flow_yes</bpmn:outgoing><bpmn:outgoing>Flow_no</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="Flow_yes" sourceRef="Task_a" targetRef="End_t">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_no" sourceRef="Task_a" targetRef="End_t"/>
    <bpmn:endEvent id="End_t"><bpmn:incoming>Flow_yes</bpmn:incoming>
      <bpmn:incoming>Flow_no</bpmn:incoming></bpmn:endEvent>
"""


def _script(script: str) -> str:
    return f"""
    <bpmn:scriptTask id="Task_a"><bpmn:incoming>Flow_a</bpmn:incoming>
      <bpmn:outgoing>Flow_b</bpmn:outgoing><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="Flow_b" sourceRef="Task_a" targetRef="End_t"/>
    <bpmn:endEvent id="End_t"><bpmn:incoming>Flow_b</bpmn:incoming></bpmn:endEvent>
"""


def _timer(expression: str) -> str:
    return (
        SIMPLE
        + f"""
    <bpmn:boundaryEvent id="Timer_a" attachedToRef="Task_a" cancelActivity="false">
      <bpmn:outgoing>Flow_late</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate>{expression}</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_late" sourceRef="Timer_a" targetRef="End_late"/>
    <bpmn:endEvent id="End_late"><bpmn:incoming>Flow_late</bpmn:incoming></bpmn:endEvent>
"""
    )


def _ids(problems) -> list[str]:
    return [problem.element_id for problem in problems]


def test_a_well_formed_process_has_no_problems():
    assert validate_bpmn(_bpmn(SIMPLE)) == []
    assert validate_bpmn(_bpmn(_gateway("x == 1"))) == []
    assert validate_bpmn(_bpmn(_script("y = x + 1"))) == []


@pytest.mark.parametrize("code", sorted(p.stem for p in BPMN_DIR.glob("*.bpmn")))
def test_every_shipped_process_passes_validation(code):
    dmn = BPMN_DIR / f"{code}.dmn"
    decisions = ((dmn.name, dmn.read_bytes()),) if dmn.exists() else ()
    assert validate_bpmn((BPMN_DIR / f"{code}.bpmn").read_bytes(), decisions) == []


def test_text_that_is_not_xml_is_one_problem():
    [problem] = validate_bpmn(b"<bpmn:definitions")
    assert problem.element_id == "" and "not valid XML" in problem.message_en


def test_a_doctype_is_refused_before_anything_parses_it():
    content = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + _bpmn(SIMPLE).split(
        b"?>", 1
    )[1].replace(
        b"<bpmn:incoming>Flow_a",
        b"<bpmn:documentation>&x;</bpmn:documentation><bpmn:incoming>Flow_a",
        1,
    )
    [problem] = validate_bpmn(content)
    assert "DOCTYPE" in problem.message_en


def test_a_file_without_the_process_asked_for_is_one_problem_naming_those_it_has():
    problems = validate_bpmn(_bpmn(SIMPLE), process_id="other")
    assert len(problems) == 1 and "no process with id other (it has: t)" in problems[0].message_en


def test_a_condition_that_imports_is_refused_with_its_flow_id():
    [problem] = validate_bpmn(_bpmn(_gateway(MALICIOUS_CONDITION)))
    assert problem.element_id == "Flow_yes"
    assert "__import__" in problem.message_en and "sandbox" in problem.message_en


def test_a_script_reaching_for_dunders_or_imports_is_refused():
    problems = validate_bpmn(_bpmn(_script("y = ().__class__.__bases__")))
    assert set(_ids(problems)) == {"Task_a"} and "'__class__'" in problems[0].message_en
    problems = validate_bpmn(_bpmn(_script("import os")))
    assert _ids(problems) == ["Task_a"] and "Import" in problems[0].message_en


def test_a_timer_expression_is_checked_too():
    assert validate_bpmn(_bpmn(_timer("due_in_working_days(3)"))) == []
    [problem] = validate_bpmn(_bpmn(_timer("open('/etc/passwd').read()")))
    assert problem.element_id == "Timer_a" and "'open'" in problem.message_en


def test_a_decision_table_entry_is_checked_too():
    dmn = (
        (BPMN_DIR / "newborn.dmn")
        .read_bytes()
        .replace(b"<text>True</text>", b"<text>__import__('os')</text>", 1)
    )
    problems = validate_bpmn(NEWBORN, (("newborn.dmn", dmn),))
    assert _ids(problems) == ["Entry_instant_certificate"]


def test_a_task_without_incoming_flow_is_unreachable():
    orphan = """
    <bpmn:userTask id="Task_orphan"><bpmn:outgoing>Flow_o</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_o" sourceRef="Task_orphan" targetRef="End_t"/>
    """
    [problem] = validate_bpmn(_bpmn(SIMPLE + orphan))
    assert problem.element_id == "Task_orphan"
    assert problem.message_en.startswith("cannot be reached from a start event: connect")


def test_a_dead_end_cannot_reach_an_end_event():
    dead_end = SIMPLE.replace('targetRef="End_t"', 'targetRef="Task_stuck"').replace(
        "<bpmn:endEvent", '<bpmn:userTask id="Task_stuck"/><bpmn:endEvent'
    )
    problems = validate_bpmn(_bpmn(dead_end))
    messages = {(p.element_id, p.message_en.partition(":")[0]) for p in problems}
    assert ("Task_stuck", "has no outgoing sequence flow") in messages
    assert ("End_t", "cannot be reached from a start event") in messages


def test_boundary_events_are_paths_from_their_task():
    """The end event after a timer is reached through the task the timer is attached to."""
    assert validate_bpmn(_bpmn(_timer("due_in_working_days(3)"))) == []
    loose = _timer("due_in_working_days(3)").replace("<bpmn:outgoing>Flow_late</bpmn:outgoing>", "")
    loose = loose.replace('sourceRef="Timer_a"', 'sourceRef="Nowhere"')
    problems = validate_bpmn(_bpmn(loose))
    assert "Flow_late" in _ids(problems)


def test_an_id_used_twice_is_named():
    twice = SIMPLE.replace('<bpmn:endEvent id="End_t">', '<bpmn:endEvent id="Task_a">', 1)
    problems = validate_bpmn(_bpmn(twice))
    assert any(p.element_id == "Task_a" and "used by 2 elements" in p.message_en for p in problems)


# --- services: deploy, versions, diff, rollback ------------------------------------------------


def _refused(rt, user_of, content: bytes) -> dict:
    """Deploy `content` as the newborn process, expecting a refusal; its fields by element id."""
    with Session(rt.db) as session, pytest.raises(InvalidInput) as refused:
        deploy(
            session,
            rt,
            matter_code="newborn",
            content=content,
            decisions=NEWBORN_DMN,
            author=user_of("admin"),
        )
    return refused.value.fields


def _count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_deploying_newborn_creates_version_one(rt, user_of):
    admin = user_of("admin")
    with Session(rt.db) as session:
        assert current_version(session, matter_code="newborn") is None
        version = deploy(
            session,
            rt,
            matter_code="newborn",
            content=NEWBORN,
            decisions=NEWBORN_DMN,
            author=admin,
            comment="首次发布",
        )
        assert (version.version, version.matter, version.process_id) == (1, "newborn", "newborn")
        assert version.author_user_id == admin.id
        assert version.definition_key == content_key(NEWBORN, NEWBORN_DMN)
        definition = session.get(ProcessDefinition, (version.definition_key, "newborn"))
        assert definition.content == NEWBORN and "newborn.dmn" in definition.decisions
        assert current_version(session, matter_code="newborn").id == version.id
        spec = deployed_spec(session, rt.specs, matter_code="newborn")
        assert spec.key == version.definition_key and spec.user_tasks


def test_a_changed_file_is_version_two_and_the_diff_names_the_element(rt, user_of):
    admin = user_of("admin")
    changed = NEWBORN.replace(
        'id="Task_birth_certificate" name="出生医学证明"'.encode(),
        'id="Task_birth_certificate" name="签发出生医学证明"'.encode(),
    )
    assert changed != NEWBORN
    with Session(rt.db) as session:
        deploy(
            session, rt, matter_code="newborn", content=NEWBORN, decisions=NEWBORN_DMN, author=admin
        )
        second = deploy(
            session,
            rt,
            matter_code="newborn",
            content=changed,
            decisions=NEWBORN_DMN,
            author=admin,
            comment="改名",
        )
        assert second.version == 2
        assert [v.version for v in versions(session, matter_code="newborn")] == [2, 1]
        changes = diff(session, matter_code="newborn", a=1, b=2)
        assert changes["changed"] == ["Task_birth_certificate"]
        assert changes["added"] == changes["removed"] == changes["decisions_changed"] == []


def test_a_malicious_condition_is_refused_and_nothing_is_stored(rt, user_of):
    malicious = NEWBORN.replace(b"mother_maternity_insurance == True", MALICIOUS_CONDITION.encode())
    with Session(rt.db) as session:
        definitions = _count(session, ProcessDefinition)
        with pytest.raises(InvalidInput) as refused:
            deploy(
                session,
                rt,
                matter_code="newborn",
                content=malicious,
                decisions=NEWBORN_DMN,
                author=user_of("admin"),
            )
        assert list(refused.value.fields) == ["Flow_has_maternity"]
        assert "__import__" in refused.value.fields["Flow_has_maternity"][1]
        session.rollback()
        assert _count(session, ProcessVersion) == 0
        assert _count(session, ProcessDefinition) == definitions


def test_an_unreachable_task_is_refused(rt, user_of):
    unreachable = NEWBORN.replace(
        b'<bpmn:sequenceFlow id="Flow_birth_certificate_reopened"'
        b' sourceRef="Gateway_birth_certificate_reopen" targetRef="Task_birth_certificate"/>',
        b"",
    ).replace(b"<bpmn:outgoing>Flow_birth_certificate_reopened</bpmn:outgoing>", b"")
    fields = _refused(rt, user_of, unreachable)
    assert "cannot be reached from a start event" in fields["Task_birth_certificate"][1]
    assert "has no outgoing sequence flow" in fields["Gateway_birth_certificate_reopen"][1]


def test_a_task_in_an_unknown_lane_is_refused(rt, user_of):
    moved = NEWBORN.replace(
        b'<spiffworkflow:property name="department" value="cdc"/>',
        b'<spiffworkflow:property name="department" value="moon"/>',
    )
    with Session(rt.db) as session, pytest.raises(InvalidInput) as refused:
        deploy(
            session,
            rt,
            matter_code="newborn",
            content=moved,
            decisions=NEWBORN_DMN,
            author=user_of("admin"),
        )
    zh, en = refused.value.fields["Task_vaccination_certificate"]
    assert en.startswith("lane moon is not a department of the catalog") and "moon" in zh


def test_a_task_in_another_departments_lane_is_refused(rt, user_of):
    moved = NEWBORN.replace(
        b"<bpmn:flowNodeRef>Task_vaccination_certificate</bpmn:flowNodeRef>", b""
    ).replace(
        b"<bpmn:flowNodeRef>Task_birth_registration</bpmn:flowNodeRef>",
        b"<bpmn:flowNodeRef>Task_birth_registration</bpmn:flowNodeRef>"
        b"<bpmn:flowNodeRef>Task_vaccination_certificate</bpmn:flowNodeRef>",
    )
    with Session(rt.db) as session, pytest.raises(InvalidInput) as refused:
        deploy(
            session,
            rt,
            matter_code="newborn",
            content=moved,
            decisions=NEWBORN_DMN,
            author=user_of("admin"),
        )
    assert "not to the police lane" in refused.value.fields["Task_vaccination_certificate"][1]


def test_a_matter_item_without_its_task_is_refused(rt, user_of):
    rebound = NEWBORN.replace(
        b'<spiffworkflow:property name="item" value="cdc_vaccination_certificate"/>',
        b'<spiffworkflow:property name="item" value="police_birth_registration"/>',
        1,
    )
    fields = _refused(rt, user_of, rebound)
    assert fields["Task_vaccination_certificate"][1] == (
        "item police_birth_registration belongs to police, not to the cdc lane: move the task "
        "into police's lane"
    )
    assert fields["newborn"][1].startswith(
        "item cdc_vaccination_certificate has no departmental user task"
    )


def test_only_administrators_deploy(rt, user_of):
    with Session(rt.db) as session, pytest.raises(Forbidden):
        deploy(
            session,
            rt,
            matter_code="newborn",
            content=NEWBORN,
            decisions=NEWBORN_DMN,
            author=user_of("health01"),
        )


def test_rollback_deploys_the_old_content_as_version_three(rt, user_of):
    admin = user_of("admin")
    changed = NEWBORN.replace('name="统一出件"'.encode(), b'name="x"')
    assert changed != NEWBORN
    with Session(rt.db) as session:
        first = deploy(
            session, rt, matter_code="newborn", content=NEWBORN, decisions=NEWBORN_DMN, author=admin
        )
        deploy(
            session, rt, matter_code="newborn", content=changed, decisions=NEWBORN_DMN, author=admin
        )
        third = rollback(session, rt, matter_code="newborn", to_version=1, author=admin, comment="")
        assert third.version == 3
        assert third.definition_key == first.definition_key
        assert "1" in third.comment
        assert current_version(session, matter_code="newborn").version == 3
        assert diff(session, matter_code="newborn", a=1, b=3)["changed"] == []
        assert diff(session, matter_code="newborn", a=2, b=3)["changed"] == ["Gateway_fanin"]


def test_a_deployed_version_is_never_changed(rt, user_of):
    with Session(rt.db) as session:
        version = deploy(
            session,
            rt,
            matter_code="newborn",
            content=NEWBORN,
            decisions=NEWBORN_DMN,
            author=user_of("admin"),
        )
        version.comment = "rewritten"
        session.add(version)
        with pytest.raises(ValueError, match="immutable"):
            session.commit()
