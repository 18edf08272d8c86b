"""`onething bpmn layout`: the shipped diagrams are what the command makes of them, and a file
it lays out keeps its process and gets its lanes named after their departments."""

from __future__ import annotations

import shutil
from pathlib import Path

from lxml import etree

from engine.layout import BPMNDI
from tests.engine.test_diagram_layout import FILES, diagram_problems
from web.cli import main


def test_the_shipped_diagrams_are_laid_out_as_the_command_lays_them_out(capsys):
    assert main(["bpmn", "layout", "--check", *map(str, FILES)]) == 0
    assert capsys.readouterr().out == ""


def test_a_file_with_raw_lane_codes_is_laid_out_and_its_lanes_named(tmp_path: Path, capsys):
    path = tmp_path / "newborn.bpmn"
    shutil.copy(next(f for f in FILES if f.stem == "newborn"), path)
    root = etree.fromstring(path.read_bytes())
    for lane in root.iter("{*}lane"):
        extensions = lane.find("{*}extensionElements")
        lane.set("name", extensions.find(".//{*}property").get("value"))
        lane.remove(extensions)
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert main(["bpmn", "layout", "--check", str(path)]) == 1
    assert main(["bpmn", "layout", str(path)]) == 0
    assert "laid out" in capsys.readouterr().out
    assert diagram_problems(path.read_bytes()) == []
