"""Check a BPMN file before it is deployed: it parses, its code passes the sandbox, every element
lies on a path from a start event to an end event, and no id is used twice.

Each finding names the element it is about, so an editor can point at it. Engine-level only: what
the lanes and items must be is the caller's business.
"""

from __future__ import annotations

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
EXPRESSION_TAGS = frozenset(["conditionExpression", "timeDate", "timeDuration", "timeCycle"])
SCRIPT_TAGS = frozenset(["script", "preScript", "postScript"])
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


def _dmn_entry_problems(source: str) -> list[str]:
    """Sandbox problems of a DMN cell: an expression, or a unary test like `> 5` or `'a', 'b'`."""
    source = source.strip().replace("?", DMN_PLACEHOLDER)
    if source in ("", "-"):
        return []
    found: list[str] = []
    for text in (source, f"{DMN_PLACEHOLDER} {source}", f"({source},)"):
        found = check_expression(text)
        if not found or "syntax error" not in found[0]:
            return found
    return found


def _code_problems(root: etree._Element, dmn: bool) -> list[Problem]:
    problems = []
    for element in root.iter():
        tag = _local(element)
        source = element.text or ""
        if dmn and tag == "text":
            found = _dmn_entry_problems(source)
        elif not dmn and tag in EXPRESSION_TAGS and source.strip():
            found = check_expression(source)
        elif not dmn and tag in SCRIPT_TAGS and source.strip():
            found = check_script(source)
        else:
            continue
        for finding in found:
            problems.append(
                Problem(
                    _owner_id(element),
                    f"代码未通过安全检查（{tag}）：{finding}",
                    f"code refused by the sandbox ({tag}): {finding}",
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
        problems += _code_problems(root, dmn=bool(name))
    try:
        SpecCache().load(content, process_id, "<bpmn>", decisions)
    except SpecError as exc:
        element_id = getattr(exc.__cause__, "id", "") or ""
        problems.insert(0, Problem(element_id, f"无法解析流程：{exc}", f"cannot parse: {exc}"))
    return problems
