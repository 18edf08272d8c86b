"""Files from other modelers: what only differs in spelling is rewritten, what cannot run is named."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from engine.interchange import convert
from engine.validation import validate_bpmn

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
NEWBORN = (BPMN_DIR / "newborn.bpmn").read_bytes()
NEWBORN_DMN = (("newborn.dmn", (BPMN_DIR / "newborn.dmn").read_bytes()),)
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


def camunda_copy(content: bytes = NEWBORN, process_id: str = "Process_0x7k2n1") -> bytes:
    """The newborn process as Camunda Modeler 5 would save it after an author re-drew it there:
    its namespace for properties, its exporter stamp, its generated process id."""
    text = content.decode()
    text = text.replace(
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"',
        f'xmlns:camunda="{CAMUNDA_NS}" exporter="Camunda Modeler" exporterVersion="5.30.0"',
    )
    text = text.replace("spiffworkflow:properties", "camunda:properties")
    text = text.replace("spiffworkflow:property", "camunda:property")
    text = text.replace(
        "<spiffworkflow:calledDecisionId>newborn_medical_enrollment_check"
        "</spiffworkflow:calledDecisionId>",
        "",
    ).replace(
        '<bpmn:businessRuleTask id="Check_medical_enrollment"',
        '<bpmn:businessRuleTask camunda:decisionRef="newborn_medical_enrollment_check" '
        'id="Check_medical_enrollment"',
    )
    text = text.replace('processRef="newborn"', f'processRef="{process_id}"')
    text = text.replace('<bpmn:process id="newborn"', f'<bpmn:process id="{process_id}"')
    text = text.replace('bpmnElement="newborn"', f'bpmnElement="{process_id}"')
    return text.encode()


def _properties(content: bytes, element_id: str) -> dict[str, str]:
    root = etree.fromstring(content)
    element = root.xpath("//*[@id=$id]", id=element_id)[0]
    return {
        p.get("name"): p.get("value")
        for p in element.iter("{http://spiffworkflow.org/bpmn/schema/1.0/core}property")
    }


def test_our_own_file_passes_through_untouched():
    converted = convert(NEWBORN, process_id="newborn")
    assert converted.content == NEWBORN
    assert converted.notes == converted.problems == []


def test_camunda_properties_become_ours_and_the_process_takes_the_matters_id():
    converted = convert(camunda_copy(), process_id="newborn")
    assert converted.problems == []
    assert _properties(converted.content, "Task_birth_certificate") == {
        "item": "health_birth_medical_certificate"
    }
    assert b"camunda:propert" not in converted.content
    root = etree.fromstring(converted.content)
    assert root.xpath("//*[local-name()='process']/@id") == ["newborn"]
    assert root.xpath("//*[local-name()='participant']/@processRef") == ["newborn"]
    notes = {note.element_id for note in converted.notes}
    assert {"Task_birth_certificate", "Check_medical_enrollment", "newborn"} <= notes
    assert b"<spiffworkflow:calledDecisionId>newborn_medical_enrollment_check<" in converted.content
    assert validate_bpmn(converted.content, NEWBORN_DMN, process_id="newborn") == []


def test_bare_iso_timers_become_string_expressions():
    content = NEWBORN.replace(
        b"due_in_working_days(time_limits['health_birth_medical_certificate'] - 1)", b"P3D"
    ).replace(
        b"due_in_working_days(time_limits['police_birth_registration'])", b"2027-01-04T09:00:00Z"
    )
    converted = convert(content, process_id="newborn")
    assert b"<bpmn:timeDate>'P3D'</bpmn:timeDate>" in converted.content
    assert b"'2027-01-04T09:00:00Z'" in converted.content
    assert {"Timer_birth_certificate_warning", "Timer_birth_registration_overdue"} <= {
        n.element_id for n in converted.notes
    }
    assert validate_bpmn(converted.content, NEWBORN_DMN, process_id="newborn") == []


def test_juel_and_feel_conditions_and_foreign_scripts_are_named_not_guessed():
    content = NEWBORN.replace(
        b"decision_health_birth_medical_certificate == 'correction'", b"${needsCorrection}"
    ).replace(b"decision_police_birth_registration == 'correction'", b"=needsCorrection")
    converted = convert(content, process_id="newborn")
    assert {p.element_id for p in converted.problems} == {
        "Flow_birth_certificate_correction",
        "Flow_birth_registration_correction",
    }
    assert all("JUEL/FEEL" in p.message_en for p in converted.problems)


def test_a_bpmn_io_demo_file_is_made_executable():
    demo = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn2:definitions xmlns:bpmn2="http://www.omg.org/spec/BPMN/20100524/MODEL" id="sample-diagram"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn2:process id="Process_1" isExecutable="false">
    <bpmn2:startEvent id="StartEvent_1"><bpmn2:outgoing>Flow_1</bpmn2:outgoing></bpmn2:startEvent>
    <bpmn2:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="End_1"/>
    <bpmn2:endEvent id="End_1"><bpmn2:incoming>Flow_1</bpmn2:incoming></bpmn2:endEvent>
  </bpmn2:process>
</bpmn2:definitions>"""
    converted = convert(demo, process_id="newborn")
    assert converted.problems == []
    assert b'isExecutable="true"' in converted.content and b'id="newborn"' in converted.content
    assert validate_bpmn(converted.content, process_id="newborn") == []


def test_text_that_is_not_xml_is_left_for_validation_to_report():
    converted = convert(b"<not xml", process_id="newborn")
    assert converted.content == b"<not xml" and not converted.notes
