"""Every place administrators write code refuses the sandbox corpus (sandbox_corpus.py) twice:
when the code is checked (BPMN validation naming the element, the matter condition form), and
when it runs anyway (a process started on an unvalidated file fails its step with StepFailed; a
condition written straight into the database is never run for a citizen). The canary file a
payload would create never appears."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlmodel import Session

from engine import cases
from engine.interchange import convert
from engine.specs import SpecCache
from engine.validation import validate_bpmn
from services.cases import submission
from services.configuration.matters import MatterSetting, set_condition
from services.errors import InvalidInput
from tests.security.sandbox_corpus import EXPRESSIONS, SCRIPTS, Payload
from tests.web.conftest import MOTHER

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
IMPORTED = {"datetime-module-sys", "walrus-frame-walk", "format-attribute-chain", "replace-10-8"}

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_s" targetNamespace="https://onething.example/bpmn">
  <bpmn:process id="s" isExecutable="true">
    <bpmn:startEvent id="Start_s"><bpmn:outgoing>Flow_in</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="Flow_in" sourceRef="Start_s" targetRef="Step_s"/>
    {body}
    <bpmn:endEvent id="End_s"><bpmn:incoming>Flow_out</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""

CONDITION = """
    <bpmn:exclusiveGateway id="Step_s" default="Flow_out">
      <bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_yes</bpmn:outgoing><bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="Flow_yes" sourceRef="Step_s" targetRef="End_yes">
      <bpmn:conditionExpression>{code}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:endEvent id="End_yes"><bpmn:incoming>Flow_yes</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Step_s" targetRef="End_s"/>"""

SCRIPT = """
    <bpmn:scriptTask id="Step_s"><bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing><bpmn:script>{code}</bpmn:script></bpmn:scriptTask>
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Step_s" targetRef="End_s"/>"""

TIMER = """
    <bpmn:userTask id="Step_s"><bpmn:incoming>Flow_in</bpmn:incoming>
      <bpmn:outgoing>Flow_out</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Step_s" targetRef="End_s"/>
    <bpmn:boundaryEvent id="Timer_s" attachedToRef="Step_s" cancelActivity="false">
      <bpmn:outgoing>Flow_late</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate>{code}</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_late" sourceRef="Timer_s" targetRef="End_late"/>
    <bpmn:endEvent id="End_late"><bpmn:incoming>Flow_late</bpmn:incoming></bpmn:endEvent>"""

DECISION_TASK = """
    <bpmn:businessRuleTask id="Step_s">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>decide</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_in</bpmn:incoming><bpmn:outgoing>Flow_out</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="Flow_out" sourceRef="Step_s" targetRef="End_s"/>"""

DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="Definitions_d"
    name="decide" namespace="https://onething.example/dmn">
  <decision id="decide" name="decide">
    <decisionTable id="Table_d" hitPolicy="UNIQUE">
      <input id="Input_d" label="x">
        <inputExpression id="InputExpression_d" typeRef="string"><text>x</text></inputExpression>
      </input>
      <output id="Output_d" label="out" name="out" typeRef="string"/>
      <rule id="Rule_d">
        <inputEntry id="Entry_d"><text>{entry}</text></inputEntry>
        <outputEntry id="Out_d"><text>{output}</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"""


@dataclass(frozen=True)
class Site:
    """Where a piece of code goes, the element validation names, the element a run fails at."""

    name: str
    checked_at: str
    fails_at: str
    script: bool = False

    def files(self, code: str) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
        code = escape(code)
        if self.name == "condition":
            return BPMN.format(body=CONDITION.format(code=code)).encode(), ()
        if self.name == "script":
            return BPMN.format(body=SCRIPT.format(code=code)).encode(), ()
        if self.name == "timer":
            return BPMN.format(body=TIMER.format(code=code)).encode(), ()
        entry, output = (code, "'ok'") if self.name == "decision-input" else ("-", code)
        dmn = DMN.format(entry=entry, output=output).encode()
        return BPMN.format(body=DECISION_TASK).encode(), (("decide.dmn", dmn),)


SITES = (
    Site("condition", "Flow_yes", "Step_s"),
    Site("script", "Step_s", "Step_s", script=True),
    Site("timer", "Timer_s", "Timer_s"),
    Site("decision-input", "Entry_d", "Step_s"),
    Site("decision-output", "Out_d", "Step_s"),
)
HARMLESS = {
    "condition": "x == 's'",
    "script": "y = x.upper()",
    "timer": "'2026-12-01T09:00:00+08:00'",
    "decision-input": "'s'",
    "decision-output": "'ok'",
}


def _cases() -> list:
    found = []
    for site in SITES:
        payloads = SCRIPTS + tuple(
            Payload(p.name, f"value = {p.source}", script=True) for p in EXPRESSIONS
        )
        for payload in payloads if site.script else EXPRESSIONS:
            found.append(pytest.param(site, payload, id=f"{site.name}-{payload.name}"))
    return found


@pytest.mark.parametrize("site", SITES, ids=lambda site: site.name)
def test_harmless_code_passes_at_every_site_and_runs(site):
    content, decisions = site.files(HARMLESS[site.name])
    assert validate_bpmn(content, decisions) == []
    workflow = cases.start(SpecCache().load(content, None, "s.bpmn", decisions), {"x": "s"})
    assert workflow is not None


@pytest.mark.parametrize(("site", "payload"), _cases())
def test_a_corpus_payload_is_refused_at_check_and_fails_its_step_at_run(site, payload, tmp_path):
    canary = tmp_path / "canary"
    content, decisions = site.files(payload.with_canary(str(canary)))
    problems = validate_bpmn(content, decisions)
    refused = [p for p in problems if p.element_id == site.checked_at]
    assert refused, problems
    assert "refused by the sandbox" in refused[0].message_en
    assert "(rule: " in refused[0].message_en

    spec = SpecCache().load(content, None, "s.bpmn", decisions)  # deployed behind the check's back
    with pytest.raises(cases.StepFailed) as failed:
        cases.start(spec, {"x": "s"})
    assert failed.value.element_id == site.fails_at
    # refused by the sandbox, or before it by SpiffWorkflow's own parse of a DMN cell
    assert "(rule: " in failed.value.reason or failed.value.reason.startswith("SyntaxError")
    assert isinstance(failed.value.__cause__, Exception)
    assert not canary.exists()


@pytest.mark.parametrize(
    "payload", [p for p in EXPRESSIONS if p.name in IMPORTED], ids=lambda payload: payload.name
)
def test_a_file_from_another_modeler_is_checked_by_the_same_rules_after_conversion(payload):
    """A Camunda Modeler file is rewritten where only spelling differs (engine.interchange), then
    validated as our own: its conditions and timers meet the same sandbox."""
    newborn = (BPMN_DIR / "newborn.bpmn").read_text()
    camunda = newborn.replace(
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"',
        'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" exporter="Camunda Modeler"',
    ).replace('<bpmn:process id="newborn"', '<bpmn:process id="Process_1x2y3z"')
    camunda = camunda.replace(
        ">mother_maternity_insurance == True<", f">{escape(payload.source)}<", 1
    ).replace('isExecutable="true"', 'isExecutable="false"')
    converted = convert(camunda.encode(), process_id="newborn")
    assert any(note.element_id == "newborn" for note in converted.notes)  # it was converted
    dmn = (BPMN_DIR / "newborn.dmn").read_bytes()
    problems = validate_bpmn(converted.content, (("newborn.dmn", dmn),), process_id="newborn")
    [problem] = problems
    assert problem.element_id == "Flow_has_maternity" and "(rule: " in problem.message_en


MATERNITY = "medical_maternity_allowance"


def _items(rt, user) -> tuple[set[str], set[str]]:
    with Session(rt.db) as session:
        form = submission.prepare_form(
            session, rt, user=user, matter_code="newborn", consented=True
        )
    return {i.code for i in form.items}, {i.code for i in form.skipped_items}


def test_a_corpus_item_condition_is_refused_and_never_runs_for_a_citizen(
    rt, user_of, tmp_path, caplog
):
    admin, mother = user_of("admin"), user_of(MOTHER)
    assert MATERNITY in _items(rt, mother)[0]
    canary = tmp_path / "canary"
    caplog.set_level(logging.WARNING, logger="forms.compiler")
    for payload in EXPRESSIONS:
        source = payload.with_canary(str(canary))
        with Session(rt.db) as session, pytest.raises(InvalidInput) as refused:
            set_condition(
                session, rt, user=admin, code="newborn", item_code=MATERNITY, condition=source
            )
        assert refused.value.field == f"condition_{MATERNITY}"
        assert "(rule: " in refused.value.message_en or "too long" in refused.value.message_en

        # Written into the database behind the form's back: a citizen opening the form does not
        # run it; the item is treated as not applying, and the refusal is logged.
        with Session(rt.db) as session:
            session.merge(MatterSetting(matter="newborn", conditions={MATERNITY: source}))
            session.commit()
        caplog.clear()
        items, skipped = _items(rt, mother)
        assert MATERNITY in skipped and MATERNITY not in items, payload.name
        assert any("refused by the sandbox" in record.getMessage() for record in caplog.records), (
            payload.name
        )
    assert not canary.exists()
