"""The shipped diagrams are readable: no shape or label on another, every shape in its lane,
lanes named after their departments and bound to their codes; the layout keeps the process."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest
from lxml import etree

from engine.layout import BPMN, BPMNDI, DC, Box, ensure_layout, layout, missing_diagram
from engine.specs import SPIFF, SpecCache

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "bpmn").glob("*.bpmn"))
DEPARTMENTS = {
    d["code"]: d["name"]
    for d in tomllib.loads((ROOT / "forms" / "catalog" / "departments.toml").read_text())[
        "department"
    ]
}
APPLICANT = ("applicant", "申请人（补正）")
NODE_KINDS = {
    *("startEvent", "endEvent", "boundaryEvent", "intermediateCatchEvent"),
    *("userTask", "businessRuleTask", "serviceTask", "scriptTask", "task"),
    *("exclusiveGateway", "parallelGateway", "inclusiveGateway"),
}


def _box(element: etree._Element) -> Box:
    bounds = element.find(f"{{{DC}}}Bounds")
    return Box(*(float(bounds.get(k)) for k in ("x", "y", "width", "height")))


def diagram_problems(content: bytes) -> list[str]:
    """Everything that makes a diagram hard to read, one line each (empty: readable)."""
    root = etree.fromstring(content)
    kinds = {el.get("id"): etree.QName(el).localname for el in root.iter() if el.get("id")}
    hosts = {el.get("id"): el.get("attachedToRef") for el in root.iter(f"{{{BPMN}}}boundaryEvent")}
    lane_of = {
        ref.text: lane.get("id")
        for lane in root.iter(f"{{{BPMN}}}lane")
        for ref in lane.findall(f"{{{BPMN}}}flowNodeRef")
    }
    shapes, labels = {}, {}
    for shape in root.iter(f"{{{BPMNDI}}}BPMNShape"):
        shapes[shape.get("bpmnElement")] = _box(shape)
    for owner in root.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge"):
        label = owner.find(f"{{{BPMNDI}}}BPMNLabel")
        if label is not None and label.find(f"{{{DC}}}Bounds") is not None:
            labels[owner.get("bpmnElement")] = _box(label)
    drawn = set(shapes) | {e.get("bpmnElement") for e in root.iter(f"{{{BPMNDI}}}BPMNEdge")}
    problems = [
        f"{element.get('id')} has no diagram element"
        for process in root.iter(f"{{{BPMN}}}process")
        for element in process
        if etree.QName(element).localname in NODE_KINDS | {"sequenceFlow"}
        and element.get("id") not in drawn
    ]
    nodes = {e: b for e, b in shapes.items() if kinds.get(e) not in ("participant", "lane")}
    for (a, box_a), (b, box_b) in itertools.combinations(nodes.items(), 2):
        if box_a.overlaps(box_b) and hosts.get(a) != b and hosts.get(b) != a:
            problems.append(f"shapes {a} and {b} overlap")
    for owner, label in labels.items():
        for element, box in nodes.items():
            if element != owner and label.overlaps(box):
                problems.append(f"the label of {owner} overlaps {element}")
    for (a, box_a), (b, box_b) in itertools.combinations(labels.items(), 2):
        if box_a.overlaps(box_b):
            problems.append(f"the labels of {a} and {b} overlap")
    for element, box in nodes.items():
        lane = lane_of.get(element)
        if lane is None or lane not in shapes:
            problems.append(f"{element} is in no drawn lane")
        elif not box.inside(shapes[lane]):
            problems.append(f"{element} lies outside its lane {lane}")
    for lane in root.iter(f"{{{BPMN}}}lane"):
        bound = lane.find(
            f"{{{BPMN}}}extensionElements/{{{SPIFF}}}properties/"
            f"{{{SPIFF}}}property[@name='department']"
        )
        code = bound.get("value") if bound is not None else None
        expected = APPLICANT[1] if code == APPLICANT[0] else DEPARTMENTS.get(code or "")
        if expected is None:
            problems.append(f"lane {lane.get('id')} is bound to no department ({code})")
        elif lane.get("name") != expected:
            problems.append(f"lane {lane.get('id')} is named {lane.get('name')}, not {expected}")
    return problems


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_shipped_diagram_is_readable(path):
    assert diagram_problems(path.read_bytes()) == []


def test_the_check_finds_stacked_shapes_and_raw_lane_names():
    stacked = (ROOT / "bpmn" / "newborn.bpmn").read_bytes()
    root = etree.fromstring(stacked)
    shapes = list(root.iter(f"{{{BPMNDI}}}BPMNShape"))
    first = next(s for s in shapes if s.get("bpmnElement") == "Task_birth_certificate")
    second = next(s for s in shapes if s.get("bpmnElement") == "Task_birth_registration")
    for key in ("x", "y"):
        second.find(f"{{{DC}}}Bounds").set(key, first.find(f"{{{DC}}}Bounds").get(key))
    root.find(f".//{{{BPMN}}}lane").set("name", "center")
    found = diagram_problems(etree.tostring(root))
    assert "shapes Task_birth_certificate and Task_birth_registration overlap" in found
    assert any("is named center" in p for p in found)


def _semantic(content: bytes) -> bytes:
    root = etree.fromstring(content)
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    return etree.tostring(root)


@pytest.mark.parametrize("path", FILES[:3], ids=lambda p: p.stem)
def test_layout_rewrites_only_the_diagram(path):
    content = path.read_bytes()
    laid_out = layout(content)
    assert _semantic(laid_out) == _semantic(content)
    assert layout(laid_out) == laid_out  # the same layout again: stable, no drift


def test_a_file_without_diagram_is_laid_out_with_its_lanes():
    content = (ROOT / "bpmn" / "housing_fund.bpmn").read_bytes()
    root = etree.fromstring(content)
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    bare = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    drawn = ensure_layout(bare)
    assert diagram_problems(drawn) == []
    assert ensure_layout(drawn) is drawn  # complete: left as it is
    spec = SpecCache().load(drawn, None, "housing_fund.bpmn")
    assert spec.lanes == SpecCache().load(content, None, "housing_fund.bpmn").lanes


def test_a_half_drawn_file_is_laid_out_and_garbage_is_left_alone():
    content = (ROOT / "bpmn" / "unemployment.bpmn").read_bytes()
    root = etree.fromstring(content)
    plane = root.find(f".//{{{BPMNDI}}}BPMNPlane")
    for shape in list(plane)[len(plane) // 2 :]:
        plane.remove(shape)
    half = etree.tostring(root)
    assert missing_diagram(etree.fromstring(half))
    assert diagram_problems(ensure_layout(half)) == []
    assert ensure_layout(b"<not xml") == b"<not xml"


NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="https://example.org">
  <bpmn:collaboration id="c"><bpmn:participant id="pool" processRef="p"/></bpmn:collaboration>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="bureau" name="Bureau">
        <bpmn:childLaneSet id="cls">
          <bpmn:lane id="desk" name="Desk"><bpmn:flowNodeRef>s</bpmn:flowNodeRef>
            <bpmn:flowNodeRef>a</bpmn:flowNodeRef></bpmn:lane>
          <bpmn:lane id="office" name="Office"><bpmn:flowNodeRef>b</bpmn:flowNodeRef></bpmn:lane>
        </bpmn:childLaneSet>
      </bpmn:lane>
      <bpmn:lane id="citizen" name="Citizen"><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="s" name="Applied"/>
    <bpmn:userTask id="a" name="Accept"/>
    <bpmn:userTask id="b" name="Decide"/>
    <bpmn:endEvent id="e" name="Told"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
    <bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
    <bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_lanes_inside_lanes_are_drawn_inside_them():
    drawn = ensure_layout(NESTED)
    root = etree.fromstring(drawn)
    assert missing_diagram(root) == []
    shapes = {s.get("bpmnElement"): _box(s) for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    assert shapes["desk"].inside(shapes["bureau"]) and shapes["office"].inside(shapes["bureau"])
    assert shapes["desk"].x > shapes["bureau"].x  # beside the bureau's name band
    assert not shapes["citizen"].overlaps(shapes["bureau"])
    readable = [p for p in diagram_problems(drawn) if not p.startswith("lane ")]
    assert readable == []
    assert ensure_layout(drawn) is drawn


POOLS = b"""<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="https://example.org">
  <bpmn:collaboration id="c">
    <bpmn:participant id="P1" name="Bureau" processRef="p1"/>
    <bpmn:participant id="P2" name="Partner"/>
    <bpmn:participant id="P3" name="Registry" processRef="p3"/>
    <bpmn:messageFlow id="m" sourceRef="t1" targetRef="t3"/>
  </bpmn:collaboration>
  <bpmn:process id="p1"><bpmn:startEvent id="s1"/><bpmn:task id="t1"/>
    <bpmn:sequenceFlow id="a" sourceRef="s1" targetRef="t1"/></bpmn:process>
  <bpmn:process id="p3"><bpmn:task id="t3"/></bpmn:process>
</bpmn:definitions>"""


def test_pools_are_stacked_as_wide_as_each_other_and_message_flows_join_their_tasks():
    root = etree.fromstring(ensure_layout(POOLS))
    assert missing_diagram(root) == []
    shapes = {s.get("bpmnElement"): _box(s) for s in root.iter(f"{{{BPMNDI}}}BPMNShape")}
    pools = [shapes[p] for p in ("P1", "P2", "P3")]
    assert len({p.right for p in pools}) == 1
    assert all(a.bottom < b.y for a, b in itertools.pairwise(pools))
    assert shapes["t1"].inside(shapes["P1"]) and shapes["t3"].inside(shapes["P3"])
    edge = next(e for e in root.iter(f"{{{BPMNDI}}}BPMNEdge") if e.get("bpmnElement") == "m")
    points = [(float(w.get("x")), float(w.get("y"))) for w in edge]
    (x1, y1), (x2, y2) = points[0], points[-1]
    assert shapes["t1"].x <= x1 <= shapes["t1"].right and y1 == shapes["t1"].bottom
    assert shapes["t3"].x <= x2 <= shapes["t3"].right and y2 == shapes["t3"].y
