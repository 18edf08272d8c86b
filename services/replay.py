"""Replay a candidate change on recent cases before it goes live: which cases would have been
routed differently, which items would appear or vanish, how deadlines would move.

A candidate is a process (BPMN content and its decision tables), a catalog (items' time limits,
conditions, facts; the catalog editor's draft) and/or a set of item conditions; whatever is not
given is taken as it is now. For each of the matter's newest cases, closed and open, the
candidate is run over the data the case was submitted with, entirely in memory: the items that
would apply are decided by the same form compiler the submission uses, the process is started
with the engine and its human tasks are completed one by one in a fixed order (with the
decision the case actually got for the item where it has one, approval otherwise), and the
departments it routes to and the automatic approvals it makes are collected. Nothing is
written but the access log: no process state, no registry call, no notification.

What the case got (its items, their departments and due dates) is the reference. An open case
has not reached its later items yet: for it, the items its own process version would still
route (run the same way) count as what it gets, so an unchanged process shows no difference.

The result names cases by number and items by name only; the applicants' facts stay inside.
Reading them is logged once per case, as any administrator's look at personal data is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from engine import cases as runner
from engine.specs import Decisions, ProcessSpec
from engine.store import ProcessInstance, spec_for
from forms.catalog import Catalog, Item, Matter
from forms.compiler import Known, compile_form, process_data
from services.accounts.models import User
from services.calendar import add_working_days, is_working_day, local_date, working_days_between
from services.cases.access import log_list_view
from services.cases.models import Case, CaseItem
from services.configuration.matters import (
    check_condition,
    configured_matter,
    matter_conditions,
)
from services.errors import Forbidden, InvalidInput, NotFound
from services.processes import MAX_BPMN_BYTES, Refused, matter_decisions, review
from services.runtime import Runtime

MAX_CASES = 200  # the most cases one replay runs (each runs a process once or twice)
DEFAULT_CASES = 50
MAX_STEPS = 200  # human tasks completed in one simulated case at most (a loop stops there)
CORRECTION = "correction"
DECIDED = ("approved", "rejected")  # the decisions of a case's items a replay repeats


@dataclass(frozen=True)
class ItemName:
    """An item as the result shows it: its code and names, nothing of the case."""

    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class DepartmentChange:
    """An item the candidate routes to another department than the case's."""

    item: ItemName
    old: str  # department code
    new: str


@dataclass(frozen=True)
class DeadlineMove:
    """An item whose due date the candidate's time limit moves, by `days` working days."""

    item: ItemName
    old: date
    new: date
    days: int


@dataclass(frozen=True)
class StepFailure:
    """The candidate process failed on this case's data at element `element_id`."""

    element_id: str
    element_name: str


@dataclass(frozen=True)
class CaseReplay:
    """One case compared with the candidate."""

    case_number: str
    submitted_at: datetime
    status: str
    appearing: tuple[ItemName, ...] = ()  # routed by the candidate, not in the case
    vanishing: tuple[ItemName, ...] = ()  # in the case, not routed by the candidate
    # The catalog's conditions over the case's data: items that would start or stop applying
    # (their facts and materials asked), whether or not the process routes on it
    applies_gained: tuple[ItemName, ...] = ()
    applies_lost: tuple[ItemName, ...] = ()
    department_changes: tuple[DepartmentChange, ...] = ()
    deadline_moves: tuple[DeadlineMove, ...] = ()
    first_before: tuple[ItemName, ...] = ()  # what the case's own process routes first
    first_after: tuple[ItemName, ...] = ()  # what the candidate routes first
    failed: StepFailure | None = None  # the candidate could not run on the case's data

    @property
    def differs(self) -> bool:
        return bool(
            self.appearing
            or self.vanishing
            or self.applies_gained
            or self.applies_lost
            or self.department_changes
            or self.deadline_moves
            or self.first_before != self.first_after
            or self.failed
        )


@dataclass(frozen=True)
class Replay:
    """A candidate replayed on the matter's newest cases, newest first."""

    matter_code: str
    matter_name: str
    matter_name_en: str
    limit: int
    process_changed: bool  # a candidate process was given
    catalog_changed: bool  # a candidate catalog or condition set was given
    cases: list[CaseReplay] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return len(self.cases)

    @property
    def differing(self) -> int:
        return sum(1 for case in self.cases if case.differs)

    @property
    def appearing(self) -> int:
        return sum(len(case.appearing) for case in self.cases)

    @property
    def vanishing(self) -> int:
        return sum(len(case.vanishing) for case in self.cases)

    @property
    def moved(self) -> int:
        return sum(len(case.deadline_moves) for case in self.cases)

    @property
    def failed(self) -> int:
        return sum(1 for case in self.cases if case.failed)


@dataclass
class _Run:
    """What one process run over a case's data routed: item -> (department, how), where how is
    "task" (a department's human task) or "instant" (approved by an automatic check); the
    items of the first step; the element it failed at, if it did."""

    routed: dict[str, tuple[str, str]] = field(default_factory=dict)
    first: tuple[str, ...] = ()
    failed: StepFailure | None = None


def check_limit(limit: int) -> int:
    """`limit` if a replay may run that many cases, else InvalidInput naming "limit"."""
    if not 1 <= limit <= MAX_CASES:
        raise InvalidInput(
            "limit",
            f"预演的办件数须在 1 到 {MAX_CASES} 之间",
            f"the number of cases replayed must be between 1 and {MAX_CASES}",
        )
    return limit


def replay(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    content: bytes | None = None,
    decisions: Decisions | None = None,
    catalog: Catalog | None = None,
    conditions: dict[str, str] | None = None,
    limit: int = DEFAULT_CASES,
) -> Replay:
    """Replay a candidate on the matter's newest `limit` cases (1..MAX_CASES), closed and open.

    `content` (BPMN, with `decisions`; None: the matter's tables now) is the candidate process,
    checked as deploy checks it (Refused, an InvalidInput, naming each problem); None: the
    process new cases start on now. `catalog`: a candidate catalog (None: the catalog now);
    `conditions`: candidate item conditions, item code -> expression, "" = always (None: the
    administrator's now), checked as configured ones are.
    Only administrators replay; each case read is logged for its applicant to see. Slow (runs
    processes): call it off the event loop."""
    if user.role != "admin":
        raise Forbidden("只有管理员可以预演变更", "only administrators replay changes")
    check_limit(limit)
    current = rt.catalog.matters.get(matter_code)
    candidate_catalog = catalog or rt.catalog
    target = candidate_catalog.matters.get(matter_code)
    if current is None or target is None:
        raise NotFound("没有这项“一件事”服务", f"No matter {matter_code!r}")
    # The candidate's own runtime: its process is checked against its catalog
    candidate_rt = rt if catalog is None else replace(rt, catalog=catalog)
    now_spec = rt.spec_for(current, session)
    spec = now_spec
    if content is not None:
        spec = _candidate_spec(session, candidate_rt, current, content, decisions)
    now_conditions = matter_conditions(session, matter_code)
    now_matter = configured_matter(rt.catalog, current, now_spec, conditions=now_conditions)
    target = configured_matter(
        candidate_catalog,
        target,
        spec,
        conditions=now_conditions if conditions is None else conditions,
    )
    for item_code, expression in (conditions or {}).items():
        if item_code not in target.items:
            raise InvalidInput(
                f"condition_{item_code}",
                f"本“一件事”没有事项 {item_code}",
                f"the matter has no item {item_code}",
            )
        if expression:
            check_condition(candidate_rt, item_code, expression)
    cases = list(
        session.exec(
            select(Case)
            .where(Case.matter == matter_code, col(Case.purged_at).is_(None))
            .order_by(col(Case.created_at).desc(), col(Case.id).desc())
            .limit(limit)
        ).all()
    )
    rows = _rows_by_case(session, [case.id for case in cases])
    own_specs = _own_specs(session, rt, cases)
    runs = _Runs()
    results = []
    for case in cases:
        results.append(
            _compare(
                runs,
                case,
                rows.get(case.id, []),
                now=(rt.catalog, now_matter, own_specs.get(case.id)),
                candidate=(candidate_catalog, target, spec),
            )
        )
    # The applicants' data was read for this: logged (and committed) like any look at a case.
    log_list_view(session, user, cases, f"管理员预演《{current.name}》的流程或目录变更")
    return Replay(
        matter_code=matter_code,
        matter_name=target.name,
        matter_name_en=target.name_en,
        limit=limit,
        process_changed=content is not None,
        catalog_changed=catalog is not None or conditions is not None,
        cases=results,
    )


def _candidate_spec(
    session: Session, rt: Runtime, matter: Matter, content: bytes, decisions: Decisions | None
) -> ProcessSpec:
    """The candidate process parsed (in the shared cache, as the editor's check does); Refused
    (an InvalidInput) with every problem deploy would refuse it for."""
    if len(content) > MAX_BPMN_BYTES:
        raise InvalidInput(
            "content",
            f"流程文件过大，上限 {MAX_BPMN_BYTES // 1_000_000} MB",
            f"the process file is too large; the limit is {MAX_BPMN_BYTES // 1_000_000} MB",
        )
    if decisions is None:
        decisions = matter_decisions(session, rt, matter_code=matter.code)
    decisions = tuple(sorted(decisions))
    checked = review(rt, matter_code=matter.code, content=content, decisions=decisions)
    if checked.problems:
        fields: dict[str, tuple[str, str]] = {}
        for problem in checked.problems:
            fields.setdefault(
                problem.element_id or "content", (problem.message, problem.message_en)
            )
        raise Refused(
            checked.problems,
            next(iter(fields)),
            f"流程有 {len(checked.problems)} 处问题，无法预演",
            f"the process has {len(checked.problems)} problem(s) and cannot be replayed",
            fields=fields,
        )
    return rt.specs.load(checked.content, matter.process_id, matter.bpmn, decisions)


def _rows_by_case(session: Session, case_ids: list[int]) -> dict[int, list[CaseItem]]:
    found: dict[int, list[CaseItem]] = {}
    if not case_ids:
        return found
    rows = session.exec(
        select(CaseItem).where(col(CaseItem.case_id).in_(case_ids)).order_by(col(CaseItem.id))
    ).all()
    for row in rows:
        found.setdefault(row.case_id, []).append(row)
    return found


def _own_specs(session: Session, rt: Runtime, cases: list[Case]) -> dict[int, ProcessSpec]:
    """The process version each of `cases` runs on, by case id: what it routes first, and for
    an open case what it still routes."""
    instance_ids = {case.instance_id: case.id for case in cases if case.instance_id is not None}
    if not instance_ids:
        return {}
    found = {}
    keys = session.exec(
        select(
            ProcessInstance.id, ProcessInstance.definition_key, ProcessInstance.process_id
        ).where(col(ProcessInstance.id).in_(list(instance_ids)))
    ).all()
    for instance_id, key, process_id in keys:
        spec = rt.specs.get(key, process_id)
        if spec is None:
            spec = spec_for(session, rt.specs, session.get(ProcessInstance, instance_id))
        found[instance_ids[instance_id]] = spec
    return found


def _start_data(catalog: Catalog, matter: Matter, case: Case) -> tuple[dict[str, Any], list[Item]]:
    """What a case's process starts with, and the items that apply, as the submission builds
    them (`compile_form`, `process_data`) from the case's data: the facts the registries gave
    as known facts, the applicant's answers as answers."""
    data = case.data or {}
    moment = case.created_at
    known = {
        key: Known(
            value=data[key],
            registry=str(source.get("registry") or ""),
            record_id=str(source.get("record_id") or ""),
            retrieved_at=moment,
        )
        for key, source in (case.provenance or {}).items()
        if key in data and key in catalog.facts and isinstance(source, Mapping)
    }
    answers = {key: value for key, value in data.items() if key not in known}
    answers = {key: value for key, value in answers.items() if key in catalog.facts}
    form = compile_form(catalog, matter, known, answers)
    return process_data(catalog, form, known), form.items


def _run(
    catalog: Catalog, spec: ProcessSpec, data: dict[str, Any], decided: Mapping[str, str]
) -> _Run:
    """Run `spec` over `data` in memory: start it, then complete its ready human tasks one at a
    time, in order of element id, each with the case's own decision of its item (approval when
    it has none), until none is ready (or MAX_STEPS). Returns what it routed."""
    run = _Run()
    try:
        workflow = runner.start(spec, spec.inputs(data))
        for step in range(MAX_STEPS):
            observed = runner.observe(spec, workflow)
            for check in observed.checks:
                if check.decision == "approved" and check.item in catalog.items:
                    department = check.lane or catalog.items[check.item].department
                    run.routed.setdefault(check.item, (department, "instant"))
            ready = sorted(observed.ready, key=lambda task: (task.bpmn_id, task.task_id))
            for task in ready:
                if task.kind != CORRECTION and task.item in catalog.items:
                    department = task.lane or catalog.items[task.item].department
                    run.routed.setdefault(task.item, (department, "task"))
            if step == 0:
                run.first = tuple(run.routed)
            if not ready:
                break
            task = ready[0]
            answer = {}
            if task.kind != CORRECTION and task.item:
                answer = {f"decision_{task.item}": decided.get(task.item, "approved")}
            runner.complete(workflow, task.task_id, answer)
    except runner.StepFailed as failure:
        run.failed = StepFailure(failure.element_id, failure.element_name)
    return run


class _Runs:
    """The process runs of one replay, each made once: a run depends only on the values the
    process reads (a few facts of the case, not all) and the case's decisions, so cases alike
    in those share it."""

    def __init__(self) -> None:
        self._done: dict[tuple, _Run] = {}

    def run(
        self, catalog: Catalog, spec: ProcessSpec, data: dict[str, Any], decided: Mapping[str, str]
    ) -> _Run:
        inputs = json.dumps(spec.inputs(data), sort_keys=True, default=str)
        key = (id(catalog), spec.key, spec.process_id, inputs, tuple(sorted(decided.items())))
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = _run(catalog, spec, data, decided)
        return found


def _name(catalog: Catalog, code: str) -> ItemName:
    item = catalog.items.get(code)
    return ItemName(code, item.name, item.name_en) if item else ItemName(code, code, code)


def _compare(
    runs: _Runs,
    case: Case,
    rows: list[CaseItem],
    *,
    now: tuple[Catalog, Matter, ProcessSpec | None],
    candidate: tuple[Catalog, Matter, ProcessSpec],
) -> CaseReplay:
    now_catalog, now_matter, own_spec = now
    new_catalog, new_matter, new_spec = candidate
    got: dict[str, CaseItem] = {}
    for row in rows:  # the latest row of each item
        got[row.item_code] = row
    decided = {code: row.status for code, row in got.items() if row.status in DECIDED}
    now_data, now_applies = _start_data(now_catalog, now_matter, case)
    new_data, new_applies = _start_data(new_catalog, new_matter, case)
    after = runs.run(new_catalog, new_spec, new_data, decided)
    before = runs.run(now_catalog, own_spec, now_data, decided) if own_spec else _Run()
    # What the case gets: its items, and for an open case what its own process still routes
    reference = {
        code: (row.department, "instant" if row.auto else "task") for code, row in got.items()
    }
    if case.status != "completed" and before.failed is None:
        for code, routed in before.routed.items():
            reference.setdefault(code, routed)
    names = (_name(new_catalog, code) for code in after.routed if code not in reference)
    appearing = tuple(names)
    vanishing = tuple(_name(now_catalog, code) for code in reference if code not in after.routed)
    changes = tuple(
        DepartmentChange(_name(new_catalog, code), reference[code][0], department)
        for code, (department, _how) in after.routed.items()
        if code in reference and reference[code][0] != department
    )
    old_applies = {item.code for item in now_applies}
    new_applies_codes = {item.code for item in new_applies}
    return CaseReplay(
        case_number=case.number or "",
        submitted_at=case.created_at,
        status=case.status,
        appearing=appearing,
        vanishing=vanishing if after.failed is None else (),
        applies_gained=_names(new_catalog, new_applies_codes - old_applies, new_applies),
        applies_lost=_names(now_catalog, old_applies - new_applies_codes, now_applies),
        department_changes=changes,
        deadline_moves=tuple(_moves(now_catalog, new_catalog, got, after)),
        first_before=tuple(_name(now_catalog, code) for code in before.first),
        first_after=tuple(_name(new_catalog, code) for code in after.first),
        failed=after.failed,
    )


def _names(catalog: Catalog, codes: set[str], order: Iterable[Item]) -> tuple[ItemName, ...]:
    return tuple(_name(catalog, item.code) for item in order if item.code in codes)


def _moves(
    now_catalog: Catalog, new_catalog: Catalog, got: dict[str, CaseItem], after: _Run
) -> Iterable[DeadlineMove]:
    """The due dates of the case's routed items (not instant approvals) recomputed with the
    candidate's time limits from the day each item's clock started: the day it was routed (the
    submission, for the items routed at once). A corrected item's clock started again on a day
    not kept: its due date moves by the change of the time limit instead."""
    for code, row in got.items():
        if row.auto or code not in new_catalog.items:
            continue
        if after.routed.get(code, ("", ""))[1] != "task":  # not routed, or approved at once
            continue
        limit = new_catalog.items[code].time_limit_days
        if row.corrections:
            old_limit = now_catalog.items[code].time_limit_days if code in now_catalog.items else 0
            new = _shift(row.due_date, limit - old_limit)
        else:
            new = add_working_days(local_date(row.created_at), limit)
        if new != row.due_date:
            yield DeadlineMove(
                _name(new_catalog, code), row.due_date, new, _between(row.due_date, new)
            )


def _shift(day: date, days: int) -> date:
    """`days` working days after `day` (before it, when negative)."""
    if days >= 0:
        return add_working_days(day, days)
    while days < 0:
        day -= timedelta(days=1)
        if is_working_day(day):
            days += 1
    return day


def _between(old: date, new: date) -> int:
    """The working days from `old` to `new` (negative when `new` is earlier)."""
    if new >= old:
        return working_days_between(old, new)
    return -working_days_between(new, old)
