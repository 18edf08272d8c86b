"""Files from other modelers: every problem names its element and says what to change (in Chinese
and English, never an exception's text), common modeler output is converted where its meaning is
clear, a collaboration of several pools asks which process to use, ids are checked only among
BPMN and diagram elements, declared encodings are honoured and long chains are read."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from lxml import etree

from engine.deep import call_deeply
from engine.interchange import convert
from engine.specs import SpecCache
from engine.validation import BPMN_NS, Problem, as_utf8, validate_bpmn, xml_bytes

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
NEWBORN = (BPMN_DIR / "newborn.bpmn").read_bytes()
NEWBORN_DMN = (BPMN_DIR / "newborn.dmn").read_bytes()
ZEEBE = "http://camunda.org/schema/zeebe/1.0"
# What a person must never read: exception and class names, reprs, addresses, tracebacks
LEAKS = re.compile(
    r"Error|Exception|Traceback|0x[0-9a-f]+|<\w+ object|\w+\.\w+\(|<bpmn>|SpiffWorkflow|lxml"
    r"|\bNone\b|line \d+, column \d+ \("
)


def _file(body: str, *, lanes: str = "", encoding: str = "UTF-8", shapes: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        f'<definitions xmlns="{BPMN_NS}" xmlns:camunda="{CAMUNDA}" xmlns:zeebe="{ZEEBE}" '
        'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
        'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="D" targetNamespace="x">'
        f'<process id="p" isExecutable="true">{lanes}{body}</process>'
        f'<bpmndi:BPMNDiagram id="Diagram"><bpmndi:BPMNPlane id="Plane" bpmnElement="p">{shapes}'
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></definitions>"
    )


def _line(*steps: str) -> str:
    """A start event, the `steps` (elements, by their XML) in a row, an end event."""
    ids = ["s"] + [re.search(r'id="([^"]+)"', step)[1] for step in steps] + ["e"]
    flows = "".join(
        f'<sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}"/>'
        for n, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    )
    return '<startEvent id="s" name="开始"/>' + "".join(steps) + '<endEvent id="e"/>' + flows


def verdict(content: bytes) -> list[Problem]:
    """What an import reports: the conversion's problems, then validation's."""
    converted = convert(content, process_id="p")
    return converted.problems + validate_bpmn(converted.content, process_id="p")


BROKEN = {
    "not well-formed": (b"<definitions><process>", ""),
    "empty": (b"", ""),
    "with a DOCTYPE": (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><definitions/>',
        "",
    ),
    "not BPMN": (b"<html><body>hello</body></html>", ""),
    "a flow to an element that does not exist": (
        _file(
            '<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="nope"/>'
            '<endEvent id="e"/>'
        ).encode(),
        "f1",
    ),
    "a gateway without outgoing flows": (
        _file(
            '<startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="g"/>'
            '<exclusiveGateway id="g" name="审核结果"/><endEvent id="e"/>'
        ).encode(),
        "g",
    ),
    "a condition that is not Python": (
        _file(
            '<startEvent id="s"/><exclusiveGateway id="g" default="f3"/>'
            '<sequenceFlow id="f1" sourceRef="s" targetRef="g"/>'
            '<sequenceFlow id="f2" sourceRef="g" targetRef="e">'
            "<conditionExpression>age ==</conditionExpression></sequenceFlow>"
            '<sequenceFlow id="f3" sourceRef="g" targetRef="e"/><endEvent id="e"/>'
        ).encode(),
        "f2",
    ),
    "a JUEL condition": (
        _file(
            '<startEvent id="s"/><exclusiveGateway id="g" default="f3"/>'
            '<sequenceFlow id="f1" sourceRef="s" targetRef="g"/>'
            '<sequenceFlow id="f2" sourceRef="g" targetRef="e">'
            "<conditionExpression>${approved}</conditionExpression></sequenceFlow>"
            '<sequenceFlow id="f3" sourceRef="g" targetRef="e"/><endEvent id="e"/>'
        ).encode(),
        "f2",
    ),
    "a condition that imports": (
        _file(
            '<startEvent id="s"/><exclusiveGateway id="g" default="f3"/>'
            '<sequenceFlow id="f1" sourceRef="s" targetRef="g"/>'
            '<sequenceFlow id="f2" sourceRef="g" targetRef="e">'
            "<conditionExpression>__import__('os').system('x')</conditionExpression>"
            '</sequenceFlow><sequenceFlow id="f3" sourceRef="g" targetRef="e"/>'
            '<endEvent id="e"/>'
        ).encode(),
        "f2",
    ),
    "a missing process": (
        f'<definitions xmlns="{BPMN_NS}" id="D" targetNamespace="x"/>'.encode(),
        "",
    ),
    "a script in another language": (
        _file(
            _line(
                '<scriptTask id="t" name="计算" scriptFormat="groovy"><script>x = 1</script>'
                "</scriptTask>"
            )
        ).encode(),
        "t",
    ),
    "a business rule task without a decision": (
        _file(_line('<businessRuleTask id="t" name="自动核验"/>')).encode(),
        "t",
    ),
    "a call activity to a process the file lacks": (
        _file(_line('<callActivity id="t" name="子流程" calledElement="elsewhere"/>')).encode(),
        "t",
    ),
    "a service task bound to Java": (
        _file(_line('<serviceTask id="t" name="推送" camunda:class="org.example.Push"/>')).encode(),
        "t",
    ),
    "an id used twice": (
        _file(_line('<userTask id="t" name="受理"/>', '<userTask id="t" name="受理2"/>')).encode(),
        "t",
    ),
    "a kind of element the engine lacks": (
        _file(_line('<complexGateway id="t" name="复杂网关"/>')).encode(),
        "t",
    ),
    "an event with a message the file does not define": (
        _file(
            _line(
                '<intermediateCatchEvent id="t" name="等待回执">'
                '<messageEventDefinition messageRef="Message_gone"/></intermediateCatchEvent>'
            )
        ).encode(),
        "t",
    ),
    "a multi-instance task without a count": (
        _file(
            _line('<userTask id="t" name="会签"><multiInstanceLoopCharacteristics/></userTask>')
        ).encode(),
        "t",
    ),
    "an empty sub-process": (_file(_line('<subProcess id="t" name="子流程"/>')).encode(), "t"),
    "a data association to nothing": (
        _file(
            _line(
                '<userTask id="t" name="受理"><dataOutputAssociation id="d">'
                "<targetRef>gone</targetRef></dataOutputAssociation></userTask>"
            )
        ).encode(),
        "t",
    ),
    "no start event": (
        _file(
            '<userTask id="t" name="受理"/><endEvent id="e"/>'
            '<sequenceFlow id="f" sourceRef="t" targetRef="e"/>'
        ).encode(),
        "p",
    ),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_each_problem_names_its_element_and_what_to_change_without_exception_text(name):
    content, element = BROKEN[name]
    problems = verdict(content)
    assert problems, name
    assert any(p.element_id == element for p in problems), (name, problems)
    for problem in problems:
        assert problem.message.strip() and problem.message_en.strip(), problem
        assert re.search(r"[\u4e00-\u9fff]", problem.message), problem  # Chinese
        for text in (problem.message, problem.message_en):
            assert not LEAKS.search(text), (name, text)
        assert re.search("请|：", problem.message), problem  # says what to change


def test_a_problem_carries_the_elements_name():
    [problem] = [
        p for p in verdict(BROKEN["a gateway without outgoing flows"][0]) if p.element_id == "g"
    ]
    assert problem.name == "审核结果"
    assert "has no outgoing sequence flow" in problem.message_en


def test_an_xml_mistake_is_located_by_line_and_column():
    [problem] = verdict(b'<?xml version="1.0"?>\n<definitions>\n  <process>\n</definitions>')
    assert "line 4" in problem.message_en and "do not match" in problem.message_en
    assert "第 4 行" in problem.message


# --- collaborations ----------------------------------------------------------------------------


def _pools(*processes: tuple[str, str, str]) -> bytes:
    """A collaboration with a pool per (process id, pool name, process body)."""
    pools = "".join(
        f'<participant id="Pool_{pid}" name="{pool}" processRef="{pid}"/>'
        for pid, pool, _body in processes
    )
    bodies = "".join(
        f'<process id="{pid}" isExecutable="false">{body}</process>'
        for pid, _pool, body in processes
    )
    shapes = "".join(
        f'<bpmndi:BPMNShape id="Pool_{pid}_di" bpmnElement="Pool_{pid}">'
        '<dc:Bounds x="0" y="0" width="600" height="200"/></bpmndi:BPMNShape>'
        for pid, _pool, _body in processes
    )
    return (
        f'<definitions xmlns="{BPMN_NS}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
        'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="D" targetNamespace="x">'
        f'<collaboration id="C">{pools}'
        + (
            '<messageFlow id="m" sourceRef="Pool_Process_b" targetRef="Pool_Process_a"/>'
            if len(processes) > 1
            else ""
        )
        + f"</collaboration>{bodies}"
        f'<bpmndi:BPMNDiagram id="Diagram"><bpmndi:BPMNPlane id="Plane" bpmnElement="C">{shapes}'
        "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram></definitions>"
    ).encode()


def test_of_several_pools_the_only_one_with_elements_is_taken():
    content = _pools(
        ("Process_a", "政务服务中心", _line('<userTask id="t" name="受理"/>')),
        ("Process_b", "申请人", ""),
    )
    converted = convert(content, process_id="p")
    assert converted.problems == [] and converted.processes == []
    assert any("Process_a" in n.message_en and "Process_b" in n.message_en for n in converted.notes)
    root = etree.fromstring(converted.content)
    assert [p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")] == ["p"]
    assert not root.xpath("//*[@id='m' or @bpmnElement='Pool_Process_b']")
    assert validate_bpmn(converted.content, process_id="p") == []


def test_of_several_filled_pools_the_administrator_chooses():
    content = _pools(
        ("Process_a", "政务服务中心", _line('<userTask id="t" name="受理"/>')),
        ("Process_b", "公安局", _line('<userTask id="u" name="登记"/>', '<task id="v"/>')),
    )
    asked = convert(content, process_id="p")
    assert [(c.process_id, c.participant, c.tasks) for c in asked.processes] == [
        ("Process_a", "政务服务中心", 1),
        ("Process_b", "公安局", 2),
    ]
    assert len(asked.problems) == 1 and "choose" in asked.problems[0].message_en
    chosen = convert(content, process_id="p", choice="Process_b")
    assert chosen.problems == [] and chosen.processes == []
    root = etree.fromstring(chosen.content)
    assert [t.get("id") for t in root.iter(f"{{{BPMN_NS}}}userTask")] == ["u"]
    assert validate_bpmn(chosen.content, process_id="p") == []
    wrong = convert(content, process_id="p", choice="Process_z")
    assert wrong.processes and "Process_z" in wrong.problems[0].message_en


# --- conversions -------------------------------------------------------------------------------

FORK = _file(
    '<startEvent id="s"/><userTask id="t" name="受理"><outgoing>f1</outgoing><outgoing>f2</outgoing>'
    '</userTask><userTask id="a" name="登记"/><userTask id="b" name="发证"/>'
    '<parallelGateway id="j"/><endEvent id="e"/>'
    '<sequenceFlow id="f0" sourceRef="s" targetRef="t"/>'
    '<sequenceFlow id="f1" sourceRef="t" targetRef="a"/>'
    '<sequenceFlow id="f2" sourceRef="t" targetRef="b"/>'
    '<sequenceFlow id="f3" sourceRef="a" targetRef="j"/>'
    '<sequenceFlow id="f4" sourceRef="b" targetRef="j"/>'
    '<sequenceFlow id="f5" sourceRef="j" targetRef="e"/>',
    lanes='<laneSet id="L"><lane id="Lane_center" name="center"><flowNodeRef>t</flowNodeRef>'
    "</lane></laneSet>",
    shapes='<bpmndi:BPMNShape id="t_di" bpmnElement="t"><dc:Bounds x="100" y="100" width="100" '
    'height="80"/></bpmndi:BPMNShape><bpmndi:BPMNEdge id="f1_di" bpmnElement="f1">'
    '<di:waypoint x="200" y="140"/><di:waypoint x="300" y="60"/></bpmndi:BPMNEdge>',
)


def test_a_task_with_several_unconditioned_flows_gets_a_parallel_split():
    converted = convert(FORK.encode(), process_id="p")
    [note] = converted.notes
    assert note.element_id == "t" and note.name == "受理" and "parallel gateway" in note.message_en
    root = etree.fromstring(converted.content)
    assert [g.get("id") for g in root.iter(f"{{{BPMN_NS}}}parallelGateway")] == [
        "Gateway_split_t",
        "j",
    ]
    sources = {f.get("id"): f.get("sourceRef") for f in root.iter(f"{{{BPMN_NS}}}sequenceFlow")}
    assert sources["f1"] == sources["f2"] == "Gateway_split_t"
    assert sources["Flow_split_t"] == "t"
    assert [o.text for o in root.find(".//*[@id='t']").iter(f"{{{BPMN_NS}}}outgoing")] == [
        "Flow_split_t"
    ]
    assert root.xpath("//*[local-name()='flowNodeRef'][text()='Gateway_split_t']")
    [bounds] = root.xpath("//*[@bpmnElement='Gateway_split_t']/*[local-name()='Bounds']")
    assert float(bounds.get("x")) > 200  # right of the task, not on it
    [first] = root.xpath("//*[@bpmnElement='f1']/*[local-name()='waypoint']")[:1]
    assert float(first.get("x")) > 200  # the moved flow starts at the gateway
    assert validate_bpmn(converted.content, process_id="p") == []


def test_conditioned_flows_are_left_alone():
    conditioned = FORK.replace(
        '<sequenceFlow id="f1" sourceRef="t" targetRef="a"/>',
        '<sequenceFlow id="f1" sourceRef="t" targetRef="a">'
        "<conditionExpression>x</conditionExpression></sequenceFlow>",
    )
    assert not any("parallel" in n.message_en for n in convert(conditioned.encode()).notes)


@pytest.mark.parametrize(
    "task",
    [
        '<serviceTask id="t" name="推送社保系统"/>',
        '<serviceTask id="t" name="推送社保系统" camunda:type="external" camunda:topic="hrss"/>',
        '<serviceTask id="t" name="推送社保系统"><extensionElements>'
        '<zeebe:taskDefinition type="hrss"/></extensionElements></serviceTask>',
    ],
)
def test_a_service_task_without_an_implementation_becomes_a_department_systems_task(task):
    content = _file(
        _line(task),
        lanes='<laneSet id="L"><lane id="Lane_hrss" name="hrss"><flowNodeRef>t</flowNodeRef>'
        "</lane></laneSet>",
    ).encode()
    converted = convert(content, process_id="p")
    assert converted.problems == []
    [note] = converted.notes
    assert note.element_id == "t" and note.name == "推送社保系统"
    assert "hrss lane's department" in note.message_en and "external-task API" in note.message_en
    root = etree.fromstring(converted.content)
    [user_task] = root.iter(f"{{{BPMN_NS}}}userTask")
    assert user_task.get("id") == "t" and not any(CAMUNDA in a for a in user_task.attrib)
    assert not list(root.iter(f"{{{ZEEBE}}}taskDefinition"))
    assert validate_bpmn(converted.content, process_id="p") == []
    spec = SpecCache().load(converted.content, "p")
    assert spec.user_tasks["t"].lane == "hrss"


# --- ids, encodings, length --------------------------------------------------------------------


def test_vendor_extensions_may_reuse_ids_but_bpmn_elements_may_not():
    extended = _file(
        _line(
            '<userTask id="t" name="受理"><extensionElements><camunda:inputOutput>'
            '<camunda:inputParameter name="a" id="t"/></camunda:inputOutput>'
            '<camunda:formData><camunda:formField id="t"/><camunda:formField id="t"/>'
            "</camunda:formData></extensionElements></userTask>"
        )
    ).encode()
    assert not any("used by" in p.message_en for p in validate_bpmn(extended, process_id="p"))
    converted = convert(extended, process_id="p")
    assert [n.element_id for n in converted.notes] == ["t"]  # the engine looks ids up: taken off
    assert validate_bpmn(converted.content, process_id="p") == []
    doubled = extended.replace(b'<endEvent id="e"/>', b'<endEvent id="e"/><task id="t"/>')
    assert any(
        p.element_id == "t" and "used by 2 elements" in p.message_en
        for p in validate_bpmn(doubled, process_id="p")
    )


@pytest.mark.parametrize("encoding", ["GBK", "GB18030", "UTF-16"])
def test_a_file_is_read_in_the_encoding_it_declares(encoding):
    text = _file(
        _line('<userTask id="t" name="出生医学证明"/>', '<task id="x" name="办结"/>'),
        encoding=encoding,
    )
    content = text.encode(encoding)
    converted = convert(content, process_id="p")
    assert any(encoding in n.message_en and "UTF-8" in n.message_en for n in converted.notes)
    assert converted.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "出生医学证明" in converted.content.decode()
    assert validate_bpmn(converted.content, process_id="p") == []
    spec = SpecCache().load(converted.content, "p")
    assert spec.user_tasks["t"].name == "出生医学证明"
    # as JSON carries it (text): the declaration is made true before the bytes are parsed
    assert validate_bpmn(xml_bytes(text), process_id="p") == []
    assert b"\xe5\x87\xba\xe7\x94\x9f" in xml_bytes(text)  # 出生 in UTF-8


def test_a_decision_table_in_gbk_is_handed_on_as_utf8():
    dmn = NEWBORN_DMN.decode().replace('encoding="UTF-8"', 'encoding="GBK"', 1)
    assert 'encoding="GBK"' in dmn
    converted = as_utf8(dmn.encode("gbk"))
    assert converted.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "城乡居民医保参保登记" in converted.decode("utf-8")
    assert validate_bpmn(NEWBORN, (("newborn.dmn", converted),), process_id="newborn") == []
    assert as_utf8(NEWBORN_DMN) is NEWBORN_DMN


def test_a_file_with_a_broken_encoding_is_a_plain_problem():
    bad = _file(_line('<userTask id="t" name="受理"/>'), encoding="UTF-8").encode("gbk")
    problems = verdict(bad)
    assert len(problems) == 1 and not LEAKS.search(problems[0].message_en)


def _chain(length: int) -> bytes:
    return _file(_line(*(f'<userTask id="t{n}" name="第{n}步"/>' for n in range(length)))).encode()


def test_a_chain_of_600_tasks_is_checked_and_converted_without_running_out_of_frames():
    limit = sys.getrecursionlimit()
    content = _chain(600)
    converted = convert(content, process_id="p")
    assert converted.problems == []
    assert validate_bpmn(converted.content, process_id="p") == []
    spec = SpecCache().load(converted.content, "p")
    assert len(spec.user_tasks) == 600
    assert sys.getrecursionlimit() == limit  # raised only for the parse


def test_a_deep_call_that_fails_otherwise_is_handed_back():
    def recurse(n: int) -> int:
        return 0 if n == 0 else 1 + recurse(n - 1)

    assert call_deeply(recurse, 5000) == 5000
    with pytest.raises(ValueError):
        call_deeply(int, "x")
