"""Where time goes (issue 21): for each element of a matter's process, how many cases passed it,
how many wait there now, how long they waited (median and 90th percentile, in working days) and
the bad reviews (差评) of the cases that passed a department's step; and the cases of one element.

Read from the task read model (`human_task`, the timer jobs) with a few grouped queries: no case's
workflow is restored. A visit counts when its time at the element overlaps the window (China
dates, both ends included): it entered on or before the window's last day and had not left
before its first day; a case still waiting counts up to now. A wait runs from the moment the
task opened to the moment it closed, or to now for a case still waiting there (so a step where
cases are stuck shows long waits rather than none); it is counted in working days as time
limits are: the day of arrival does not count. Automatic checks take no time (0). A deadline
timer holds no case itself: it counts the cases it fired for and those it is armed for now.
Only figures and case numbers leave this module: no applicant's name or personal number.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from engine.clock import utcnow
from engine.specs import ProcessSpec
from engine.store import HumanTask, ProcessInstance, TimerJob
from engine.validation import BPMN_NS, parse_xml
from services import processes
from services.calendar import CHINA, local_date, working_days_between
from services.cases.models import Case
from services.errors import InvalidInput, NotFound
from services.evaluations.models import Evaluation, FollowUp
from services.evaluations.service import BAD_LEVEL
from services.runtime import Runtime

DEFAULT_DAYS = 90  # the window when none is given: the last 90 days, today included
MAX_DAYS = 731  # the longest window asked for at once
MAX_CASES = 200  # cases of one element listed at once
KINDS = ("start", "user", "correction", "check", "timer")
NEAR_SHARE = 0.75  # a p90 from this share of the item's time limit on is "near" it


@dataclass(frozen=True)
class Window:
    """China dates, both included, and the UTC moments that bound them."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, CHINA).astimezone(UTC)

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.until + timedelta(days=1), time.min, CHINA).astimezone(UTC)


@dataclass(frozen=True)
class Element:
    """An element of the process the overlay speaks of."""

    element_id: str
    name: str
    kind: str  # start | user | correction | check | timer
    department: str | None  # the lane's department code
    item: str | None
    deadline: str | None = None  # a timer's deadline kind (warning, overdue)


@dataclass(frozen=True)
class ElementTimes:
    element: Element
    cases: int  # distinct cases that passed (or are at) the element in the window
    visits: int  # times a case arrived there (a step done again after a correction counts twice)
    waiting: int  # cases there now
    median_days: float | None  # of the visits' waits, in working days; None without visits
    p90_days: float | None
    bad_reviews: int  # bad reviews of those cases followed up by the element's department
    limit_days: int | None  # the item's time limit (user tasks of an item)
    pace: str | None  # within | near | over: the p90 against the limit; None without both


@dataclass(frozen=True)
class Overlay:
    matter: str
    version: int | None  # the process version asked for; None: every version, current diagram
    window: Window
    now: datetime
    elements: list[ElementTimes]


@dataclass(frozen=True)
class ElementCase:
    """A case's visit to an element: figures only, nothing about the applicant."""

    number: str
    status: str
    entered: datetime
    left: datetime | None  # None: still there
    waited_days: int


@dataclass(frozen=True)
class ElementCases:
    element: Element
    window: Window
    total: int
    cases: list[ElementCase]


# ---------------------------------------------------------------- the window and the elements


def window_of(since: date | None, until: date | None, now: datetime) -> Window:
    """The window asked for (default: the last DEFAULT_DAYS days up to today, China time)."""
    until = until or local_date(now)
    since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    if since > until:
        raise InvalidInput("since", "开始日期不能晚于结束日期", "since must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(
            "since",
            f"时间范围最长 {MAX_DAYS} 天",
            f"the window is at most {MAX_DAYS} days long",
        )
    return Window(since, until)


def _spec(session: Session, rt: Runtime, matter_code: str, version: int | None):
    """The matter's process (a given version, else what new cases use) and the version's key."""
    matter = processes.matter_of(rt, matter_code)
    if version is None:
        return matter, rt.spec_for(matter, session), None
    found = processes.get_version(session, matter_code=matter.code, version=version)
    return matter, processes.spec_of(session, rt.specs, found), found.definition_key


def elements_of(spec: ProcessSpec) -> list[Element]:
    """The start events, human tasks, automatic checks and deadline timers of the process, in
    the order the file lists them."""
    found: dict[str, Element] = {}
    for info in spec.user_tasks.values():
        kind = "correction" if info.kind == "correction" else "user"
        found[info.bpmn_id] = Element(info.bpmn_id, info.name, kind, info.lane, info.item)
    for info in spec.checks.values():
        found[info.bpmn_id] = Element(info.bpmn_id, info.name, "check", info.lane, info.item)
    for info in spec.timers.values():
        found[info.bpmn_id] = Element(
            info.bpmn_id, info.name, "timer", info.lane, info.item, info.kind
        )
    root = parse_xml(spec.content)
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        if process.get("id") != spec.process_id:
            continue
        for start in process.iterchildren(f"{{{BPMN_NS}}}startEvent"):
            element_id = start.get("id")
            name = start.get("name") or element_id
            found[element_id] = Element(element_id, name, "start", None, None)
        order = {el.get("id"): n for n, el in enumerate(process.iter()) if el.get("id")}
        return sorted(found.values(), key=lambda e: order.get(e.element_id, len(order)))
    return list(found.values())


def _element(elements: list[Element], element_id: str) -> Element:
    for element in elements:
        if element.element_id == element_id:
            return element
    raise NotFound("流程中没有该元素", "the process has no such element")


# ---------------------------------------------------------------- figures


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _waited(entered: datetime, left: datetime | None, now: datetime) -> int:
    return working_days_between(local_date(_utc(entered)), local_date(_utc(left or now)))


def percentile(values: list[int], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value at least `share` of the values reach."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(math.ceil(share * len(ordered)) - 1, 0)])


def _pace(p90: float | None, limit: int | None) -> str | None:
    if p90 is None or not limit:
        return None
    if p90 > limit:
        return "over"
    return "near" if p90 >= NEAR_SHARE * limit else "within"


def _visits(matter: str, key: str | None, window: Window):
    """The filter of the human-task rows of the matter's cases whose visit overlaps `window`."""
    query = (
        select(HumanTask.bpmn_id, HumanTask.instance_id)
        .join(Case, col(Case.instance_id) == col(HumanTask.instance_id))
        .where(
            Case.matter == matter,
            col(HumanTask.created_at) < window.end,
            or_(col(HumanTask.completed_at).is_(None), col(HumanTask.completed_at) >= window.start),
        )
    )
    if key is not None:
        query = query.join(ProcessInstance, col(ProcessInstance.id) == col(HumanTask.instance_id))
        query = query.where(ProcessInstance.definition_key == key)
    return query


def _started(matter: str, key: str | None, window: Window):
    query = select(Case.id).where(
        Case.matter == matter,
        col(Case.instance_id).is_not(None),
        col(Case.created_at) >= window.start,
        col(Case.created_at) < window.end,
    )
    if key is not None:
        query = query.join(ProcessInstance, col(ProcessInstance.id) == col(Case.instance_id))
        query = query.where(ProcessInstance.definition_key == key)
    return query


def element_times(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    version: int | None = None,
    since: date | None = None,
    until: date | None = None,
    now: datetime | None = None,
) -> Overlay:
    """Cases, waits and bad reviews of each element of the matter's process (see the module)."""
    now = now or utcnow()
    window = window_of(since, until, now)
    matter, spec, key = _spec(session, rt, matter_code, version)
    elements = elements_of(spec)
    ids = [e.element_id for e in elements]
    visits = _visits(matter.code, key, window).where(col(HumanTask.bpmn_id).in_(ids))
    rows = session.exec(
        visits.add_columns(HumanTask.created_at, HumanTask.completed_at, HumanTask.state)
    ).all()
    waits: dict[str, list[int]] = {}
    cases: dict[str, set[int]] = {}
    waiting: dict[str, set[int]] = {}
    memo: dict[tuple[date, date], int] = {}  # many visits share their days
    for bpmn_id, instance_id, entered, left, state in rows:
        days = (local_date(_utc(entered)), local_date(_utc(left or now)))
        if days not in memo:
            memo[days] = working_days_between(*days)
        waits.setdefault(bpmn_id, []).append(memo[days])
        cases.setdefault(bpmn_id, set()).add(instance_id)
        if state == "ready":
            waiting.setdefault(bpmn_id, set()).add(instance_id)
    bad = _bad_reviews(session, visits)
    armed = _armed_timers(session, matter.code, key)
    started = session.exec(
        select(func.count()).select_from(_started(matter.code, key, window).subquery())
    ).one()
    figures = []
    for element in elements:
        values = waits.get(element.element_id, [])
        if element.kind == "start":
            passed, count, now_there = started, started, 0
        else:
            passed = len(cases.get(element.element_id, ()))
            count = len(values)
            now_there = len(waiting.get(element.element_id, ()))
        if element.kind == "timer":
            now_there = armed.get((element.item, element.deadline), 0)
        timed = element.kind in ("user", "correction", "check") and bool(values)
        median = float(statistics.median(values)) if timed else None
        p90 = percentile(values, 0.9) if timed else None
        item = rt.catalog.items.get(element.item) if element.item else None
        limit = item.time_limit_days if item and element.kind == "user" else None
        figures.append(
            ElementTimes(
                element=element,
                cases=passed,
                visits=count,
                waiting=now_there,
                median_days=median,
                p90_days=p90,
                bad_reviews=bad.get(element.element_id, 0),
                limit_days=limit,
                pace=_pace(p90, limit),
            )
        )
    return Overlay(matter.code, version, window, now, figures)


def _bad_reviews(session: Session, visits) -> dict[str, int]:
    """Per element: the bad reviews of the cases that passed it, followed up by its lane's
    department (the departments a bad review is sent to: services.evaluations)."""
    query = (
        visits.with_only_columns(HumanTask.bpmn_id, func.count(func.distinct(Evaluation.id)))
        .join(Evaluation, col(Evaluation.case_id) == col(Case.id))
        .join(
            FollowUp,
            (col(FollowUp.evaluation_id) == col(Evaluation.id))
            & (col(FollowUp.department) == col(HumanTask.lane)),
        )
        .where(col(Evaluation.level) <= BAD_LEVEL)
        .group_by(HumanTask.bpmn_id)
    )
    return dict(session.exec(query).all())


def _armed_timers(session: Session, matter: str, key: str | None) -> dict[tuple, int]:
    """Cases each (item, deadline kind) timer is armed for now."""
    query = (
        select(TimerJob.item, TimerJob.deadline, func.count(func.distinct(TimerJob.instance_id)))
        .join(Case, col(Case.instance_id) == col(TimerJob.instance_id))
        .where(Case.matter == matter, TimerJob.status == "pending")
        .group_by(TimerJob.item, TimerJob.deadline)
    )
    if key is not None:
        query = query.join(ProcessInstance, col(ProcessInstance.id) == col(TimerJob.instance_id))
        query = query.where(ProcessInstance.definition_key == key)
    return {(item, deadline): count for item, deadline, count in session.exec(query).all()}


# ---------------------------------------------------------------- one element's cases


def element_cases(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    element_id: str,
    version: int | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> ElementCases:
    """The visits of the matter's cases to one element in the window, the latest arrival first,
    `limit` a page: case number, status, arrival, departure, working days waited."""
    now = now or utcnow()
    window = window_of(since, until, now)
    matter, spec, key = _spec(session, rt, matter_code, version)
    element = _element(elements_of(spec), element_id)
    limit = max(1, min(limit, MAX_CASES))
    if element.kind == "start":
        base = _started(matter.code, key, window)
        query = base.with_only_columns(
            Case.number, Case.status, Case.created_at, col(Case.created_at).label("left_at")
        ).order_by(col(Case.created_at).desc(), col(Case.id).desc())
    else:
        base = _visits(matter.code, key, window).where(HumanTask.bpmn_id == element.element_id)
        query = base.with_only_columns(
            Case.number, Case.status, HumanTask.created_at, HumanTask.completed_at
        ).order_by(col(HumanTask.created_at).desc(), col(HumanTask.id))
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    rows = session.execute(query.offset(max(offset, 0)).limit(limit)).all()
    listed = [
        ElementCase(
            number=number or "",
            status=status,
            entered=_utc(entered),
            left=_utc(left) if left else None,
            waited_days=_waited(entered, left, now) if element.kind != "timer" else 0,
        )
        for number, status, entered, left in rows
    ]
    return ElementCases(element, window, total, listed)
