"""Edits tests make to a shipped BPMN file, the way an administrator would in the editor."""

from __future__ import annotations

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DD = "http://www.omg.org/spec/DD/20100524/DI"


def _q(name: str, namespace: str = BPMN) -> str:
    return f"{{{namespace}}}{name}"


def add_item_task(
    content: bytes, *, item: str, lane: str, task_id: str, fork: str, join: str, name: str = ""
) -> bytes:
    """`content` with a user task bound to `item` in the lane of the department `lane` (bound
    by its property, or named so), on a new parallel branch from the gateway `fork` to the
    gateway `join`."""
    root = etree.fromstring(content)
    process = next(p for p in root.iter(_q("process")) if p.find(f".//*[@id='{fork}']") is not None)
    task = etree.SubElement(process, _q("userTask"), id=task_id, name=name or item)
    extensions = etree.SubElement(task, _q("extensionElements"))
    properties = etree.SubElement(extensions, _q("properties", SPIFF))
    etree.SubElement(properties, _q("property", SPIFF), name="item", value=item)
    for flow_id, source, target in (
        (f"Flow_{task_id}_in", fork, task_id),
        (f"Flow_{task_id}_out", task_id, join),
    ):
        etree.SubElement(
            process, _q("sequenceFlow"), id=flow_id, sourceRef=source, targetRef=target
        )
        for element_id, tag in ((source, "outgoing"), (target, "incoming")):
            element = process.find(f"*[@id='{element_id}']")
            etree.SubElement(element, _q(tag)).text = flow_id
    lane_element = next(
        el
        for el in process.iter(_q("lane"))
        if el.get("name") == lane
        or el.find(f".//{_q('property', SPIFF)}[@name='department'][@value='{lane}']") is not None
    )
    etree.SubElement(lane_element, _q("flowNodeRef")).text = task_id
    _draw(root, lane_element.get("id"), task_id, fork, join)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _draw(root: etree._Element, lane: str, task_id: str, fork: str, join: str) -> None:
    """The new task's shape (at the right end of its lane) and its two flows, as the editor
    draws them: a file with an element left undrawn would be laid out anew on deploy."""
    plane = root.find(f".//{_q('BPMNPlane', DI)}")
    bounds = {
        shape.get("bpmnElement"): shape.find(_q("Bounds", DC))
        for shape in plane.iter(_q("BPMNShape", DI))
    }

    def box(element_id: str) -> tuple[float, ...]:
        found = bounds[element_id]
        return tuple(float(found.get(key)) for key in ("x", "y", "width", "height"))

    lx, ly, lw, lh = box(lane)
    task = (lx + lw - 130, ly + lh / 2 - 40, 100, 80)
    shape = etree.SubElement(plane, _q("BPMNShape", DI), id=f"{task_id}_di", bpmnElement=task_id)
    etree.SubElement(
        shape,
        _q("Bounds", DC),
        **dict(zip(("x", "y", "width", "height"), map(str, task), strict=True)),
    )
    for flow_id, (source, target) in (
        (f"Flow_{task_id}_in", (box(fork), task)),
        (f"Flow_{task_id}_out", (task, box(join))),
    ):
        edge = etree.SubElement(plane, _q("BPMNEdge", DI), id=f"{flow_id}_di", bpmnElement=flow_id)
        for x, y, w, h in (source, target):
            etree.SubElement(edge, _q("waypoint", DD), x=str(x + w / 2), y=str(y + h / 2))


def insert_item_task(
    content: bytes, *, flow: str, item: str, lane: str, task_id: str, name: str = ""
) -> bytes:
    """`content` with a user task bound to `item` in the lane of the department `lane`, put
    on the sequence flow `flow` (which is replaced by a flow into the task, the default of its
    gateway if it was one, and one out of it)."""
    root = etree.fromstring(content)
    old = root.find(f".//{_q('sequenceFlow')}[@id='{flow}']")
    source, target = old.get("sourceRef"), old.get("targetRef")
    process = old.getparent()
    process.remove(old)
    for element in process.iterfind(f"*[@default='{flow}']"):
        element.set("default", f"Flow_{task_id}_in")
    for reference in process.iter(_q("incoming"), _q("outgoing")):
        if reference.text == flow:
            reference.getparent().remove(reference)
    for edge in root.iter(_q("BPMNEdge", DI)):
        if edge.get("bpmnElement") == flow:
            edge.getparent().remove(edge)
    stripped = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return add_item_task(
        stripped, item=item, lane=lane, task_id=task_id, fork=source, join=target, name=name
    )
