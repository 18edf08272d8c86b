"""Administrators deploy a matter's process: validate it against the engine and the catalog,
store it as a new numbered version, compare versions and roll back.

Running cases keep the definition they started on (by content hash); new cases take the matter's
newest version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lxml import etree
from sqlalchemy import bindparam, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.interchange import ProcessChoice, convert
from engine.layout import ensure_layout
from engine.specs import Decisions, ProcessSpec, SpecCache, SpecError
from engine.store import ProcessDefinition, ensure_definition
from engine.validation import (
    BPMN_NS,
    Problem,
    as_utf8,
    element_names,
    named,
    parse_xml,
    validate_bpmn,
)
from forms.catalog import Catalog, Matter
from services import decision_tests
from services.accounts.models import User
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.process_skeleton import builtin_content
from services.processes_models import ProcessVersion

if TYPE_CHECKING:
    from services.runtime import Runtime

APPLICANT_LANE = "applicant"
CORRECTION = "correction"
MAX_BPMN_BYTES = 2_000_000  # the largest process file an administrator may deploy


def _lane_problems(catalog: Catalog, matter: Matter, spec: ProcessSpec) -> list[Problem]:
    problems = []
    bound: set[str] = set()
    for info in spec.user_tasks.values():
        task = info.bpmn_id
        if info.item is None:
            problems.append(
                Problem(
                    task,
                    "人工任务未绑定事项：请在属性面板为它选择本事项的一个事项（item 属性）",
                    "the user task is bound to no item: choose one of the matter's items for it "
                    "in the properties panel (the item property)",
                )
            )
        elif info.item not in catalog.items:
            problems.append(
                Problem(
                    task,
                    f"事项目录中没有事项 {info.item}：请改为目录中的事项，或先在目录中添加它",
                    f"the catalog has no item {info.item}: choose an item of the catalog, or "
                    "add it to the catalog first",
                )
            )
        if info.kind == CORRECTION:
            if info.lane != APPLICANT_LANE:
                problems.append(
                    Problem(
                        task,
                        f"补正任务必须位于 {APPLICANT_LANE} 泳道，而不是 {info.lane}：请把它移到申请人泳道",
                        f"a correction task must sit in the {APPLICANT_LANE} lane, not "
                        f"{info.lane}: move it into the applicant's lane",
                    )
                )
            continue
        if info.lane not in catalog.departments:
            problems.append(
                Problem(
                    task,
                    f"泳道 {info.lane} 不是目录中的部门：请把任务放进部门的泳道，或在泳道属性中"
                    "选择它所代表的部门",
                    f"lane {info.lane} is not a department of the catalog: put the task in a "
                    "department's lane, or choose the department the lane stands for in its "
                    "properties",
                )
            )
        elif info.item in catalog.items and catalog.items[info.item].department != info.lane:
            owner = catalog.items[info.item].department
            problems.append(
                Problem(
                    task,
                    f"事项 {info.item} 由 {owner} 办理，不能放在 {info.lane} 泳道：请把任务移到 "
                    f"{owner} 的泳道",
                    f"item {info.item} belongs to {owner}, not to the {info.lane} lane: move the "
                    f"task into {owner}'s lane",
                )
            )
        if info.item:
            bound.add(info.item)
    for info in (*spec.checks.values(), *spec.timers.values()):
        if info.item and info.item not in bound:
            problems.append(
                Problem(
                    info.bpmn_id,
                    f"事项 {info.item} 没有对应的部门人工任务：请添加一个绑定该事项的部门任务",
                    f"item {info.item} has no departmental user task in this process: add a "
                    "department's task bound to it",
                )
            )
    for item in matter.items:  # the catalog's items are the matter's minimum; more may be added
        if item not in bound:
            problems.append(
                Problem(
                    spec.process_id,
                    f"事项 {item} 没有对应的部门人工任务（目录规定的事项不能从流程中删除）：请添加"
                    "一个绑定该事项的部门任务",
                    f"item {item} has no departmental user task (the catalog's items of the "
                    "matter cannot be left out): add a department's task bound to it",
                )
            )
    return problems


@dataclass(frozen=True)
class Review:
    """A file as it would be deployed: rewritten where another modeler only spells things
    differently (`notes`), with two verdicts an administrator tells apart: what stops it
    running here at all (`runs`: XML, engine, sandbox, paths) and what stops it serving this
    matter (`fits`: lanes are departments, tasks bound to the matter's items). `problems` is
    both. A file with several processes and no choice made lists them in `processes`."""

    content: bytes
    notes: list[Problem]
    problems: list[Problem]
    runs: list[Problem] = field(default_factory=list)
    fits: list[Problem] = field(default_factory=list)
    fits_checked: bool = True  # False: the file could not be read far enough to tell
    processes: list[ProcessChoice] = field(default_factory=list)


def review(
    rt: Runtime,
    *,
    matter_code: str,
    content: bytes,
    decisions: Decisions = (),
    choice: str | None = None,
) -> Review:
    """Check `content` as `matter_code`'s process without storing anything: what the editor's
    "validate" shows, and what deploy refuses on. `choice`: which process of a file with
    several pools to use."""
    matter = matter_of(rt, matter_code)
    decisions = tuple(sorted(decisions))
    converted = convert(content, process_id=matter.process_id, choice=choice)
    runs = list(converted.problems)
    if converted.processes:
        return Review(
            converted.content, converted.notes, runs, runs, [], False, converted.processes
        )
    content, notes = _drawn(converted.content, converted.notes)
    runs += validate_bpmn(content, decisions, process_id=matter.process_id)
    # lanes and items are read from the parsed spec; a file that does not run is parsed apart
    # from the shared cache
    specs = SpecCache() if runs else rt.specs
    try:
        spec = specs.load(content, matter.process_id, matter.bpmn, decisions)
    except SpecError:
        return Review(content, notes, runs, runs, [], False)
    fits = named(_lane_problems(rt.catalog, matter, spec), element_names(parse_xml(spec.content)))
    return Review(content, notes, runs + fits, runs, fits)


def _drawn(content: bytes, notes: list[Problem]) -> tuple[bytes, list[Problem]]:
    """`content` laid out by lanes when its diagram is missing or leaves elements out (files
    from generators and from modelers that draw none), so the version opens readable in the
    editor; the process itself is not changed."""
    laid_out = ensure_layout(content)
    if laid_out is content:
        return content, notes
    note = Problem(
        None,
        "文件没有完整的流程图（部分元素没有图形）：已按泳道自动排版，流程本身未改变",
        "the file's diagram was missing or incomplete (elements without shapes): it was laid "
        "out by lanes, the process itself is unchanged",
    )
    return laid_out, [*notes, note]


def matter_decisions(session: Session, rt: Runtime, *, matter_code: str) -> Decisions:
    """The decision tables the matter's process may call: those of its newest deployed version,
    else the `.dmn` file beside its `.bpmn` in bpmn/."""
    matter = matter_of(rt, matter_code)
    version = current_version(session, matter_code=matter.code)
    if version is not None:
        return _decisions(definition_of(session, version))
    dmn = (rt.settings.bpmn_dir / matter.bpmn).with_suffix(".dmn")
    return ((dmn.name, as_utf8(dmn.read_bytes())),) if dmn.exists() else ()


def decision_ids(decisions: Decisions) -> list[str]:
    """The ids of the decisions in `decisions`' DMN files, which business-rule tasks may call."""
    found = []
    for _name, text in decisions:
        root = parse_xml(text)
        found += [el.get("id") for el in root.iter("{*}decision") if el.get("id")]
    return sorted(found)


def matter_content(session: Session, rt: Runtime, *, matter_code: str) -> bytes:
    """The BPMN of the matter's newest deployed version, else its file in bpmn/ (or, for a
    matter made in the browser, the plain process drawn from its items)."""
    matter = matter_of(rt, matter_code)
    version = current_version(session, matter_code=matter.code)
    if version is not None:
        return definition_of(session, version).content
    return builtin_content(rt, matter)


def matter_of(rt: Runtime, code: str) -> Matter:
    """The catalog's matter `code`; NotFound when there is none."""
    try:
        return rt.catalog.matter(code)
    except KeyError:
        raise NotFound(f"没有一件事 {code}", f"no matter {code}") from None


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("只有管理员可以发布流程", "only administrators deploy processes")


class Refused(InvalidInput):
    """A deploy refused for `problems` (each naming its element); `review`: the two verdicts
    when the file itself was refused."""

    def __init__(self, problems: list[Problem], *args, review: Review | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.problems = problems
        self.review = review


def _refuse(problems: list[Problem], review: Review | None = None) -> InvalidInput:
    fields: dict[str, tuple[str, str]] = {}
    for problem in problems:
        key = problem.element_id or "bpmn"
        zh, en = fields.get(key, ("", ""))
        fields[key] = (
            f"{zh}；{problem.message}" if zh else problem.message,
            f"{en}; {problem.message_en}" if en else problem.message_en,
        )
    first = next(iter(fields))
    return Refused(
        problems,
        first,
        f"流程有 {len(problems)} 处问题，未发布",
        f"the process has {len(problems)} problem(s) and was not deployed",
        fields=fields,
        review=review,
    )


def _refuse_decisions(problems: list[Problem]) -> InvalidInput:
    """A deploy refused for its decision tables' test cases: the message names the first
    decision and case (the others are in `fields` and `problems`)."""
    refused = _refuse(problems)
    more = len(problems) - 1
    first = problems[0]
    refused.message = first.message + (f"（另有 {more} 处）" if more else "") + "，未发布"
    refused.message_en = (
        first.message_en + (f" (and {more} more)" if more else "") + "; not deployed"
    )
    return refused


def deploy(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    content: bytes,
    decisions: Decisions | None = None,
    author: User,
    comment: str = "",
    choice: str | None = None,
) -> ProcessVersion:
    """Validate and store `content` as the matter's next version, in one transaction, with
    `decisions` (None: the decision tables the matter's process may call now, see
    `matter_decisions`); `choice`: the process to use of a file with several pools.

    Raises InvalidInput with every problem (fields keyed by element id); nothing is stored then.
    """
    _require_admin(author)
    matter = matter_of(rt, matter_code)
    if decisions is None:
        decisions = matter_decisions(session, rt, matter_code=matter.code)
    decisions = tuple(sorted(decisions))
    checked = review(
        rt, matter_code=matter.code, content=content, decisions=decisions, choice=choice
    )
    if checked.problems:
        raise _refuse(checked.problems, checked)
    failing = decision_tests.deploy_problems(
        session, rt.settings.bpmn_dir, matter=matter.code, bpmn=matter.bpmn, decisions=decisions
    )
    if failing:
        raise _refuse_decisions(failing)
    content = checked.content
    spec = rt.specs.load(content, matter.process_id, matter.bpmn, decisions)
    ensure_definition(session, spec, matter.bpmn)
    latest = session.exec(
        select(func.max(ProcessVersion.version)).where(ProcessVersion.matter == matter.code)
    ).one()
    version = ProcessVersion(
        matter=matter.code,
        version=(latest or 0) + 1,
        definition_key=spec.key,
        process_id=spec.process_id,
        author_user_id=author.id,
        comment=comment[:500],
    )
    session.add(version)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "另一位管理员刚刚发布了新版本，请刷新后重试",
            "another administrator deployed a version just now; reload and try again",
        ) from exc
    session.refresh(version)
    return version


def deploy_file(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    content: bytes,
    filename: str,
    author: User,
    comment: str = "",
    choice: str | None = None,
) -> ProcessVersion:
    """Deploy an uploaded `.bpmn` file (e.g. made in Camunda Modeler) as the matter's next
    version (see `deploy`); `content` may be read up to one byte over MAX_BPMN_BYTES, and a
    file over it is refused by name ("file")."""
    if len(content) > MAX_BPMN_BYTES:
        raise InvalidInput(
            "file",
            f"流程文件过大（{len(content) // 1024} KB），上限 {MAX_BPMN_BYTES // 1_000_000} MB",
            f"the process file is too large ({len(content) // 1024} KB); the limit is "
            f"{MAX_BPMN_BYTES // 1_000_000} MB",
        )
    return deploy(
        session,
        rt,
        matter_code=matter_code,
        content=content,
        author=author,
        comment=comment or f"上传 {filename[:200]}",
        choice=choice,
    )


_CURRENT_VERSION = (  # built once: every submission asks
    select(ProcessVersion)
    .where(ProcessVersion.matter == bindparam("matter"))
    .order_by(col(ProcessVersion.version).desc())
    .limit(1)
)


def current_version(session: Session, *, matter_code: str) -> ProcessVersion | None:
    """The matter's newest deployed version; None while only the file in bpmn/ exists."""
    return session.exec(_CURRENT_VERSION, params={"matter": matter_code}).first()


def versions(
    session: Session, *, matter_code: str, limit: int = 50, offset: int = 0
) -> list[ProcessVersion]:
    """The matter's deployed versions, newest first."""
    return list(
        session.exec(
            select(ProcessVersion)
            .where(ProcessVersion.matter == matter_code)
            .order_by(col(ProcessVersion.version).desc())
            .offset(offset)
            .limit(limit)
        ).all()
    )


@dataclass(frozen=True)
class MatterProcess:
    """A matter's process on the processes list."""

    matter: Matter
    current: ProcessVersion | None  # the newest deployed version; None: the file in bpmn/
    count: int  # deployed versions


def matter_processes(session: Session, rt: Runtime) -> list[MatterProcess]:
    """Every catalog matter with its newest deployed version and the number of versions."""
    counts = dict(
        session.exec(
            select(ProcessVersion.matter, func.count()).group_by(ProcessVersion.matter)
        ).all()
    )
    return [
        MatterProcess(
            matter=matter,
            current=current_version(session, matter_code=matter.code),
            count=counts.get(matter.code, 0),
        )
        for matter in rt.catalog.matters.values()
    ]


def get_version(session: Session, *, matter_code: str, version: int) -> ProcessVersion:
    found = session.exec(
        select(ProcessVersion).where(
            ProcessVersion.matter == matter_code, ProcessVersion.version == version
        )
    ).first()
    if found is None:
        raise NotFound(
            f"一件事 {matter_code} 没有版本 {version}",
            f"matter {matter_code} has no version {version}",
        )
    return found


def definition_of(session: Session, version: ProcessVersion) -> ProcessDefinition:
    """The stored BPMN content and decision tables of a deployed version."""
    definition = session.get(ProcessDefinition, (version.definition_key, version.process_id))
    if definition is None:
        raise NotFound("流程定义缺失", f"process definition {version.definition_key} is missing")
    return definition


def _decisions(definition: ProcessDefinition) -> Decisions:
    return tuple((name, text.encode()) for name, text in sorted(definition.decisions.items()))


def spec_of(session: Session, specs: SpecCache, version: ProcessVersion) -> ProcessSpec:
    """The parsed spec of a deployed version (parsed once per content, through the cache)."""
    spec = specs.get(version.definition_key, version.process_id)
    if spec is None:
        definition = definition_of(session, version)
        spec = specs.load(
            definition.content, version.process_id, definition.filename, _decisions(definition)
        )
    return spec


def deployed_spec(session: Session, specs: SpecCache, *, matter_code: str) -> ProcessSpec | None:
    """The spec of the matter's newest deployed version; None when none was deployed."""
    version = current_version(session, matter_code=matter_code)
    return None if version is None else spec_of(session, specs, version)


def _elements(content: bytes, process_id: str) -> dict[str, bytes]:
    """Canonical XML of each child of the process that has an id (layout is not compared)."""
    root = parse_xml(content)
    processes = root.iterchildren(f"{{{BPMN_NS}}}process")
    process = next((p for p in processes if p.get("id") == process_id), None)
    if process is None:
        return {}
    return {
        child.get("id"): etree.tostring(child, method="c14n", with_tail=False)
        for child in process
        if isinstance(child.tag, str) and child.get("id")
    }


def diff(session: Session, *, matter_code: str, a: int, b: int) -> dict:
    """What changed from version `a` to version `b`: element ids added, removed and changed,
    and the names of decision tables whose content differs."""
    old_version = get_version(session, matter_code=matter_code, version=a)
    new_version = get_version(session, matter_code=matter_code, version=b)
    old, new = definition_of(session, old_version), definition_of(session, new_version)
    before = _elements(old.content, old_version.process_id)
    after = _elements(new.content, new_version.process_id)
    tables = old.decisions.keys() | new.decisions.keys()
    return {
        "matter": matter_code,
        "from": a,
        "to": b,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(k for k in before.keys() & after.keys() if before[k] != after[k]),
        "decisions_changed": sorted(
            n for n in tables if old.decisions.get(n) != new.decisions.get(n)
        ),
    }


def rollback(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    to_version: int,
    author: User,
    comment: str = "",
) -> ProcessVersion:
    """Deploy an earlier version's content again, as a new version (history is never rewritten)."""
    _require_admin(author)
    old = get_version(session, matter_code=matter_code, version=to_version)
    definition = definition_of(session, old)
    return deploy(
        session,
        rt,
        matter_code=matter_code,
        content=definition.content,
        decisions=_decisions(definition),
        author=author,
        comment=comment or f"回滚到版本 {to_version}",
    )
