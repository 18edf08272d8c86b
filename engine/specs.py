"""Load, describe and cache BPMN process specs, keyed by the hash of the file's content.

A spec is parsed once per content and shared, read-only, by every case that runs on it.

A lane is a department. Its name is what a person reads in the diagram (公安局); the department's
code, which tasks are routed by, is the lane's `department` property
(`<spiffworkflow:property name="department" value="police"/>`). A lane without the property is
its own code (versions deployed before lanes were named, files from other modelers). Parsing
puts the code in every task spec's `lane`, so everything after it routes by code.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask, UserTask

from engine.deep import call_deeply
from engine.sandbox import FUNCTIONS


class SpecError(Exception):
    """A BPMN file could not be parsed into an executable process."""


@dataclass(frozen=True)
class UserTaskInfo:
    """A human task of the process: its BPMN id, label, lane (department) and bound item."""

    bpmn_id: str
    name: str
    lane: str | None
    item: str | None
    kind: str | None = None  # "correction": the applicant's task; for timers, the deadline kind


@dataclass(frozen=True)
class ProcessSpec:
    key: str
    process_id: str
    name: str
    spec: BpmnProcessSpec
    subprocess_specs: dict
    lanes: tuple[str, ...]
    user_tasks: dict[str, UserTaskInfo]
    checks: dict[str, UserTaskInfo]
    timers: dict[str, UserTaskInfo]
    content: bytes
    decisions: tuple[tuple[str, bytes], ...] = ()
    variables: frozenset[str] = frozenset()

    def inputs(self, data: dict) -> dict:
        """The part of `data` the process reads (its conditions, scripts and decision tables),
        missing names as None: instance state stays small, so saving and restoring stay cheap."""
        return {name: data.get(name) for name in self.variables if name not in FUNCTIONS}


Decisions = tuple[tuple[str, bytes], ...]


def content_key(content: bytes, decisions: Decisions = ()) -> str:
    """The version key of a process: the hash of its BPMN and of the DMN files it uses."""
    digest = hashlib.sha256(content)
    for name, text in sorted(decisions):
        digest.update(b"\0" + name.encode() + b"\0" + text)
    return digest.hexdigest()


CODE_TAGS = {
    "conditionExpression",
    "timeDate",
    "timeDuration",
    "timeCycle",
    "script",
    "preScript",
    "postScript",
    "text",  # DMN input expressions and entries
}
DMN_PLACEHOLDER = "dmninputexpr"
BPMN_MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
LANE_DEPARTMENT = "department"  # the lane property that binds it to a department's code


def _names_in(source: str) -> set[str]:
    source = source.strip().replace("?", DMN_PLACEHOLDER)
    if not source:
        return set()
    for mode, text in (("eval", source), ("exec", source), ("eval", f"{DMN_PLACEHOLDER} {source}")):
        try:
            tree = ast.parse(text, mode=mode)
        except SyntaxError:
            continue
        return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return set()


def read_variables(content: bytes, decisions: Decisions) -> frozenset[str]:
    """Every name the process's conditions, scripts and decision tables read."""
    names: set[str] = set()
    for document in (content, *(text for _name, text in decisions)):
        root = etree.fromstring(document)
        for element in root.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname in CODE_TAGS:
                names |= _names_in(element.text or "")
    return frozenset(names - set(dir(builtins)) - {DMN_PLACEHOLDER})


def lane_codes(root: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    """The department code of each flow node's lane (by node id) and of each lane name: the
    lane's `department` property, or its name when it has none."""
    by_node: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for lane in root.iter(f"{{{BPMN_MODEL}}}lane"):
        name = lane.get("name") or ""
        bound = lane.find(
            f"{{{BPMN_MODEL}}}extensionElements/{{{SPIFF}}}properties"
            f"/{{{SPIFF}}}property[@name='{LANE_DEPARTMENT}']"
        )
        code = (bound.get("value") or "").strip() if bound is not None else ""
        code = code or name
        if name:
            by_name.setdefault(name, code)
        for ref in lane.findall(f"{{{BPMN_MODEL}}}flowNodeRef"):
            if ref.text and ref.text.strip():
                by_node[ref.text.strip()] = code
    return by_node, by_name


def _bind_lanes(content: bytes, specs) -> None:
    """Replace each task spec's lane name by its department code (see the module docstring)."""
    by_node, by_name = lane_codes(etree.fromstring(content))
    for spec in specs:
        for task_spec in spec.task_specs.values():
            lane = getattr(task_spec, "lane", None)
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id in by_node:
                task_spec.lane = by_node[bpmn_id]
            elif lane in by_name:
                task_spec.lane = by_name[lane]


def _parse(
    content: bytes, process_id: str | None, filename: str, decisions: Decisions
) -> ProcessSpec:
    parser = SpiffBpmnParser()
    try:
        for name, text in decisions:
            parser.add_dmn_str(text, filename=name)
        parser.add_bpmn_str(content, filename=filename)
        ids = parser.get_process_ids()
        if process_id is None:
            if len(ids) != 1:
                raise SpecError(f"{filename}: expected one process, found {len(ids)}")
            process_id = ids[0]
        if process_id not in ids:
            raise SpecError(f"{filename}: no process with id {process_id!r}")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, etree.XMLSyntaxError) as exc:
        raise SpecError(f"{filename}: {exc}") from exc
    except Exception as exc:  # SpiffWorkflow raises bare exceptions for unknown decisions etc.
        raise SpecError(f"{filename}: {type(exc).__name__}: {exc}") from exc
    _bind_lanes(content, (spec, *subprocess_specs.values()))
    user_tasks = {}
    checks = {}
    timers = {}
    lanes: list[str] = []
    for task_spec in spec.task_specs.values():
        lane = getattr(task_spec, "lane", None)
        if lane and lane not in lanes:
            lanes.append(lane)
        properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
        info = UserTaskInfo(
            task_spec.bpmn_id,
            task_spec.bpmn_name or task_spec.bpmn_id,
            lane,
            properties.get("item"),
            properties.get("kind") or properties.get("deadline"),
        )
        if isinstance(task_spec, UserTask):
            user_tasks[task_spec.bpmn_id] = info
        elif isinstance(task_spec, BusinessRuleTask) and info.item:
            checks[task_spec.bpmn_id] = info
        elif isinstance(task_spec, BoundaryEvent) and properties.get("deadline"):
            timers[task_spec.bpmn_id] = info
    return ProcessSpec(
        key=content_key(content, decisions),
        process_id=process_id,
        name=spec.description or process_id,
        spec=spec,
        subprocess_specs=subprocess_specs,
        lanes=tuple(lanes),
        user_tasks=user_tasks,
        checks=checks,
        timers=timers,
        content=content,
        decisions=decisions,
        variables=read_variables(content, decisions),
    )


class SpecCache:
    """Parsed specs by content hash; parsing happens once per distinct content."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str | None], ProcessSpec] = {}
        self._lock = threading.Lock()

    def load(
        self,
        content: bytes,
        process_id: str | None = None,
        filename: str = "<bpmn>",
        decisions: Decisions = (),
    ) -> ProcessSpec:
        key = (content_key(content, decisions), process_id)
        spec = self._specs.get(key)
        if spec is None:
            spec = call_deeply(_parse, content, process_id, filename, decisions)
            with self._lock:
                spec = self._specs.setdefault(key, spec)
        return spec

    def load_file(self, path: Path, process_id: str | None = None) -> ProcessSpec:
        """A `.bpmn` file, with the decision tables of the `.dmn` file of the same name if any."""
        dmn = path.with_suffix(".dmn")
        decisions = ((dmn.name, dmn.read_bytes()),) if dmn.exists() else ()
        return self.load(path.read_bytes(), process_id, path.name, decisions)

    def get(self, key: str, process_id: str | None) -> ProcessSpec | None:
        return self._specs.get((key, process_id))

    def __len__(self) -> int:
        return len(self._specs)
