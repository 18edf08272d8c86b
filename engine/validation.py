"""Check a BPMN file before it is deployed: it parses, its code passes the sandbox, every element
lies on a path from a start event to an end event, and no id is used twice.

Each finding names the element it is about (id and name), so an editor can point at it, and says
what to change, in Chinese and English: what the XML parser or SpiffWorkflow reported is
translated, never passed on (its text holds class names and reprs a person cannot act on).
Engine-level only: what the lanes and items must be is the caller's business.
"""

from __future__ import annotations

import ast
import re
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lxml import etree

from engine.sandbox import check_expression, check_script
from engine.specs import Decisions, SpecCache, SpecError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
# The namespaces whose ids must be unique: the model and its diagram. Vendor extensions
# (camunda:, zeebe:, spiffworkflow:, a modeler's own) may reuse ids as they like.
ID_NAMESPACES = frozenset([BPMN_NS, BPMNDI_NS, DC_NS, DI_NS])
ACTIVITIES = frozenset(
    [
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
    ]
)
FLOW_NODES = ACTIVITIES | frozenset(
    [
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
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
    """One finding: the element's id ("" for the whole file), in Chinese and in English, and
    the element's name as the author gave it ("" when it has none; see `named`)."""

    element_id: str
    message: str
    message_en: str
    name: str = ""


def element_names(root: etree._Element) -> dict[str, str]:
    """Each id of the model to the element's name (BPMN `name`, or a DMN decision's label)."""
    return {
        el.get("id"): el.get("name") or el.get("label") or ""
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id")
    }


def named(problems: Iterable[Problem], names: dict[str, str]) -> list[Problem]:
    """`problems` with the name of the element each is about filled in from `names`."""
    return [
        p if p.name or not names.get(p.element_id) else replace(p, name=names[p.element_id])
        for p in problems
    ]


# libxml2's error codes for the mistakes people make by hand, and what to do about them
_XML_MISTAKES = {
    4: ("文件是空的", "the file is empty"),
    5: ("根元素之后还有多余内容", "there is more content after the root element"),
    9: ("含有 XML 不允许的字符", "it holds a character XML does not allow"),
    32: ("声明的字符编码不受支持", "its declared character encoding is not supported"),
    73: ("标签缺少 >", "a tag is missing its >"),
    76: ("开始标签和结束标签不匹配", "an opening and a closing tag do not match"),
    77: ("文件在标签未结束时就结束了（可能被截断）", "it ends inside a tag (it may be cut off)"),
    201: ("使用了未声明的命名空间前缀", "it uses a namespace prefix that is not declared"),
}


def xml_problem(exc: etree.XMLSyntaxError, where: str) -> Problem:
    """What a parser error means for the author, at its line and column, without the parser's
    own text."""
    zh, en = _XML_MISTAKES.get(exc.code, ("格式不正确", "it is not well-formed"))
    line, column = exc.position if exc.position else (exc.lineno or 0, 0)
    return Problem(
        "",
        f"{where} 不是有效的 XML（第 {line} 行第 {column} 列）：{zh}。"
        "请在建模工具中重新保存或导出该文件后再上传",
        f"{where} is not valid XML (line {line}, column {column}): {en}. Save or export the "
        "file again from the modeler and upload it again",
    )


def as_utf8(content: bytes) -> bytes:
    """An XML file as UTF-8, read in the encoding it declares (GBK, UTF-16…): what is stored
    and handed on as text is UTF-8. Unchanged when it is UTF-8 already or not XML."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        return content
    declared = (root.getroottree().docinfo.encoding or "UTF-8").upper().replace("-", "")
    if declared in ("UTF8", "ASCII", "USASCII"):
        return content
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


DECLARED_ENCODING = re.compile(r"""^(\ufeff?\s*<\?xml\b[^>]*?\bencoding\s*=\s*)(["'])[^"']*\2""")


def xml_bytes(text: str) -> bytes:
    """XML received as text (JSON carries no bytes) as UTF-8 bytes whose declaration says
    so: a declaration of GBK or UTF-16 no longer holds once the text was decoded."""
    return DECLARED_ENCODING.sub(r"\1\2UTF-8\2", text.lstrip("\ufeff"), count=1).encode()


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
            problems.append(xml_problem(exc, where))
            continue
        if root.getroottree().docinfo.doctype:
            problems.append(
                Problem(
                    "",
                    f"{where} 不得包含 DOCTYPE 声明：请删除文件开头的 <!DOCTYPE …>",
                    f"{where} must not declare a DOCTYPE: remove the <!DOCTYPE …> at its start",
                )
            )
            continue
        roots.append((name, root))
    return roots, problems


def _duplicate_ids(root: etree._Element) -> list[Problem]:
    """Ids used twice by BPMN or diagram elements (see ID_NAMESPACES)."""
    counts = Counter(
        el.get("id")
        for el in root.iter()
        if isinstance(el.tag, str) and el.get("id") and etree.QName(el).namespace in ID_NAMESPACES
    )
    return [
        Problem(
            element_id,
            f"标识 {element_id} 被 {n} 个元素使用：请给其中的元素改用不重复的标识",
            f"id {element_id} is used by {n} elements: give each of them an id of its own",
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
                        "决策表的输入缺少输入表达式：请为该输入列填写表达式，例如 age",
                        "a decision table input needs an input expression: fill one in for the "
                        "column, e.g. age",
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
                    f"代码未通过安全检查（{piece.tag}）：{finding}。请改写为只使用允许的名称和"
                    "语法的 Python 表达式，例如 age >= 18",
                    f"code refused by the sandbox ({piece.tag}): {finding}. Rewrite it as a "
                    "Python expression with the names and syntax allowed here, e.g. age >= 18",
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
                continue
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
            refs = ", ".join(ref for ref in missing if ref)
            problems.append(
                Problem(
                    element_id,
                    f"连接的节点在本流程中不存在（{refs or '未指定'}）：请把它的两端重新连到已有的"
                    "节点，或删除它",
                    f"connects to elements this process does not have ({refs or 'none given'}): "
                    "connect both ends to existing elements, or delete it",
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
        problems.append(
            Problem(where, "缺少开始事件：请添加一个开始事件", "has no start event: add one")
        )
    if not ends:
        problems.append(
            Problem(where, "缺少结束事件：请添加一个结束事件", "has no end event: add one")
        )
    reached = _walk(starts, forward)
    finishing = _walk(ends, backward)
    for node in nodes:
        if starts and node not in reached:
            problems.append(
                Problem(
                    node,
                    "从开始事件无法到达该节点：请用顺序流把前面的节点连到它，或删除它",
                    "cannot be reached from a start event: connect an earlier element to it "
                    "with a sequence flow, or delete it",
                )
            )
        if ends and node not in finishing:
            if not forward[node] and nodes[node] != "endEvent":
                zh = "没有向外的顺序流：请从它画一条顺序流连到下一个节点或结束事件"
                en = "has no outgoing sequence flow: draw one from it to the next element or to an end event"
            else:
                zh = "从该节点无法到达结束事件：请让它之后的路径通向结束事件"
                en = "has no path to an end event: let the path after it lead to an end event"
            problems.append(Problem(node, zh, en))
    return problems


def _processes(root: etree._Element, process_id: str | None) -> list[etree._Element]:
    found = root.findall(f"{{{BPMN_NS}}}process")
    return [p for p in found if process_id is None or p.get("id") == process_id]


def _process_problems(root: etree._Element, process_id: str | None) -> list[Problem]:
    """The process the engine is to run is missing, or is not named among several."""
    found = root.findall(f"{{{BPMN_NS}}}process")
    if not found:
        return [
            Problem(
                "",
                "文件中没有流程（bpmn:process）：请上传 BPMN 2.0 流程图文件，而不是其他类型的文件",
                "the file holds no process (bpmn:process): upload a BPMN 2.0 process diagram, "
                "not another kind of file",
            )
        ]
    ids = [p.get("id", "") for p in found]
    if process_id is not None and process_id not in ids:
        return [
            Problem(
                "",
                f"文件中没有标识为 {process_id} 的流程（有：{', '.join(ids)}）：请选择其中一个",
                f"the file has no process with id {process_id} (it has: {', '.join(ids)}): "
                "choose one of them",
            )
        ]
    if process_id is None and len(found) > 1:
        return [
            Problem(
                "",
                f"文件中有 {len(found)} 个流程（{', '.join(ids)}）：请选择要使用的一个",
                f"the file has {len(found)} processes ({', '.join(ids)}): choose the one to use",
            )
        ]
    return []


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _flow_nodes(root: etree._Element) -> int:
    return sum(1 for el in root.iter() if _local(el) in FLOW_NODES)


# What SpiffWorkflow's parser says (a part of its text) and what the author should do about it
_ENGINE_MISTAKES = (
    (
        "no support implemented for this task type",
        "本系统不支持这种元素（{tag}）：请改用常用的类型，例如用户任务、排他网关或并行网关",
        "elements of this kind ({tag}) are not supported here: use a common kind instead, e.g. "
        "a user task, an exclusive or a parallel gateway",
    ),
    (
        "Cannot resolve data",
        "数据关联连到的数据对象不存在：请重新连接或删除该数据关联",
        "a data association of this element leads to a data object that does not exist: "
        "reconnect or delete it",
    ),
    (
        "multiinstance task must specify",
        "多实例任务需要循环次数（loopCardinality）或输入集合：请设置其中之一，或取消多实例",
        "a multi-instance task needs a loop cardinality or an input collection: set one, or "
        "make it a single task",
    ),
    (
        "Exactly one start event is required",
        "子流程必须恰好有一个开始事件：请在子流程中只保留（或添加）一个开始事件",
        "a sub-process needs exactly one start event: keep (or add) exactly one in it",
    ),
    (
        "Must contain an End event",
        "子流程必须有结束事件：请在子流程中添加结束事件",
        "a sub-process needs an end event: add one in it",
    ),
)
# Event definitions refer to a message, signal, error or escalation defined at the file's top
_EVENT_REFERENCES = ("messageRef", "signalRef", "errorRef", "escalationRef")


def _dangling_reference(root: etree._Element, element_id: str) -> Problem | None:
    """An event of `element_id` that refers to a message (signal, error…) the file lacks."""
    found = root.xpath("//*[@id=$id]", id=element_id) if element_id else []
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str)}
    for definition in found[0].iter() if found else ():
        for attribute in _EVENT_REFERENCES:
            ref = definition.get(attribute)
            if ref and ref not in ids:
                kind = attribute[: -len("Ref")]
                return Problem(
                    element_id,
                    f"事件引用的 {kind} {ref} 在文件中没有定义：请为它选择已有的 {kind}，或新建一个",
                    f"the event refers to {kind} {ref}, which the file does not define: choose "
                    f"an existing {kind} for it, or define one",
                )
    return None


def _engine_problem(exc: SpecError, root: etree._Element, process_id: str | None) -> Problem:
    """What SpiffWorkflow refused, translated for the author: the element from the exception's
    attributes (its text is never shown: it holds reprs and class names)."""
    chain = _causes(exc)
    if any(isinstance(e, RecursionError) for e in chain):
        size = _flow_nodes(root)
        return Problem(
            process_id or "",
            f"流程过长：共 {size} 个节点连成的路径超出了本系统能读取的长度。请把其中一段移入子流程"
            "（subProcess）或调用活动，缩短主流程",
            f"the process is too long: a path through its {size} elements is longer than the "
            "engine can read. Move part of it into a sub-process or a call activity",
        )
    detail = next((e for e in chain if hasattr(e, "tag") and hasattr(e, "id")), None)
    text = str(detail.args[0]) if detail is not None and detail.args else ""
    element_id = getattr(detail, "id", "") or ""
    missing = re.search(r"\(([^()]*)\)\.?\s*$", text)
    if "must have an operator" in text:
        return Problem(
            element_id,
            "服务任务没有本系统能执行的实现：请删除它的实现设置，由部门系统通过外部任务接口办理，"
            "或改为用户任务",
            "this service task has no implementation that can run here: remove its "
            "implementation so a department system works it over the external-task API, or "
            "make it a user task",
        )
    if "No DMN Diagram available" in text:
        available = text.rpartition(":")[2].strip(" .")
        return Problem(
            element_id,
            f"业务规则任务调用的决策表不存在：请选择本事项的决策表之一（{available or '无'}）",
            f"the business rule task calls a decision that does not exist: choose one of this "
            f"matter's decisions ({available or 'none'})",
        )
    called = re.search(r"process '([^']*)' was not found", text)
    if called:
        activity = root.xpath("//*[local-name()='callActivity'][@calledElement=$c]", c=called[1])
        return Problem(
            activity[0].get("id", "") if activity else element_id,
            f"调用活动调用的流程 {called[1]} 不在本文件中：请改为调用文件中的流程，或改为子流程",
            f"the call activity calls process {called[1]}, which this file does not have: call "
            "a process of this file, or make it a sub-process",
        )
    if "looking for a task spec" in text and missing:
        ref = missing[1]
        flow = root.xpath("//*[local-name()='sequenceFlow'][@targetRef=$r]", r=ref)
        return Problem(
            flow[0].get("id", "") if flow else element_id,
            f"连线指向的节点 {ref} 不存在：请重新连接或删除该连线",
            f"a sequence flow leads to {ref}, which does not exist: reconnect or delete it",
        )
    for pattern, zh, en in _ENGINE_MISTAKES:
        if pattern in text:
            tag = getattr(detail, "tag", "").rpartition(":")[2]
            return Problem(element_id, zh.format(tag=tag), en.format(tag=tag))
    dangling = _dangling_reference(root, element_id)
    if dangling:
        return dangling
    if element_id:
        return Problem(
            element_id,
            "流程引擎无法读取该元素：请检查它的类型和设置，或删除后重新绘制",
            "the engine cannot read this element: check its type and settings, or delete it "
            "and draw it again",
        )
    return Problem(
        process_id or "",
        "流程引擎无法读取该流程：请检查各元素的类型和连线，或在建模工具中重新导出",
        "the engine cannot read this process: check its elements' types and flows, or export "
        "it again from the modeler",
    )


def validate_bpmn(
    content: bytes, decisions: Decisions = (), *, process_id: str | None = None
) -> list[Problem]:
    """Every problem that should stop this BPMN (with its DMN decision tables) being deployed;
    empty when it may run. Each names its element where there is one (id and name)."""
    decisions = tuple(decisions)
    roots, problems = _read_documents(content, decisions)
    if problems:
        return problems
    names: dict[str, str] = {}
    for name, root in roots:
        names.update(element_names(root))
        if not name:
            problems += _process_problems(root, process_id)
            if problems:
                return named(problems, names)
            problems += _duplicate_ids(root)
            for process in _processes(root, process_id):
                problems += _path_problems(process)
            problems += _code_problems(_bpmn_code(root))
        else:
            problems += _code_problems(_dmn_code(root, problems))
    try:
        SpecCache().load(content, process_id, "<bpmn>", decisions)
    except SpecError as exc:
        found = _engine_problem(exc, roots[0][1], process_id)
        if not found.element_id or all(p.element_id != found.element_id for p in problems):
            problems.insert(0, found)  # else the element's problem is named already
    return named(problems, names)
