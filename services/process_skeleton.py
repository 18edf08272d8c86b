"""The process a matter routes by before an administrator deploys one of its own: for a matter
made in the browser (it has no file in bpmn/), every item of the matter in parallel, each with
the correction loop and the two deadline timers the shipped processes give every departmental
task. The administrator opens it in the editor, changes what the matter needs (an order, a
gateway) and deploys it.

Lanes are bound to departments by their `department` property and named by the department's
name; the diagram is laid out by engine/layout.py, like any file that comes without one.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from lxml import etree

from forms.catalog import Catalog, Matter

if TYPE_CHECKING:
    from services.runtime import Runtime

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
APPLICANT_LANE = "applicant"
APPLICANT_LANE_NAME = "申请人（补正）"
CENTER = "center"  # the service centre's lane: the start, the gateways, the end


def builtin_content(rt: Runtime, matter: Matter) -> bytes:
    """The matter's file in bpmn/, else the plain process drawn from its items."""
    path = rt.settings.bpmn_dir / matter.bpmn if matter.bpmn else None
    if path is not None and path.is_file():
        return path.read_bytes()
    return skeleton(rt.catalog, matter)


def has_file(rt: Runtime, matter: Matter) -> bool:
    return bool(matter.bpmn) and (rt.settings.bpmn_dir / matter.bpmn).is_file()


def skeleton(catalog: Catalog, matter: Matter) -> bytes:
    items = tuple(
        (code, catalog.items[code].name, catalog.items[code].department)
        for code in matter.items
        if code in catalog.items
    )
    lanes = tuple(
        dict.fromkeys(
            (department, catalog.departments[department].name)
            for _code, _name, department in items
            if department in catalog.departments
        )
    )
    center = catalog.departments.get(CENTER)
    return _skeleton(
        matter.process_id, matter.name, items, lanes, center.name if center else "政务服务中心"
    )


def _q(name: str, namespace: str = BPMN) -> str:
    return f"{{{namespace}}}{name}"


@lru_cache(maxsize=64)
def _skeleton(
    process_id: str,
    name: str,
    items: tuple[tuple[str, str, str], ...],
    lanes: tuple[tuple[str, str], ...],
    center_name: str,
) -> bytes:
    root = etree.Element(
        _q("definitions"),
        nsmap={"bpmn": BPMN, "spiffworkflow": SPIFF},
        id=f"Definitions_{process_id}",
        targetNamespace="https://onething.example/bpmn",
    )
    collaboration = etree.SubElement(root, _q("collaboration"), id=f"Collaboration_{process_id}")
    etree.SubElement(
        collaboration,
        _q("participant"),
        id=f"Participant_{process_id}",
        name=name,
        processRef=process_id,
    )
    process = etree.SubElement(root, _q("process"), id=process_id, name=name, isExecutable="true")
    lane_set = etree.SubElement(process, _q("laneSet"), id=f"LaneSet_{process_id}")
    lane_nodes: dict[str, list[str]] = {CENTER: []}
    lane_elements = [(CENTER, center_name, CENTER)]
    for code, lane_name in lanes:
        if code == CENTER:
            continue  # the centre's own items share its lane
        lane_nodes[code] = []
        lane_elements.append((code, lane_name, code))
    lane_nodes[APPLICANT_LANE] = []
    lane_elements.append((APPLICANT_LANE, APPLICANT_LANE_NAME, APPLICANT_LANE))

    flows: list[tuple[str, str, str, str, str]] = []  # id, source, target, name, condition

    def node(tag: str, node_id: str, lane: str, label: str = "", **properties: str):
        element = etree.SubElement(process, _q(tag), id=node_id)
        if label:
            element.set("name", label)
        if properties:
            extensions = etree.SubElement(element, _q("extensionElements"))
            holder = etree.SubElement(extensions, _q("properties", SPIFF))
            for key, value in properties.items():
                etree.SubElement(holder, _q("property", SPIFF), name=key, value=value)
        lane_nodes[lane].append(node_id)
        return element

    def flow(source: str, target: str, label: str = "", condition: str = "") -> None:
        flows.append((f"Flow_{source}_to_{target}", source, target, label, condition))

    node("startEvent", "Event_applied", CENTER, "一表申请已提交")
    node("parallelGateway", "Gateway_split", CENTER, "分送各部门")
    node("parallelGateway", "Gateway_join", CENTER, "统一出件")
    node("endEvent", "Event_done", CENTER, "一次办好")
    flow("Event_applied", "Gateway_split")
    for code, item_name, department in items:
        task = f"Task_{code}"
        reopen, decided = f"Gateway_{code}_reopen", f"Gateway_{code}_decided"
        correction = f"Task_{code}_correction"
        node("exclusiveGateway", reopen, department)
        node("userTask", task, department, item_name, item=code)
        node("exclusiveGateway", decided, department, "需要补正？")
        node(
            "userTask",
            correction,
            APPLICANT_LANE,
            f"申请人补正：{item_name}",
            item=code,
            kind="correction",
        )
        flow("Gateway_split", reopen)
        flow(reopen, task)
        flow(task, decided)
        flow(decided, correction, "补正", f"decision_{code} == 'correction'")
        flow(decided, "Gateway_join", "办结")
        flow(correction, reopen)
        for kind, label, offset in (
            ("warning", "临近办结时限", " - 1"),
            ("overdue", "超过办结时限", ""),
        ):
            timer = node(
                "boundaryEvent", f"Timer_{code}_{kind}", department, label, item=code, deadline=kind
            )
            timer.set("attachedToRef", task)
            timer.set("cancelActivity", "false")
            definition = etree.SubElement(timer, _q("timerEventDefinition"))
            etree.SubElement(
                definition, _q("timeDate")
            ).text = f"due_in_working_days(time_limits['{code}']{offset})"
            node("endEvent", f"Event_{code}_{kind}", department, label)
            flow(f"Timer_{code}_{kind}", f"Event_{code}_{kind}")
    flow("Gateway_join", "Event_done")
    # the default path of each "decided" gateway: no condition, marked as its default
    for flow_id, source, target, label, condition in flows:
        element = etree.SubElement(
            process, _q("sequenceFlow"), id=flow_id, sourceRef=source, targetRef=target
        )
        if label:
            element.set("name", label)
        if condition:
            expression = etree.SubElement(element, _q("conditionExpression"))
            expression.text = condition
        elif source.endswith("_decided"):
            process.find(f"*[@id='{source}']").set("default", flow_id)
        for node_id, tag in ((source, "outgoing"), (target, "incoming")):
            owner = process.find(f"*[@id='{node_id}']")
            etree.SubElement(owner, _q(tag)).text = flow_id
    for code, lane_name, department in lane_elements:
        lane = etree.SubElement(lane_set, _q("lane"), id=f"Lane_{code}", name=lane_name)
        if department:
            extensions = etree.SubElement(lane, _q("extensionElements"))
            holder = etree.SubElement(extensions, _q("properties", SPIFF))
            etree.SubElement(holder, _q("property", SPIFF), name="department", value=department)
        for node_id in lane_nodes[code]:
            etree.SubElement(lane, _q("flowNodeRef")).text = node_id
    lane_set.getparent().remove(lane_set)
    process.insert(0, lane_set)
    content = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return _laid_out(content)


def _laid_out(content: bytes) -> bytes:
    """The diagram drawn by engine/layout.py."""
    from engine.layout import ensure_layout

    return ensure_layout(content)
