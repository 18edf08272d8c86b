"""Operating running cases (issue 21, first part): the open incidents of every kind, grouped by
cause, matter, item and department, so that an operator looks at one group of a hundred alike
failures instead of a hundred failures.

Two kinds are open today:
- *process* incidents (services/cases/incidents.py): a case's process could not run on at an
  element (a condition, script, timer or decision table failed); the step was rolled back;
- *department system* incidents (services/cases/external.py): a department's system failed an
  item after its last retry; the item waits for someone to hand it back.

Incidents are alike when they share their kind, step, matter, item, department, element and
cause; a group is named by a short hash of these (`group_id`), stable while its incidents are
open.
A cause is the failure's text with its varying parts (numbers, quoted values) put aside, so
that "timeout after 30 s" and "timeout after 31 s" are one group. Nothing here changes a
case but `retry_group`:
- a department system's group: each item is handed back to the system (one transaction each,
  recorded in the case's history) and reported *waiting* until the system has decided it
  (`progress`): a retry is done only when the step moved on;
- a group of failed deadline timers: each case's failed timers run again at once; a case whose
  timer fires is *done* (its incident resolved), one that fails the same way is *failed again*
  (a new incident, the old one resolved with it);
- any other process step (a clerk's decision, a submission, a correction) was a person's action
  that was rolled back: only that person can do it again, so such a group is refused.
`resolve_group` closes a whole group with a reason (an operator's judgement that nothing more is
owed to it), each case in one transaction with the reason in its history:
- process incidents are marked resolved; for a group of failed deadline timers the failed
  timers are made void as well: the reminder or escalation they would have given is dropped
  (it is late by now), while the item itself still waits for its department as before;
- a department system's items are handed back to the system, as a clerk's single resolve
  does (the cause is fixed), and reported like a retry.
Every retry and resolve is recorded (services/incident_batches.py) with each case's outcome, so
that an operator can come back later and see where the handed-back items stand (`batch_report`).
Only operators act on groups: administrators configure processes, operators run cases.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlmodel import Session, col, func, select

from engine.clock import utcnow
from engine.store import TimerJob
from forms.values import mask_id
from services.accounts.models import User
from services.cases import history
from services.cases.external import hand_back
from services.cases.models import Case, CaseEvent, CaseItem, Incident
from services.errors import InvalidInput, NotFound
from services.incident_batches import IncidentBatch
from services.operators import require_operator, stated_reason

if TYPE_CHECKING:
    from services.runtime import Runtime

Kind = Literal["process", "department_system"]
KINDS: tuple[Kind, ...] = ("process", "department_system")
# What varies between alike failures: quoted values, then numbers (ids, durations, dates)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”")
_NUMBER = re.compile(r"\d+(?:[.:/-]\d+)*")
CAUSE_LIMIT = 200
# Personal numbers a failure's text may carry (a citizen ID, a mobile number): masked for show
_PERSONAL_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15}|1\d{10})(?![0-9A-Za-z])")


def cause_of(text: str) -> str:
    """The failure's text with its varying parts replaced: what alike failures share."""
    text = _QUOTED.sub("'…'", (text or "").strip())
    text = _NUMBER.sub("#", text)
    return re.sub(r"\s+", " ", text)[:CAUSE_LIMIT] or "?"


def masked(text: str) -> str:
    """A failure's text as shown to operators: personal numbers in it masked."""
    return _PERSONAL_NUMBER.sub(lambda m: mask_id(m.group(0)), text or "")


@dataclass(frozen=True)
class GroupKey:
    kind: Kind
    step: str  # the process step that failed (deadline, decision…); "external" for a system's
    matter: str
    item: str  # item code ("" when the failure is not an item's: a submission)
    department: str  # "" likewise
    element: str  # the process element ("" for a department system's failure)
    cause: str

    @property
    def id(self) -> str:
        """The group's name in addresses: a short hash of what its incidents share."""
        return group_id(self)

    @property
    def retryable(self) -> bool:
        """Whether retrying can help: a system's items go back, failed timers run again; a
        person's rolled-back step is theirs to do again."""
        return self.kind == "department_system" or self.step == "deadline"


def group_id(key: GroupKey) -> str:
    fields = (key.kind, key.step, key.matter, key.item, key.department, key.element, key.cause)
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:16]


@dataclass
class IncidentGroup:
    """Alike open incidents: what they share, how many, since when, and which."""

    key: GroupKey
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    example: str = ""  # one incident's own text, as it was recorded
    case_ids: list[int] = field(default_factory=list)
    incident_ids: list[int] = field(default_factory=list)  # process incidents
    item_ids: list[int] = field(default_factory=list)  # department systems' failed items

    def add(self, at: datetime | None, text: str, case_id: int | None) -> None:
        self.count += 1
        if at is not None:
            self.first_at = at if self.first_at is None else min(self.first_at, at)
            self.last_at = at if self.last_at is None else max(self.last_at, at)
        self.example = self.example or text
        if case_id is not None and case_id not in self.case_ids:
            self.case_ids.append(case_id)


def incident_groups(
    session: Session,
    *,
    limit: int = 5000,
    kind: Kind | None = None,
    matter: str | None = None,
    department: str | None = None,
) -> list[IncidentGroup]:
    """The open incidents (at most `limit` of each kind, newest first) in groups of alike
    ones, the largest group first; only those of `kind`, `matter` and `department` if given
    (a department's process incidents are those at its items)."""
    groups: dict[GroupKey, IncidentGroup] = {}

    def group(key: GroupKey) -> IncidentGroup:
        return groups.setdefault(key, IncidentGroup(key))

    process: list[Incident] = []
    if kind in (None, "process"):
        query = select(Incident).where(col(Incident.resolved_at).is_(None))
        if matter:
            query = query.where(Incident.matter == matter)
        if department:
            query = query.where(
                col(Incident.case_item_id).in_(
                    select(CaseItem.id).where(CaseItem.department == department)
                )
            )
        process = list(session.exec(query.order_by(col(Incident.at).desc()).limit(limit)).all())
    item_ids = {i.case_item_id for i in process if i.case_item_id is not None}
    items = (
        {
            row.id: row
            for row in session.exec(select(CaseItem).where(col(CaseItem.id).in_(item_ids))).all()
        }
        if item_ids
        else {}
    )
    for incident in process:
        item = items.get(incident.case_item_id) if incident.case_item_id else None
        key = GroupKey(
            kind="process",
            step=incident.step,
            matter=incident.matter,
            item=item.item_code if item else "",
            department=item.department if item else "",
            element=incident.element_id,
            cause=cause_of(incident.reason),
        )
        found = group(key)
        found.add(incident.at, incident.reason, incident.case_id)
        found.incident_ids.append(incident.id)

    failed = []
    if kind in (None, "department_system"):
        query = (
            select(CaseItem, Case.matter)
            .join(Case, col(Case.id) == col(CaseItem.case_id))
            .where(col(CaseItem.incident).is_not(None))
        )
        if matter:
            query = query.where(Case.matter == matter)
        if department:
            query = query.where(CaseItem.department == department)
        failed = session.exec(query.order_by(col(CaseItem.id).desc()).limit(limit)).all()
    since = _failed_since(session, {item.case_id for item, _matter in failed})
    for item, matter_code in failed:
        key = GroupKey(
            kind="department_system",
            step="external",
            matter=matter_code,
            item=item.item_code,
            department=item.department,
            element="",
            cause=cause_of(item.incident or ""),
        )
        found = group(key)
        found.add(since.get(item.case_id), item.incident or "", item.case_id)
        found.item_ids.append(item.id)
    return sorted(
        groups.values(),
        key=lambda g: (-g.count, g.key.kind, g.key.matter, g.key.item, g.key.cause),
    )


def _failed_since(session: Session, case_ids: set[int]) -> dict[int, datetime]:
    """When a department's system last gave up on an item of each case (its history says)."""
    if not case_ids:
        return {}
    rows = session.exec(
        select(CaseEvent.case_id, func.max(CaseEvent.at))
        .where(col(CaseEvent.case_id).in_(case_ids), CaseEvent.kind == "incident")
        .group_by(col(CaseEvent.case_id))
    ).all()
    return {case_id: at for case_id, at in rows}


def list_groups(
    session: Session,
    rt: Runtime,
    *,
    kind: str | None = None,
    matter: str | None = None,
    department: str | None = None,
) -> list[IncidentGroup]:
    """The groups of open incidents, filtered by kind, matter and department (each checked
    against what exists: a filter naming nothing known is refused, not answered empty)."""
    if kind and kind not in KINDS:
        raise InvalidInput("kind", "未知的故障类型", f"kind: one of {', '.join(KINDS)}")
    if matter and matter not in rt.catalog.matters:
        raise InvalidInput("matter", "没有这个一件事", "No such matter")
    if department and department not in rt.catalog.departments:
        raise InvalidInput("department", "没有这个部门", "No such department")
    return incident_groups(
        session,
        kind=kind or None,  # type: ignore[arg-type]  # checked above
        matter=matter or None,
        department=department or None,
    )


def find_group(session: Session, key: GroupKey) -> IncidentGroup:
    for group in incident_groups(
        session, kind=key.kind, matter=key.matter, department=key.department or None
    ):
        if group.key == key:
            return group
    raise _no_group()


def find_group_by_id(session: Session, group_id: str) -> IncidentGroup:
    """The open group named `group_id` (IncidentGroup.key.id)."""
    for group in incident_groups(session):
        if group.key.id == group_id:
            return group
    raise _no_group()


def _no_group() -> NotFound:
    return NotFound(
        "这组故障已不存在（可能已被处理）", "No such group of incidents (handled already?)"
    )


@dataclass(frozen=True)
class GroupCase:
    """One case of a group, as an operator sees it: no applicant's data."""

    case_id: int | None  # None: a submission that failed (no case was made)
    case_number: str | None
    case_status: str | None
    item_id: int | None
    item_code: str
    item_status: str | None
    at: datetime | None  # when it failed (a department system's: its last give-up)


def group_cases(session: Session, group: IncidentGroup) -> list[GroupCase]:
    """The cases of `group`, one row per incident, oldest failure first."""
    if group.key.kind == "department_system":
        links = [
            (item.case_id, item.id)
            for item in session.exec(
                select(CaseItem).where(col(CaseItem.id).in_(group.item_ids))
            ).all()
        ]
        since = _failed_since(session, {case_id for case_id, _ in links})
        at = {case_id: since.get(case_id) for case_id, _ in links}
    else:
        found = session.exec(select(Incident).where(col(Incident.id).in_(group.incident_ids))).all()
        links = [(i.case_id, i.case_item_id) for i in found]
        at = {i.case_id: i.at for i in found}
    cases = {
        case.id: case
        for case in session.exec(
            select(Case).where(col(Case.id).in_([c for c, _ in links if c is not None]))
        ).all()
    }
    items = {
        item.id: item
        for item in session.exec(
            select(CaseItem).where(col(CaseItem.id).in_([i for _, i in links if i is not None]))
        ).all()
    }
    rows = []
    for case_id, item_id in links:
        case = cases.get(case_id) if case_id is not None else None
        item = items.get(item_id) if item_id is not None else None
        rows.append(
            GroupCase(
                case_id=case_id,
                case_number=case.number if case else None,
                case_status=case.status if case else None,
                item_id=item_id,
                item_code=item.item_code if item else group.key.item,
                item_status=item.status if item else None,
                at=at.get(case_id),
            )
        )
    return sorted(rows, key=lambda r: (r.at is None, r.at or utcnow(), r.case_id or 0))


# ---------------------------------------------------------------- acting on a group

Outcome = Literal["waiting", "done", "failed_again", "resolved", "gone"]
OUTCOMES: tuple[Outcome, ...] = ("waiting", "done", "failed_again", "resolved", "gone")


@dataclass(frozen=True)
class CaseOutcome:
    case_id: int | None  # None: an incident of no case (a submission that failed)
    item_id: int | None
    outcome: Outcome


@dataclass(frozen=True)
class OutcomeRow:
    """A case's outcome as reported: its number and item, no applicant's data."""

    case_id: int | None
    case_number: str | None
    item_id: int | None
    item_code: str
    outcome: Outcome


@dataclass
class BatchReport:
    """A retry or resolve of a group and where each of its cases stands now."""

    batch: IncidentBatch
    rows: list[OutcomeRow]

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(row.outcome for row in self.rows))

    @property
    def settled(self) -> bool:
        """No case waits for a department's system any more."""
        return all(row.outcome != "waiting" for row in self.rows)


def _group_of(session: Session, key: GroupKey | str) -> IncidentGroup:
    return find_group_by_id(session, key) if isinstance(key, str) else find_group(session, key)


def retry_group(session: Session, rt: Runtime, *, user: User, key: GroupKey | str) -> BatchReport:
    """Retry every incident of the group `key` (a key, or a group's id; see the module): the
    batch recorded, with the outcome of each case."""
    require_operator(user)
    group = _group_of(session, key)
    if group.key.kind == "department_system":
        message = "故障已批量处理，任务重新交部门业务系统办理"
        outcomes = [_hand_back(session, user, item_id, message) for item_id in group.item_ids]
    elif group.key.step == "deadline":
        outcomes = _rerun_deadlines(session, rt, user, group)
    else:
        raise InvalidInput(
            "step",
            "这类故障发生在经办人或申请人的操作中，操作已撤回：流程修复后请由其重新办理，不能代为重试",
            "these failures happened in a person's action, which was rolled back: once the "
            "process is fixed, that person does it again; it cannot be retried for them",
        )
    return _record(session, user, group, "retry", outcomes)


def resolve_group(
    session: Session, rt: Runtime, *, user: User, key: GroupKey | str, reason: str
) -> BatchReport:
    """Resolve every incident of the group `key` with `reason` (see the module): each case in
    a transaction of its own, the reason in its history; the batch recorded."""
    require_operator(user)
    reason = stated_reason(reason)
    group = _group_of(session, key)
    if group.key.kind == "department_system":
        message = f"故障已批量标记为已解决，任务重新交部门业务系统办理：{reason}"
        outcomes = [_hand_back(session, user, item_id, message) for item_id in group.item_ids]
    else:
        outcomes = [
            _resolve_incident(session, user, incident_id, group.key, reason)
            for incident_id in group.incident_ids
        ]
    return _record(session, user, group, "resolve", outcomes, reason=reason)


def _resolve_incident(
    session: Session, user: User, incident_id: int, key: GroupKey, reason: str
) -> CaseOutcome:
    """Close one process incident (and, for a deadline, its case's failed timers) with the
    reason in the case's history; one transaction."""
    incident = session.get(Incident, incident_id)
    if incident is None or incident.resolved_at is not None:
        return CaseOutcome(incident.case_id if incident else None, None, "gone")
    incident.resolved_at = utcnow()
    session.add(incident)
    message = f"流程故障已标记为已解决：{reason}"
    if key.step == "deadline" and incident.case_id is not None:
        case = session.get(Case, incident.case_id)
        if case is not None and case.instance_id is not None:
            for job in _failed_timers(session, case.instance_id):
                job.status = "void"
                session.add(job)
        message = f"到期提醒未能执行，已标记为已解决，不再提醒：{reason}"
    if incident.case_id is not None:
        history.record(
            session, case_id=incident.case_id, user=user, kind="incident_resolved", message=message
        )
    session.commit()
    return CaseOutcome(incident.case_id, incident.case_item_id, "resolved")


def _failed_timers(session: Session, instance_id: int) -> list[TimerJob]:
    """A case's deadline timers that failed in its process (every one of the instance: a timer
    job does not name the element that failed)."""
    return list(
        session.exec(
            select(TimerJob).where(TimerJob.instance_id == instance_id, TimerJob.status == "failed")
        ).all()
    )


def _hand_back(session: Session, user: User, item_id: int, message: str) -> CaseOutcome:
    item = session.get(CaseItem, item_id)
    if item is None or item.incident is None:
        return CaseOutcome(item.case_id if item else None, item_id, "gone")
    hand_back(session, item, user, retries=item.retries or 0, message=message)
    session.commit()
    return CaseOutcome(item.case_id, item_id, "waiting")


def _record(
    session: Session,
    user: User,
    group: IncidentGroup,
    action: str,
    outcomes: list[CaseOutcome],
    *,
    reason: str | None = None,
) -> BatchReport:
    key = group.key
    batch = IncidentBatch(
        group_id=key.id,
        action=action,
        kind=key.kind,
        step=key.step,
        matter=key.matter,
        item=key.item,
        department=key.department,
        element=key.element,
        cause=key.cause,
        reason=reason,
        user_id=user.id,
        outcomes=[
            {"case_id": o.case_id, "item_id": o.item_id, "outcome": o.outcome} for o in outcomes
        ],
    )
    session.add(batch)
    session.commit()
    session.refresh(batch)
    return _report(session, batch)


def progress(session: Session, item_ids: list[int]) -> list[CaseOutcome]:
    """Where items handed back to their department's system stand: done once decided, failed
    again when the system gave up again, waiting otherwise."""
    found = []
    for item_id in item_ids:
        item = session.get(CaseItem, item_id)
        if item is None:
            found.append(CaseOutcome(None, item_id, "gone"))
        elif item.incident is not None:
            found.append(CaseOutcome(item.case_id, item_id, "failed_again"))
        elif item.status != "processing":
            found.append(CaseOutcome(item.case_id, item_id, "done"))
        else:
            found.append(CaseOutcome(item.case_id, item_id, "waiting"))
    return found


def batch_report(session: Session, *, batch_id: int) -> BatchReport:
    """A recorded retry or resolve with where each case stands now: an item handed back to its
    department's system is looked at again (`progress`); other outcomes were final when
    recorded."""
    batch = session.get(IncidentBatch, batch_id)
    if batch is None:
        raise NotFound("没有这次处理记录", "No such batch")
    return _report(session, batch)


def recent_batches(session: Session, *, limit: int = 20) -> list[IncidentBatch]:
    """The newest retries and resolves, newest first."""
    return list(
        session.exec(
            select(IncidentBatch).order_by(col(IncidentBatch.id).desc()).limit(limit)
        ).all()
    )


def _report(session: Session, batch: IncidentBatch) -> BatchReport:
    stored = [CaseOutcome(o.get("case_id"), o.get("item_id"), o["outcome"]) for o in batch.outcomes]
    handed_back = [o.item_id for o in stored if o.outcome == "waiting" and o.item_id]
    now = {o.item_id: o.outcome for o in progress(session, handed_back)}
    current = [
        replace(o, outcome=now.get(o.item_id, o.outcome)) if o.outcome == "waiting" else o
        for o in stored
    ]
    case_ids = [o.case_id for o in current if o.case_id is not None]
    numbers = dict(
        session.exec(select(Case.id, Case.number).where(col(Case.id).in_(case_ids))).all()
    )
    item_ids = [o.item_id for o in current if o.item_id is not None]
    codes = dict(
        session.exec(
            select(CaseItem.id, CaseItem.item_code).where(col(CaseItem.id).in_(item_ids))
        ).all()
    )
    return BatchReport(
        batch=batch,
        rows=[
            OutcomeRow(
                case_id=o.case_id,
                case_number=numbers.get(o.case_id),
                item_id=o.item_id,
                item_code=codes.get(o.item_id, batch.item),
                outcome=o.outcome,
            )
            for o in current
        ],
    )


def _rerun_deadlines(
    session: Session, rt: Runtime, user: User, group: IncidentGroup
) -> list[CaseOutcome]:
    from services.cases.deadlines import run_deadlines

    cases = {
        case.id: case
        for case in session.exec(select(Case).where(col(Case.id).in_(group.case_ids))).all()
    }
    now = utcnow()
    for incident_id in group.incident_ids:
        incident = session.get(Incident, incident_id)
        case = cases.get(incident.case_id) if incident else None
        if incident is None or case is None or case.instance_id is None:
            continue
        for job in _failed_timers(session, case.instance_id):
            job.status = "pending"
            job.due_at = min(job.due_at, now)
            session.add(job)
        incident.resolved_at = now
        session.add(incident)
        history.record(
            session,
            case_id=case.id,
            user=user,
            kind="incident_resolved",
            message="故障已批量处理，到期提醒重新执行",
        )
    session.commit()
    run_deadlines(rt)
    outcomes = []
    for case_id in group.case_ids:
        again = session.exec(
            select(Incident).where(
                Incident.case_id == case_id,
                Incident.element_id == group.key.element,
                col(Incident.resolved_at).is_(None),
            )
        ).first()
        outcomes.append(CaseOutcome(case_id, None, "failed_again" if again else "done"))
    return outcomes
