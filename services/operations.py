"""Operating running cases (issue 21, first part): the open incidents of every kind, grouped by
cause, matter, item and department, so that an operator looks at one group of a hundred alike
failures instead of a hundred failures.

Two kinds are open today:
- *process* incidents (services/cases/incidents.py): a case's process could not run on at an
  element (a condition, script, timer or decision table failed); the step was rolled back;
- *department system* incidents (services/cases/external.py): a department's system failed an
  item after its last retry; the item waits for someone to hand it back.

Incidents are alike when they share their kind, matter, item, department, element and cause.
A cause is the failure's text with its varying parts (numbers, quoted values) put aside, so
that "timeout after 30 s" and "timeout after 31 s" are one group. Nothing here changes a
case; what an operator does to a group (retry, resolve) comes next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from services.cases.models import Case, CaseItem, Incident

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
