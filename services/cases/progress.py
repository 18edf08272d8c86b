"""Progress of a case as people see it: each item's status (those not routed included), the
history, the applicant's list of cases."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from forms.catalog import Item
from forms.compiler import condition_holds
from services.accounts.models import User
from services.cases.models import Case, CaseEvent, CaseItem
from services.cases.routing import department_name
from services.runtime import Runtime

ITEM_STATUS = {
    "processing": ("办理中", "In progress"),
    "correction": ("待补正", "Awaiting correction"),
    "approved": ("已办结", "Approved"),
    "rejected": ("不予办理", "Rejected"),
    "not_applicable": ("无需办理", "Not applicable"),
    # left by an operator's repair (services/cases/repair.py)
    "cancelled": ("已撤回", "Withdrawn"),
    "superseded": ("已退回重办", "Re-opened (superseded)"),
}
CASE_STATUS = {
    "processing": ("办理中", "In progress"),
    "correction": ("待补正", "Correction needed"),
    "completed": ("已办结", "Completed"),
}


@dataclass(frozen=True)
class ItemView:
    """One item of a case as its applicant or a clerk sees it."""

    row: CaseItem | None
    item: Item
    department_name: str
    status: str

    @property
    def status_label(self) -> str:
        return ITEM_STATUS[self.status][0]


def cases_of(session: Session, *, user: User, limit: int = 50, offset: int = 0) -> list[Case]:
    query = (
        select(Case)
        .where(Case.applicant_user_id == user.id)
        .order_by(col(Case.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query).all())


# session.info key: (case id, its items) of the case this session just submitted, whose view
# then needs no second transaction to read them back (the session keeps their values).
SUBMITTED_ITEMS = "onething.submitted_items"
_ITEMS_OF_CASE = (  # built once: every case view asks
    select(CaseItem).where(CaseItem.case_id == bindparam("case_id")).order_by(col(CaseItem.id))
)


def item_views(session: Session, rt: Runtime, case: Case) -> list[ItemView]:
    """Every item of the case's matter with its status (items never routed show 'not applicable')."""
    submitted = session.info.pop(SUBMITTED_ITEMS, None)
    if submitted is not None and submitted[0] == case.id:  # the case this session just created
        rows = submitted[1]
    else:
        rows = session.exec(_ITEMS_OF_CASE, params={"case_id": case.id}).all()
    by_code = {row.item_code: row for row in rows}
    views = []
    matter = rt.catalog.matters.get(case.matter)
    codes = list(matter.items) if matter else []
    codes += [code for code in by_code if code not in codes]
    for code in codes:
        row = by_code.get(code)
        item = rt.catalog.items[code]
        if row is not None:
            status = row.status
        elif case.status == "completed" or not _may_still_open(case, item):
            status = "not_applicable"
        else:
            continue
        views.append(ItemView(row, item, department_name(rt, item.department), status))
    return views


def _may_still_open(case: Case, item: Item) -> bool:
    """Whether an item not routed yet could still be (its condition holds on the case data)."""
    return condition_holds(item.when, case.data)


# Internal workbench moves that mean nothing to the applicant.
INTERNAL_EVENTS = ("claim", "release", "reassign")


def events_of(session: Session, *, case: Case, for_applicant: bool = False) -> list[CaseEvent]:
    """The case's history; the applicant's view leaves out the departments' internal moves."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
    if for_applicant:
        query = query.where(col(CaseEvent.kind).not_in(INTERNAL_EVENTS))
    return list(session.exec(query).all())
