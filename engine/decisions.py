"""Decision tables (DMN) on their own: what a table reads and writes, and its outputs for given
inputs, computed by the same machinery as a process's business-rule task.

A table is evaluated by running a one-task process (start, business-rule task, end) through
SpiffWorkflow with the sandboxed script engine, exactly as a matter's process runs it: the same
parser, hit policy, `?` cells and sandbox, so a test case that passes here behaves the same in a
case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from engine.cases import StepFailed, start
from engine.sandbox import FUNCTIONS
from engine.specs import Decisions, SpecCache, SpecError, read_variables
from engine.validation import parse_xml

_PROCESS_ID = "decision_test"
_TASK_ID = "Decision_test_task"
# The tests' one-task processes, parsed once per table content (the SpecCache keys by hash)
_SPECS = SpecCache()


@dataclass(frozen=True)
class Column:
    """An input (its expression) or an output (its name) of a decision table."""

    id: str
    label: str
    text: str  # the input expression, or the output's name
    type_ref: str


@dataclass(frozen=True)
class TableInfo:
    """A decision of a DMN file as the test cases see it."""

    id: str
    name: str
    inputs: tuple[Column, ...]
    outputs: tuple[Column, ...]
    variables: tuple[str, ...]  # every name the table reads: what a test case may give
    rules: int


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _columns(table: etree._Element, kind: str) -> tuple[Column, ...]:
    found = []
    for column in table.iterchildren(f"{{*}}{kind}"):
        if kind == "input":
            expression = column.find("{*}inputExpression")
            text = "" if expression is None else (expression.findtext("{*}text") or "").strip()
            type_ref = "" if expression is None else expression.get("typeRef", "")
        else:
            text, type_ref = column.get("name", ""), column.get("typeRef", "")
        found.append(Column(column.get("id", ""), column.get("label", ""), text, type_ref))
    return tuple(found)


def tables(decisions: Decisions) -> dict[str, TableInfo]:
    """Every decision of `decisions`' DMN files that holds a decision table, by id."""
    found = {}
    for _name, text in decisions:
        root = parse_xml(text)
        for decision in root.iter("{*}decision"):
            table = decision.find("{*}decisionTable")
            if table is None or not decision.get("id"):
                continue
            names = read_variables(etree.tostring(decision), ())
            found[decision.get("id")] = TableInfo(
                id=decision.get("id"),
                name=decision.get("name") or decision.get("id"),
                inputs=_columns(table, "input"),
                outputs=_columns(table, "output"),
                variables=tuple(sorted(n for n in names if n not in FUNCTIONS)),
                rules=len(table.findall("{*}rule")),
            )
    return found


def _process(decision_id: str) -> bytes:
    """A process whose only task calls `decision_id` (ids are XML-escaped by lxml)."""
    bpmn = "http://www.omg.org/spec/BPMN/20100524/MODEL"
    spiff = "http://spiffworkflow.org/bpmn/schema/1.0/core"
    root = etree.Element(f"{{{bpmn}}}definitions", nsmap={"bpmn": bpmn, "spiffworkflow": spiff})
    root.set("id", "Definitions_decision_test")
    root.set("targetNamespace", "https://onething.example/bpmn")
    process = etree.SubElement(root, f"{{{bpmn}}}process", id=_PROCESS_ID, isExecutable="true")

    def flow(source: str, target: str) -> None:
        etree.SubElement(
            process,
            f"{{{bpmn}}}sequenceFlow",
            id=f"Flow_{source}",
            sourceRef=source,
            targetRef=target,
        )

    etree.SubElement(process, f"{{{bpmn}}}startEvent", id="Start_decision_test")
    flow("Start_decision_test", _TASK_ID)
    task = etree.SubElement(process, f"{{{bpmn}}}businessRuleTask", id=_TASK_ID)
    extensions = etree.SubElement(task, f"{{{bpmn}}}extensionElements")
    etree.SubElement(extensions, f"{{{spiff}}}calledDecisionId").text = decision_id
    flow(_TASK_ID, "End_decision_test")
    etree.SubElement(process, f"{{{bpmn}}}endEvent", id="End_decision_test")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class DecisionFailed(Exception):
    """The table could not be evaluated on the inputs (an expression failed in the sandbox, or
    the DMN cannot be parsed); `reason` is for logs, not for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def evaluate(decisions: Decisions, decision_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs of decision `decision_id` (by output name) for `inputs`, as a business-rule
    task would merge them into a case's data; every name the table reads and `inputs` does not
    give is None, as in a case. Empty when no rule matches."""
    info = tables(decisions).get(decision_id)
    if info is None:
        raise DecisionFailed(f"no decision {decision_id}")
    try:
        spec = _SPECS.load(_process(decision_id), _PROCESS_ID, "<decision test>", decisions)
        workflow = start(spec, {**dict.fromkeys(info.variables), **inputs})
    except (SpecError, StepFailed) as exc:
        raise DecisionFailed(str(exc)) from exc
    [task] = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == _TASK_ID]
    names = {column.text for column in info.outputs}
    return {name: value for name, value in task.data.items() if name in names}
