"""Check a BPMN file before it is deployed: it parses, its code passes the sandbox, every element
lies on a path from a start event to an end event, and no id is used twice.

Each finding names the element it is about, so an editor can point at it. Engine-level only: what
the lanes and items must be is the caller's business.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from engine.sandbox import check_expression, check_script
from engine.specs import Decisions, SpecCache, SpecError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
FLOW_NODES = frozenset(
    [
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "task",
        "userTask",
        "manualTask",
        "serviceTask",
        "scriptTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "transaction",
        "exclusiveGateway",
        "parallelGateway",
        "inclusiveGateway",
        "eventBasedGateway",
        "complexGateway",
    ]
)
# Elements whose text SpiffWorkflow evaluates as an expression or runs as a script (BPMN and
# SpiffWorkflow extension elements, by local name); DMN cells are read by `_dmn_sites`.
EXPRESSION_TAGS = frozenset(
    [
        "conditionExpression",  # sequence flows
        "condition",  # conditional events
        "timeDate",
        "timeDuration",
        "timeCycle",
        "loopCardinality",
        "completionCondition",
        "loopCondition",
        "messagePayload",
        "payloadExpression",
        "expression",  # SpiffWorkflow correlation properties
    ]
)
SCRIPT_TAGS = frozenset(["script", "preScript", "postScript"])
# SpiffWorkflow's DMNEngine.evaluate: a "?" outside quotes stands for the input's value.
DMN_INPUT_MARK = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")
DMN_PLACEHOLDER = "dmninputexpr"


@dataclass(frozen=True)
class Problem:
    """One finding: the element's id ("" for the whole file), in Chinese and in English."""

    element_id: str
    message: str
    message_en: str


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True
    )


def parse_xml(content: bytes) -> etree._Element:
    """Parse without entities, DTDs or network access (raises `etree.XMLSyntaxError`)."""
    return etree.fromstring(content, _safe_parser())


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _owner_id(element: etree._Element) -> str:
    """The id of the nearest element around `element` that has one."""
    while element is not None:
        if element.get("id"):
            return element.get("id")
        element = element.getparent()
    return ""


def _read_documents(content: bytes, decisions: Decisions) -> tuple[list, list[Problem]]:
    """The parsed BPMN and DMN roots, or the problems that stop them being read safely."""
    roots, problems = [], []
    for name, text in (("", content), *decisions):
        where = name or "BPMN"
        try:
            root = parse_xml(text)
        except etree.XMLSyntaxError as exc:
            problems.append(
                Problem("", f"{where} 不是有效的 XML：{exc}", f"{where} is not valid XML: {exc}")
            )
            continue
        if root.getroottree().docinfo.doctype:
            problems.append(
                Problem("", f"{where} 不得包含 DOCTYPE 声明", f"{where} must not declare a DOCTYPE")
            )
            continue
        roots.append((name, root))
    return roots, problems


def _duplicate_ids(root: etree._Element) -> list[Problem]:
    counts = Counter(el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id"))
    return [
        Problem(
            element_id, f"标识 {element_id} 重复使用了 {n} 次", f"id {element_id} is used {n} times"
        )
        for element_id, n in counts.items()
        if n > 1
    ]


@dataclass(frozen=True)
class Code:
    """One piece of code the engine will run: the element it belongs to, the tag it came from,
    and the exact source the sandbox is given (a DMN cell combined with its input expression as
    SpiffWorkflow's DMNEngine combines them)."""

    element_id: str
    tag: str
    source: str
    script: bool = False


def _spiff_parses(text: str) -> bool:
    """SpiffWorkflow's `PythonScriptEngine.validate` (used by DMNEngine.needs_eq)."""
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def dmn_entry_sources(input_expression: str, entry: str | None) -> list[str]:
    """What SpiffWorkflow's DMNEngine.evaluate runs for one input entry: nothing for "-" or an
    empty cell; the input expression alone and the entry with "?" as its value; or the input and
    the entry combined, with `==` when the entry is an expression of its own."""
    if entry is None or entry == "-":
        return []
    entry = DMN_INPUT_MARK.sub(DMN_PLACEHOLDER, entry)
    if DMN_PLACEHOLDER in entry:
        return [input_expression, entry]
    if _spiff_parses(entry):
        return [f"({input_expression}) == ({entry})"]
    return [input_expression + entry]


def _local_children(element: etree._Element, tag: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == tag]


def _dmn_code(root: etree._Element, problems: list[Problem]) -> list[Code]:
    """The expressions of every decision table, as SpiffWorkflow's DMN parser reads the cells
    (the raw text of each `text` element) and its engine evaluates them."""
    found = []
    for table in (el for el in root.iter() if _local(el) == "decisionTable"):
        inputs: list[str | None] = []
        for column in _local_children(table, "input"):
            expression = next(
                (
                    text.text
                    for inner in _local_children(column, "inputExpression")
                    for text in _local_children(inner, "text")
                ),
                None,
            )
            inputs.append(expression)
            if not expression:
                problems.append(
                    Problem(
                        column.get("id", ""),
                        "决策表的输入缺少输入表达式",
                        "a decision table input needs an input expression",
                    )
                )
            else:
                found.append(Code(column.get("id", ""), "inputExpression", expression))
        for rule in _local_children(table, "rule"):
            for index, entry in enumerate(_local_children(rule, "inputEntry")):
                text = next((t.text for t in _local_children(entry, "text")), None)
                expression = inputs[index] if index < len(inputs) else None
                if expression:
                    for source in dmn_entry_sources(expression, text)[-1:]:
                        found.append(Code(entry.get("id", ""), "inputEntry", source))
            for entry in _local_children(rule, "outputEntry"):
                text = next((t.text for t in _local_children(entry, "text")), None)
                if text:
                    found.append(Code(entry.get("id", ""), "outputEntry", text))
    return found


def _bpmn_code(root: etree._Element) -> list[Code]:
    found = []
    for element in root.iter():
        tag = _local(element)
        source = element.text or ""
        if not source.strip() and tag != "parameter":
            continue
        if tag in EXPRESSION_TAGS:
            found.append(Code(_owner_id(element), tag, source))
        elif tag in SCRIPT_TAGS:
            found.append(Code(_owner_id(element), tag, source, script=True))
        elif tag == "formalExpression" and _local(element.getparent()) == (
            "correlationPropertyRetrievalExpression"
        ):
            found.append(Code(_owner_id(element), tag, source))
        elif tag == "parameter" and element.get("value"):  # SpiffWorkflow service task input
            found.append(Code(_owner_id(element), tag, element.get("value", "")))
    return found


def code_of(content: bytes, decisions: Decisions = ()) -> list[Code]:
    """Every piece of code a BPMN file and its DMN files give the engine to run (raises
    `etree.XMLSyntaxError` for a file that is not XML)."""
    found = _bpmn_code(parse_xml(content))
    for _name, text in decisions:
        found += _dmn_code(parse_xml(text), [])
    return found


def _code_problems(code: list[Code]) -> list[Problem]:
    problems = []
    for piece in code:
        found = (check_script if piece.script else check_expression)(piece.source)
        if found:
            finding = "; ".join(found)
            problems.append(
                Problem(
                    piece.element_id,
                    f"代码未通过安全检查（{piece.tag}）：{finding}",
                    f"code refused by the sandbox ({piece.tag}): {finding}",
                )
            )
    return problems


def _walk(starts: Iterable[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for following in edges[queue.popleft()]:
            if following not in seen:
                seen.add(following)
                queue.append(following)
    return seen


def _path_problems(container: etree._Element) -> list[Problem]:
    """Reachability within one process or sub-process; nested sub-processes are walked too."""
    nodes: dict[str, str] = {}
    forward: dict[str, set[str]] = defaultdict(set)
    backward: dict[str, set[str]] = defaultdict(set)
    problems: list[Problem] = []
    event_subprocesses = []
    for child in container:
        tag, element_id = _local(child), child.get("id", "")
        if tag in FLOW_NODES and element_id:
            if tag == "subProcess" and child.get("triggeredByEvent") == "true":
                event_subprocesses.append(child)  # started by its event, not by a flow
            else:
                nodes[element_id] = tag
            if tag in ("subProcess", "transaction"):
                problems += _path_problems(child)
    for child in container:
        tag, element_id = _local(child), child.get("id", "")
        if tag == "sequenceFlow":
            source, target = child.get("sourceRef", ""), child.get("targetRef", "")
        elif tag == "boundaryEvent":
            source, target = child.get("attachedToRef", ""), element_id
        else:
            continue
        missing = [ref for ref in (source, target) if ref not in nodes]
        if missing:
            problems.append(
                Problem(
                    element_id,
                    f"连接的节点不存在：{', '.join(missing)}",
                    f"connects to elements that do not exist: {', '.join(missing)}",
                )
            )
            continue
        forward[source].add(target)
        backward[target].add(source)
    for event in event_subprocesses:
        problems += _path_problems(event)
    if not nodes:
        return problems
    starts = [n for n, tag in nodes.items() if tag == "startEvent"]
    ends = [n for n, tag in nodes.items() if tag == "endEvent"]
    where = container.get("id", "")
    if not starts:
        problems.append(Problem(where, "缺少开始事件", "has no start event"))
    if not ends:
        problems.append(Problem(where, "缺少结束事件", "has no end event"))
    reached = _walk(starts, forward)
    finishing = _walk(ends, backward)
    for node in nodes:
        if starts and node not in reached:
            problems.append(
                Problem(node, "从开始事件无法到达该节点", "cannot be reached from a start event")
            )
        if ends and node not in finishing:
            problems.append(
                Problem(node, "从该节点无法到达结束事件", "has no path to an end event")
            )
    return problems


def _processes(root: etree._Element, process_id: str | None) -> list[etree._Element]:
    found = root.findall(f"{{{BPMN_NS}}}process")
    return [p for p in found if process_id is None or p.get("id") == process_id]


def validate_bpmn(
    content: bytes, decisions: Decisions = (), *, process_id: str | None = None
) -> list[Problem]:
    """Every problem that should stop this BPMN (with its DMN decision tables) being deployed;
    empty when it may run."""
    decisions = tuple(decisions)
    roots, problems = _read_documents(content, decisions)
    if problems:
        return problems
    for name, root in roots:
        if not name:
            problems += _duplicate_ids(root)
            for process in _processes(root, process_id):
                problems += _path_problems(process)
            problems += _code_problems(_bpmn_code(root))
        else:
            problems += _code_problems(_dmn_code(root, problems))
    try:
        SpecCache().load(content, process_id, "<bpmn>", decisions)
    except SpecError as exc:
        element_id = getattr(exc.__cause__, "id", "") or ""
        problems.insert(0, Problem(element_id, f"无法解析流程：{exc}", f"cannot parse: {exc}"))
    return problems
