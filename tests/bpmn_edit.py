"""Edits tests make to a shipped BPMN file, the way an administrator would in the editor."""

from __future__ import annotations

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"


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
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
