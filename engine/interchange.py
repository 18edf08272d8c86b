"""Accept BPMN files made with other modelers (Camunda Modeler 7 and 8, the bpmn.io demo) when
they can run here, by rewriting what only differs in spelling:

- `camunda:properties` / `zeebe:properties` (and `camunda:decisionRef`) become the `spiffworkflow:properties` the engine reads
  (so `item`, `kind` and `deadline` set in those modelers' property tables count);
- a timer given as a bare ISO 8601 literal (`PT5M`, `P3D`, `2027-01-01T09:00:00`) becomes the
  quoted string our expression language needs;
- a process marked `isExecutable="false"` (the bpmn.io demo's default) is made executable, and a
  single process with another id takes the matter's process id (references follow);
- a collaboration of several pools keeps the process chosen (or the only one with elements), the
  other pools are dropped;
- a task with several outgoing flows and no conditions on them (a parallel split in BPMN's
  meaning) gets an explicit parallel gateway after it;
- a service task without an implementation, or one left to an external worker (Camunda's
  external topic, Zeebe's job type), becomes what a department's own system works here: a user
  task in its lane, which clerks or the department system (over the external-task API) complete;
- a file in another declared encoding (GBK, GB18030, UTF-16…) is stored as UTF-8.

What cannot run is not guessed at: JUEL (`${...}`) and FEEL (`=...`) expressions, scripts in
other languages and Java service implementations are reported as problems, naming the element,
for the author to rewrite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from engine.validation import (
    ACTIVITIES,
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    FLOW_NODES,
    ID_NAMESPACES,
    Problem,
    element_names,
    named,
    parse_xml,
)

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


CAMUNDA_NS = next(iter(FOREIGN_PROPERTY_NS))
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
# Camunda 7 attributes that bind a service task to Java code or an expression: nothing here runs it
JAVA_IMPLEMENTATIONS = ("class", "expression", "delegateExpression")
GATEWAY_SIZE = 36  # bpmn-js's gateway shape


@dataclass(frozen=True)
class ProcessChoice:
    """One process of a file with several pools, for the administrator to choose from."""

    process_id: str
    name: str
    participant: str  # the pool's name ("" when no pool shows it)
    tasks: int  # its activities (tasks, sub-processes, call activities)
    elements: int  # its flow nodes of any kind


@dataclass
class Converted:
    """The rewritten file, what was rewritten (notes) and what cannot run (problems); when the
    file has several processes and none was chosen, `processes` lists them to choose from."""

    content: bytes
    notes: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    processes: list[ProcessChoice] = field(default_factory=list)


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
                    f"脚本语言 {language} 不能执行，只支持 Python：请用 Python 改写脚本，并把脚本格式"
                    "（scriptFormat）改为 python",
                    f"scripts in {language} cannot run here; only Python is supported: rewrite "
                    "the script in Python and set its format (scriptFormat) to python",
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


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _encoding(root: etree._Element, result: Converted) -> None:
    declared = (root.getroottree().docinfo.encoding or "UTF-8").upper()
    if declared.replace("-", "") not in ("UTF8", "ASCII", "USASCII"):
        result.notes.append(
            Problem(
                "",
                f"文件的字符编码 {declared} 已按声明读取，并转存为 UTF-8",
                f"the file's {declared} encoding was read as declared and stored as UTF-8",
            )
        )


def process_choices(root: etree._Element) -> list[ProcessChoice]:
    """Each process of the file with its pool's name and its size."""
    pools = {
        p.get("processRef"): p.get("name") or ""
        for p in root.iter(_q(BPMN_NS, "participant"))
        if p.get("processRef")
    }
    choices = []
    for process in root.findall(_q(BPMN_NS, "process")):
        kinds = [_local(el) for el in process.iter()]
        choices.append(
            ProcessChoice(
                process.get("id", ""),
                process.get("name") or "",
                pools.get(process.get("id"), ""),
                sum(1 for kind in kinds if kind in ACTIVITIES),
                sum(1 for kind in kinds if kind in FLOW_NODES),
            )
        )
    return choices


def _drop_processes(root: etree._Element, keep: str) -> list[str]:
    """Remove every process but `keep`, with its pool, the message flows that touch what was
    removed and their shapes; the ids of the processes removed."""
    gone_processes, gone = [], set()
    for process in root.findall(_q(BPMN_NS, "process")):
        if process.get("id") != keep:
            gone_processes.append(process.get("id", ""))
            gone |= {el.get("id") for el in process.iter() if el.get("id")}
            root.remove(process)
    for participant in list(root.iter(_q(BPMN_NS, "participant"))):
        if participant.get("processRef") in gone:
            gone.add(participant.get("id"))
            participant.getparent().remove(participant)
    for flow in list(root.iter(_q(BPMN_NS, "messageFlow"))):
        if flow.get("sourceRef") in gone or flow.get("targetRef") in gone:
            gone.add(flow.get("id"))
            flow.getparent().remove(flow)
    for shape in list(root.iter(_q(BPMNDI_NS, "BPMNShape"), _q(BPMNDI_NS, "BPMNEdge"))):
        if shape.get("bpmnElement") in gone:
            shape.getparent().remove(shape)
    return gone_processes


def _choose_process(root: etree._Element, choice: str | None, result: Converted) -> None:
    """Keep one process of several: the one chosen, else the only one with flow nodes; else ask
    (`result.processes`)."""
    choices = process_choices(root)
    if len(choices) < 2:
        return
    ids = [c.process_id for c in choices]
    if choice is None:
        filled = [c for c in choices if c.elements]
        if len(filled) != 1:
            result.processes = choices
            result.problems.append(
                Problem(
                    "",
                    f"文件中有 {len(choices)} 个流程（{', '.join(ids)}）：请选择作为本事项流程的一个",
                    f"the file has {len(choices)} processes ({', '.join(ids)}): choose the one "
                    "to use as this matter's process",
                )
            )
            return
        choice = filled[0].process_id
        reason_zh, reason_en = "只有它含有流程节点", "it is the only one with flow elements"
    elif choice not in ids:
        result.processes = choices
        result.problems.append(
            Problem(
                "",
                f"文件中没有流程 {choice}：请从 {', '.join(ids)} 中选择",
                f"the file has no process {choice}: choose one of {', '.join(ids)}",
            )
        )
        return
    else:
        reason_zh, reason_en = "按所选", "as chosen"
    dropped = ", ".join(_drop_processes(root, choice))
    result.notes.append(
        Problem(
            choice,
            f"文件有 {len(choices)} 个泳池，已使用流程 {choice}（{reason_zh}），其余泳池（{dropped}）"
            "已删除",
            f"the file has {len(choices)} pools; process {choice} is used ({reason_en}) and the "
            f"other pools ({dropped}) were removed",
        )
    )


def _unique_id(root: etree._Element, wanted: str) -> str:
    taken = {el.get("id") for el in root.iter() if isinstance(el.tag, str)}
    found, n = wanted, 1
    while found in taken:
        n += 1
        found = f"{wanted}_{n}"
    return found


def _shape_of(root: etree._Element, element_id: str) -> etree._Element | None:
    for shape in root.iter(_q(BPMNDI_NS, "BPMNShape")):
        if shape.get("bpmnElement") == element_id:
            return shape.find(_q(DC_NS, "Bounds"))
    return None


def _draw_split(root: etree._Element, task: str, gateway: str, flow: str, moved: list[str]):
    """A gateway shape just after the task, an edge to it, and the moved edges starting at it."""
    bounds = _shape_of(root, task)
    if bounds is None:
        return
    x, y = float(bounds.get("x", 0)), float(bounds.get("y", 0))
    width, height = float(bounds.get("width", 100)), float(bounds.get("height", 80))
    gx, middle = x + width + 20, y + height / 2
    plane = bounds.getparent().getparent()
    shape = etree.SubElement(
        plane, _q(BPMNDI_NS, "BPMNShape"), id=f"{gateway}_di", bpmnElement=gateway
    )
    etree.SubElement(
        shape,
        _q(DC_NS, "Bounds"),
        x=f"{gx:g}",
        y=f"{middle - GATEWAY_SIZE / 2:g}",
        width=str(GATEWAY_SIZE),
        height=str(GATEWAY_SIZE),
    )
    edge = etree.SubElement(plane, _q(BPMNDI_NS, "BPMNEdge"), id=f"{flow}_di", bpmnElement=flow)
    for px in (x + width, gx):
        etree.SubElement(edge, _q(DI_NS, "waypoint"), x=f"{px:g}", y=f"{middle:g}")
    for old in plane.iter(_q(BPMNDI_NS, "BPMNEdge")):
        if old.get("bpmnElement") in moved:
            points = old.findall(_q(DI_NS, "waypoint"))
            if points:
                points[0].set("x", f"{gx + GATEWAY_SIZE / 2:g}")
                after = float(points[1].get("y", middle)) if len(points) > 1 else middle
                side = 0 if abs(after - middle) < 1 else (1 if after > middle else -1)
                points[0].set("y", f"{middle + side * GATEWAY_SIZE / 2:g}")
                if side == 0:
                    points[0].set("x", f"{gx + GATEWAY_SIZE:g}")


def _parallel_splits(root: etree._Element, result: Converted) -> None:
    """A task whose outgoing flows carry no conditions starts them all (BPMN's implicit
    parallel split): make the split an explicit parallel gateway, which the lanes and the
    editor show."""
    for container in list(root.iter(_q(BPMN_NS, "process"), _q(BPMN_NS, "subProcess"))):
        outgoing: dict[str, list[etree._Element]] = {}
        for flow in container.findall(_q(BPMN_NS, "sequenceFlow")):
            outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
        for task in list(container):
            flows = outgoing.get(task.get("id", ""), [])
            if _local(task) not in ACTIVITIES or len(flows) < 2 or task.get("default"):
                continue
            if any(f.find(_q(BPMN_NS, "conditionExpression")) is not None for f in flows):
                continue
            task_id = task.get("id", "")
            gateway = _unique_id(root, f"Gateway_split_{task_id}")
            flow_id = _unique_id(root, f"Flow_split_{task_id}")
            moved = [f.get("id", "") for f in flows]
            split = etree.Element(_q(BPMN_NS, "parallelGateway"), id=gateway)
            task.addnext(split)
            etree.SubElement(split, _q(BPMN_NS, "incoming")).text = flow_id
            for f in flows:
                f.set("sourceRef", gateway)
                etree.SubElement(split, _q(BPMN_NS, "outgoing")).text = f.get("id")
            refs = [o for o in task.findall(_q(BPMN_NS, "outgoing")) if o.text in moved]
            for ref in refs[1:]:
                task.remove(ref)
            if refs:
                refs[0].text = flow_id
            container.append(
                etree.Element(
                    _q(BPMN_NS, "sequenceFlow"), id=flow_id, sourceRef=task_id, targetRef=gateway
                )
            )
            for ref in root.iter(_q(BPMN_NS, "flowNodeRef")):
                if (ref.text or "").strip() == task_id:
                    ref.addnext(etree.Element(_q(BPMN_NS, "flowNodeRef")))
                    ref.getnext().text = gateway
            _draw_split(root, task_id, gateway, flow_id, moved)
            result.notes.append(
                Problem(
                    task_id,
                    f"该任务有 {len(flows)} 条无条件的出口连线，表示同时进行：已在其后加入并行网关 "
                    f"{gateway}",
                    f"this task has {len(flows)} unconditioned outgoing flows, which all run at "
                    f"once: a parallel gateway {gateway} was added after it",
                )
            )


def _lane_of(root: etree._Element, element_id: str) -> str:
    for lane in root.iter(_q(BPMN_NS, "lane")):
        if any((r.text or "").strip() == element_id for r in lane.iter(_q(BPMN_NS, "flowNodeRef"))):
            return lane.get("name") or lane.get("id", "")
    return ""


def _service_tasks(root: etree._Element, result: Converted) -> None:
    """Service tasks with nothing here to run them become a department system's task: a user
    task in the lane's department, which the department's system completes over the
    external-task API (or a clerk, when the system is down)."""
    for task in list(root.iter(_q(BPMN_NS, "serviceTask"))):
        task_id = task.get("id", "")
        extensions = task.find(_q(BPMN_NS, "extensionElements"))
        if (
            extensions is not None
            and extensions.find(_q(SPIFF_NS, "serviceTaskOperator")) is not None
        ):
            continue  # ours: SpiffWorkflow runs the operator
        java = [a for a in JAVA_IMPLEMENTATIONS if task.get(_q(CAMUNDA_NS, a))]
        if extensions is not None and extensions.find(_q(CAMUNDA_NS, "connector")) is not None:
            java.append("connector")
        if java:
            result.problems.append(
                Problem(
                    task_id,
                    f"服务任务使用 Camunda 的实现（{', '.join(java)}），本系统不能执行：请删除该实现，"
                    "导入时它会改为由部门系统办理的任务",
                    f"the service task uses a Camunda implementation ({', '.join(java)}) that "
                    "cannot run here: remove it, and the import makes it a task the department's "
                    "system works",
                )
            )
            continue
        worker = task.attrib.pop(_q(CAMUNDA_NS, "topic"), None)
        task.attrib.pop(_q(CAMUNDA_NS, "type"), None)
        task.attrib.pop("implementation", None)
        task.attrib.pop("operationRef", None)
        if extensions is not None:
            for definition in extensions.findall(_q(ZEEBE_NS, "taskDefinition")):
                worker = worker or definition.get("type")
                extensions.remove(definition)
        task.tag = _q(BPMN_NS, "userTask")
        lane = _lane_of(root, task_id)
        where_zh = f"泳道 {lane} 的部门" if lane else "其泳道的部门"
        where_en = f"the {lane} lane's department" if lane else "its lane's department"
        via_zh = f"（原外部任务主题 {worker}）" if worker else ""
        via_en = f" (its external topic {worker} is not used here)" if worker else ""
        result.notes.append(
            Problem(
                task_id,
                f"服务任务没有本系统能执行的实现{via_zh}，已改为由{where_zh}办理的任务：部门系统通过"
                "外部任务接口领取并办结，也可由工作人员办理",
                f"the service task had no implementation that runs here{via_en}; it became a "
                f"task of {where_en}, which the department's system completes over the "
                "external-task API (or a clerk does)",
            )
        )


def _vendor_ids(root: etree._Element, result: Converted) -> None:
    """A modeler's own elements (Camunda form fields, I/O parameters…) may carry the id of a BPMN
    element: nothing here reads theirs, but the engine looks elements up by id and would find
    the wrong one, so such ids are taken off."""
    model = {
        el.get("id")
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).namespace in ID_NAMESPACES
    }
    owners: dict[str, None] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace in ID_NAMESPACES:
            continue
        if element.get("id") and element.get("id") in model:
            del element.attrib["id"]
            owners[_owner_id(element)] = None
    for owner in owners:
        result.notes.append(
            Problem(
                owner,
                "扩展属性中与流程元素重名的标识已删除（本系统不使用这些扩展）",
                "ids in its modeler extensions that repeat a BPMN element's id were removed "
                "(those extensions are not used here)",
            )
        )


def convert(
    content: bytes, *, process_id: str | None = None, choice: str | None = None
) -> Converted:
    """`content` rewritten to run here where only spelling differs; unchanged (with no notes)
    when it was ours already, or when it is not XML (validation reports that). `choice`: the
    process to use of a file with several (see `ProcessChoice`)."""
    try:
        root = parse_xml(content)
    except etree.XMLSyntaxError:
        return Converted(content)
    if root.getroottree().docinfo.doctype:
        return Converted(content)
    result = Converted(content)
    _encoding(root, result)
    _choose_process(root, choice, result)
    if result.processes:
        return result
    _vendor_ids(root, result)
    _convert_properties(root, result)
    _convert_decision_refs(root, result)
    _convert_timers(root, result)
    _foreign_code(root, result)
    _adopt_process(root, process_id, result)
    _parallel_splits(root, result)
    _service_tasks(root, result)
    names = element_names(root)
    result.notes = named(result.notes, names)
    result.problems = named(result.problems, names)
    if result.notes:
        etree.cleanup_namespaces(root, top_nsmap={"spiffworkflow": SPIFF_NS})
        result.content = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return result
