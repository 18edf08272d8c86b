"""The editor's layout operation: a file without (all of) its diagram comes back laid out with
its pools and lanes; a drawn file comes back as it was; only administrators may ask."""

from __future__ import annotations

from lxml import etree

from engine.layout import BPMNDI
from tests.engine.test_diagram_layout import diagram_problems
from tests.web.test_process_editor import API, NEWBORN, _admin, _post_json


def _without_diagram(content: bytes) -> str:
    root = etree.fromstring(content)
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    return etree.tostring(root, encoding="unicode")


def test_a_file_without_a_diagram_comes_back_laid_out_with_its_lanes(browser):
    admin = _admin(browser)
    answer = _post_json(admin, f"{API}/layout", {"xml": _without_diagram(NEWBORN)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["laid_out"] is True
    assert 'bpmnElement="Lane_police"' in body["xml"]
    assert diagram_problems(body["xml"].encode()) == []


def test_a_drawn_file_comes_back_as_it_was(browser):
    admin = _admin(browser)
    answer = _post_json(admin, f"{API}/layout", {"xml": NEWBORN.decode()})
    assert answer.status_code == 200
    assert answer.json() == {"laid_out": False, "xml": NEWBORN.decode()}


def test_only_administrators_lay_out(browser):
    clerk = browser("police01")
    refused = clerk.client.post(f"{API}/layout", json={"xml": _without_diagram(NEWBORN)})
    assert refused.status_code == 403


def test_a_file_without_a_diagram_is_deployed_laid_out_and_said_so(browser):
    admin = _admin(browser)
    bare = _without_diagram(NEWBORN)
    checked = _post_json(admin, f"{API}/validate", {"xml": bare}).json()
    assert checked["ok"] is True, checked
    assert [n["message_en"] for n in checked["notes"]] == [
        "the file's diagram was missing or incomplete (elements without shapes): it was laid "
        "out by lanes, the process itself is unchanged"
    ]
    deployed = _post_json(admin, f"{API}/deploy", {"xml": bare, "comment": "生成器写的文件"})
    assert deployed.status_code == 201, deployed.text
    stored = admin.client.get(f"{API}/bpmn").content
    assert b'bpmnElement="Lane_police"' in stored and diagram_problems(stored) == []
