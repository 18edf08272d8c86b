"""Accept BPMN files made with other modelers (Camunda Modeler 7 and 8, the bpmn.io demo) when
they can run here, by rewriting what only differs in spelling:

- `camunda:properties` / `zeebe:properties` (and `camunda:decisionRef`) become the `spiffworkflow:properties` the engine reads
  (so `item`, `kind` and `deadline` set in those modelers' property tables count);
- a timer given as a bare ISO 8601 literal (`PT5M`, `P3D`, `2027-01-01T09:00:00`) becomes the
  quoted string our expression language needs;
- a process marked `isExecutable="false"` (the bpmn.io demo's default) is made executable, and a
  single process with another id takes the matter's process id (references follow).

What cannot run is not guessed at: JUEL (`${...}`) and FEEL (`=...`) expressions and scripts in
other languages are reported as problems, naming the element, for the author to rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from engine.validation import BPMN_NS, Problem, parse_xml

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
FOREIGN_PROPERTY_NS = {
    "http://camunda.org/schema/1.0/bpmn": "Camunda",
    "http://camunda.org/schema/zeebe/1.0": "Zeebe",
}
TIMER_TAGS = ("timeDate", "timeDuration", "timeCycle")
ISO_LITERAL = re.compile(
    r"^(R\d*/)?(P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
    r"|\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?)?)$"
)
PYTHON_LANGUAGES = ("", "python", "spiff", "text/x-python", "http://www.python.org/")


@dataclass
class Converted:
    """The rewritten file, what was rewritten (notes) and what cannot run (problems)."""

    content: bytes
    notes: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _owner_id(element: etree._Element) -> str:
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return ""


def _spiff_properties(extensions: etree._Element) -> etree._Element:
    found = extensions.find(_q(SPIFF_NS, "properties"))
    if found is None:
        found = etree.SubElement(extensions, _q(SPIFF_NS, "properties"))
    return found


def _convert_properties(root: etree._Element, result: Converted) -> None:
    for namespace, modeler in FOREIGN_PROPERTY_NS.items():
        for foreign in list(root.iter(_q(namespace, "properties"))):
            extensions = foreign.getparent()
            target = _spiff_properties(extensions)
            existing = {p.get("name") for p in target}
            names = []
            for prop in foreign.findall(_q(namespace, "property")):
                name, value = prop.get("name"), prop.get("value")
                if not name or name in existing:
                    continue
                etree.SubElement(target, _q(SPIFF_NS, "property"), name=name, value=value or "")
                names.append(name)
            extensions.remove(foreign)
            if names:
                element = _owner_id(extensions)
                joined = ", ".join(names)
                result.notes.append(
                    Problem(
                        element,
                        f"已将 {modeler} 扩展属性（{joined}）转换为 OneThing 属性",
                        f"converted {modeler} properties ({joined}) to OneThing properties",
                    )
                )


def _convert_decision_refs(root: etree._Element, result: Converted) -> None:
    """Camunda's `camunda:decisionRef` attribute names the decision a business-rule task calls."""
    attribute = _q(next(iter(FOREIGN_PROPERTY_NS)), "decisionRef")
    for task in root.iter(_q(BPMN_NS, "businessRuleTask")):
        decision = task.attrib.pop(attribute, None)
        if not decision:
            continue
        extensions = task.find(_q(BPMN_NS, "extensionElements"))
        if extensions is None:
            extensions = etree.Element(_q(BPMN_NS, "extensionElements"))
            task.insert(0, extensions)
        if extensions.find(_q(SPIFF_NS, "calledDecisionId")) is None:
            etree.SubElement(extensions, _q(SPIFF_NS, "calledDecisionId")).text = decision
        result.notes.append(
            Problem(
                task.get("id", ""),
                f"已将 Camunda 决策引用 {decision} 转换为 OneThing 决策引用",
                f"converted the Camunda decision reference {decision}",
            )
        )


def _convert_timers(root: etree._Element, result: Converted) -> None:
    for tag in TIMER_TAGS:
        for timer in root.iter(_q(BPMN_NS, tag)):
            text = (timer.text or "").strip()
            if ISO_LITERAL.match(text):
                timer.text = repr(text)
                result.notes.append(
                    Problem(
                        _owner_id(timer),
                        f"定时器 {text} 已写成字符串表达式 {timer.text}",
                        f"timer {text} was written as the string expression {timer.text}",
                    )
                )


def _foreign_code(root: etree._Element, result: Converted) -> None:
    for condition in root.iter(_q(BPMN_NS, "conditionExpression")):
        text = (condition.text or "").strip()
        if text.startswith("${") or text.startswith("#{") or text.startswith("="):
            result.problems.append(
                Problem(
                    _owner_id(condition),
                    f"条件 {text} 使用了其他引擎的表达式语言（JUEL/FEEL），请改写为 Python 表达式，"
                    "例如 decision_item == 'correction'",
                    f"condition {text} is written in another engine's language (JUEL/FEEL); "
                    "rewrite it as a Python expression, e.g. decision_item == 'correction'",
                )
            )
    for script_task in root.iter(_q(BPMN_NS, "scriptTask")):
        language = (script_task.get("scriptFormat") or "").strip().lower()
        if language not in PYTHON_LANGUAGES:
            result.problems.append(
                Problem(
                    script_task.get("id", ""),
                    f"脚本语言 {language} 不能执行，只支持 Python",
                    f"scripts in {language} cannot run here; only Python is supported",
                )
            )


def _adopt_process(root: etree._Element, process_id: str | None, result: Converted) -> None:
    processes = root.findall(_q(BPMN_NS, "process"))
    for process in processes:
        if process.get("isExecutable") != "true":
            process.set("isExecutable", "true")
            result.notes.append(
                Problem(
                    process.get("id", ""),
                    "流程已标记为可执行（isExecutable）",
                    "the process was marked executable (isExecutable)",
                )
            )
    if process_id is None or len(processes) != 1 or processes[0].get("id") == process_id:
        return
    old = processes[0].get("id", "")
    if root.xpath("//*[@id=$id]", id=process_id):
        return  # the id is taken by another element: leave it to validation to report
    processes[0].set("id", process_id)
    for element in root.iter():
        for attribute in ("processRef", "bpmnElement"):
            if element.get(attribute) == old:
                element.set(attribute, process_id)
    result.notes.append(
        Problem(
            process_id,
            f"流程标识 {old} 已改为本事项的 {process_id}",
            f"process id {old} was changed to this matter's {process_id}",
        )
    )


def convert(content: bytes, *, process_id: str | None = None) -> Converted:
    """`content` rewritten to run here where only spelling differs; unchanged (with no notes)
    when it was ours already, or when it is not XML (validation reports that)."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        return Converted(content)
    if root.getroottree().docinfo.doctype:
        return Converted(content)
    result = Converted(content)
    _convert_properties(root, result)
    _convert_decision_refs(root, result)
    _convert_timers(root, result)
    _foreign_code(root, result)
    _adopt_process(root, process_id, result)
    if result.notes:
        etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": SPIFF_NS})
        result.content = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result
