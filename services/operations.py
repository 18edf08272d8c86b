"""Operating running cases (issue 21, first part): the open incidents of every kind, grouped by
cause, matter, item and department, so that an operator looks at one group of a hundred alike
failures instead of a hundred failures.

Two kinds are open today:
- *process* incidents (services/cases/incidents.py): a case's process could not run on at an
  element (a condition, script, timer or decision table failed); the step was rolled back;
- *department system* incidents (services/cases/external.py): a department's system failed an
  item after its last retry; the item waits for someone to hand it back.

Incidents are alike when they share their kind, step, matter, item, department, element and
cause.
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
Only administrators do this for now (an `operator` role is the next step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from sqlmodel import Session, col, select

from engine.clock import utcnow
from engine.store import TimerJob
from services.accounts.models import User
from services.cases import history
from services.cases.external import hand_back
from services.cases.models import Case, CaseItem, Incident
from services.errors import Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from services.runtime import Runtime

Kind = Literal["process", "department_system"]
# What varies between alike failures: quoted values, then numbers (ids, durations, dates)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|“[^”]*”")
_NUMBER = re.compile(r"\d+(?:[.:/-]\d+)*")
CAUSE_LIMIT = 200


def cause_of(text: str) -> str:
    """The failure's text with its varying parts replaced: what alike failures share."""
    text = _QUOTED.sub("'…'", (text or "").strip())
    text = _NUMBER.sub("#", text)
    return re.sub(r"\s+", " ", text)[:CAUSE_LIMIT] or "?"


@dataclass(frozen=True)
class GroupKey:
    kind: Kind
    step: str  # the process step that failed (deadline, decision…); "external" for a system's
    matter: str
    item: str  # item code ("" when the failure is not an item's: a submission)
    department: str  # "" likewise
    element: str  # the process element ("" for a department system's failure)
    cause: str


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


def incident_groups(session: Session, *, limit: int = 5000) -> list[IncidentGroup]:
    """The open incidents (at most `limit` of each kind, newest first) in groups of alike
    ones, the largest group first."""
    groups: dict[GroupKey, IncidentGroup] = {}

    def group(key: GroupKey) -> IncidentGroup:
        return groups.setdefault(key, IncidentGroup(key))

    process = session.exec(
        select(Incident)
        .where(col(Incident.resolved_at).is_(None))
        .order_by(col(Incident.at).desc())
        .limit(limit)
    ).all()
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

    failed = session.exec(
        select(CaseItem, Case.matter)
        .join(Case, col(Case.id) == col(CaseItem.case_id))
        .where(col(CaseItem.incident).is_not(None))
        .order_by(col(CaseItem.id).desc())
        .limit(limit)
    ).all()
    for item, matter in failed:
        key = GroupKey(
            kind="department_system",
            step="external",
            matter=matter,
            item=item.item_code,
            department=item.department,
            element="",
            cause=cause_of(item.incident or ""),
        )
        found = group(key)
        found.add(None, item.incident or "", item.case_id)
        found.item_ids.append(item.id)
    return sorted(
        groups.values(),
        key=lambda g: (-g.count, g.key.kind, g.key.matter, g.key.item, g.key.cause),
    )


# ---------------------------------------------------------------- acting on a group

Outcome = Literal["waiting", "done", "failed_again", "gone"]


@dataclass(frozen=True)
class CaseOutcome:
    case_id: int
    item_id: int | None
    outcome: Outcome


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden(
            "只有管理员可以批量处理故障", "Only administrators handle incidents in bulk"
        )


def find_group(session: Session, key: GroupKey) -> IncidentGroup:
    for group in incident_groups(session):
        if group.key == key:
            return group
    raise NotFound(
        "这组故障已不存在（可能已被处理）", "No such group of incidents (handled already?)"
    )


def retry_group(session: Session, rt: Runtime, *, user: User, key: GroupKey) -> list[CaseOutcome]:
    """Retry every incident of the group `key` (see the module); the outcome of each."""
    _require_admin(user)
    group = find_group(session, key)
    if key.kind == "department_system":
        return [_hand_back(session, user, item_id) for item_id in group.item_ids]
    if key.step == "deadline":
        return _rerun_deadlines(session, rt, user, group)
    raise InvalidInput(
        "step",
        "这类故障发生在经办人或申请人的操作中，操作已撤回：流程修复后请由其重新办理，不能代为重试",
        "these failures happened in a person's action, which was rolled back: once the process "
        "is fixed, that person does it again; it cannot be retried for them",
    )


def _hand_back(session: Session, user: User, item_id: int) -> CaseOutcome:
    item = session.get(CaseItem, item_id)
    if item is None or item.incident is None:
        return CaseOutcome(item.case_id if item else 0, item_id, "gone")
    hand_back(
        session,
        item,
        user,
        retries=item.retries or 0,
        message="故障已批量处理，任务重新交部门业务系统办理",
    )
    session.commit()
    return CaseOutcome(item.case_id, item_id, "waiting")


def progress(session: Session, item_ids: list[int]) -> list[CaseOutcome]:
    """Where items handed back to their department's system stand: done once decided, failed
    again when the system gave up again, waiting otherwise."""
    found = []
    for item_id in item_ids:
        item = session.get(CaseItem, item_id)
        if item is None:
            found.append(CaseOutcome(0, item_id, "gone"))
        elif item.incident is not None:
            found.append(CaseOutcome(item.case_id, item_id, "failed_again"))
        elif item.status != "processing":
            found.append(CaseOutcome(item.case_id, item_id, "done"))
        else:
            found.append(CaseOutcome(item.case_id, item_id, "waiting"))
    return found


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
        for job in session.exec(
            select(TimerJob).where(
                TimerJob.instance_id == case.instance_id, TimerJob.status == "failed"
            )
        ).all():
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
