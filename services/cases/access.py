"""Who may see and work what, on a need-to-know basis.

- The applicant sees their own cases whole: the application, every item, the materials, the
  results.
- A department's clerk sees a case only through their department's item: the facts and
  materials that item needs, identity and bank numbers masked (a full number is shown only for
  a stated reason, which is logged), the other items' progress without their data, and their
  own item's result only.
- A department's system gets the same for the items it locks.
- Nobody else opens a case's personal data (administrators see figures and logs).

Every look at a case's personal data by someone other than its applicant is written to the
data-access log that the applicant reads ("谁查看了我的数据").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from forms.catalog import Fact, Item
from forms.values import mask_id
from services.accounts.models import User
from services.cases.models import Case, CaseItem, Upload
from services.cases.uploads import read_file
from services.errors import Forbidden, InvalidInput, NotFound
from services.observability import note_case
from services.registries.service import log_case_view
from services.runtime import Runtime

# Facts shown masked until a clerk states why they need the full number.
MASKED_TYPES = ("citizen_id", "bank_card")
# Who applied: every item's clerk sees it (masked where the type says so).
APPLICANT_FACTS = ("applicant_name", "applicant_id_number", "applicant_phone")
REASON_LIMIT = 200
_ID_NUMBER = re.compile(r"\d{17}[\dX]")


def require_citizen(user: User) -> str:
    """The ID number of an applicant with a verified identity; nobody else applies."""
    if user.role != "citizen" or not user.id_number:
        raise Forbidden(
            "只有实名认证的申请人可以申请", "Only a citizen with an ID number may apply"
        )
    return user.id_number


def require_department(user: User) -> str:
    """The department of a clerk or of a department's own system; others may not work tasks."""
    if user.role not in ("clerk", "system") or not user.department:
        raise Forbidden("只有部门窗口人员可以办理", "Only a department clerk may do this")
    return user.department


def require_system(user: User) -> str:
    """The department of a department's own system (the external-task API is theirs alone)."""
    if user.role != "system" or not user.department:
        raise Forbidden(
            "外部任务接口仅供部门业务系统使用，窗口人员请在工作台办理",
            "The external-task API is for department systems; clerks use the workbench",
        )
    return user.department


def load_case(session: Session, *, case_id: int, user: User) -> Case:
    """The whole case, for its applicant; for everyone else it does not exist."""
    case = session.get(Case, case_id)
    if case is None or user.role != "citizen" or case.applicant_user_id != user.id:
        raise NotFound("办件不存在", "No such case")
    note_case(case.number)
    return require_kept(case)


def require_kept(case: Case) -> Case:
    """The case, unless the retention purge removed its data: then it is said so, plainly."""
    if case.purged_at is not None:
        raise NotFound(
            "该办件已办结多年，已按保存期限清除，仅保留统计数据",
            "The case was removed after the retention period; only its figures are kept",
        )
    return case


def load_case_progress(session: Session, *, case_id: int, user: User) -> Case:
    """The case for a view of its progress (statuses, no personal data): its applicant, and the
    clerks and systems of the departments it was routed to."""
    case = session.get(Case, case_id)
    if case is not None and user.role == "citizen" and case.applicant_user_id == user.id:
        note_case(case.number)
        return require_kept(case)
    working = case is not None and user.role in ("clerk", "system") and user.department
    if working and own_items(session, case=case, department=user.department):
        note_case(case.number)
        return require_kept(case)
    raise NotFound("办件不存在", "No such case")


def own_items(session: Session, *, case: Case, department: str) -> list[CaseItem]:
    """The case's items routed to `department`, oldest first."""
    return list(
        session.exec(
            select(CaseItem)
            .where(CaseItem.case_id == case.id, CaseItem.department == department)
            .order_by(col(CaseItem.id))
        ).all()
    )


def load_case_item(session: Session, *, item_id: int, user: User) -> CaseItem:
    """An item of the clerk's own department; other departments' items do not exist for them."""
    department = require_department(user)
    row = session.get(CaseItem, item_id)
    if row is None or row.department != department:
        raise NotFound("待办事项不存在", "No such task in your department")
    require_kept(session.get(Case, row.case_id))
    return row


def log_view(session: Session, user: User, case: Case, purpose: str) -> None:
    """Someone other than the applicant opened the case's personal data: logged, committed."""
    note_case(case.number)
    log_list_view(session, user, [case], purpose)


def log_list_view(session: Session, user: User, cases: list[Case], purpose: str) -> None:
    """A list showed these cases' personal data (an address, a phone number) to `user`: one log
    row per case, committed."""
    for case in cases:
        log_case_view(
            session,
            actor_user_id=user.id,
            subject_id_number=case.applicant_id_number,
            case_id=case.id,
            case_number=case.number or "",
            purpose=purpose[:REASON_LIMIT],
        )
    session.commit()


@dataclass(frozen=True)
class FactView:
    """One fact of the application as a clerk sees it."""

    fact: Fact
    value: Any
    provenance: dict[str, Any] | None
    masked: bool  # shown masked; the full number only for a stated reason

    @property
    def key(self) -> str:
        return self.fact.key

    @property
    def shown(self) -> Any:
        return mask_id(str(self.value)) if self.masked else self.value

    @property
    def record(self) -> str:
        """The registry's record number, masked when it is a person's ID number."""
        found = str((self.provenance or {}).get("record_id", ""))
        return mask_id(found) if _ID_NUMBER.fullmatch(found) else found


@dataclass(frozen=True)
class ClerkView:
    """A case as one department's clerk sees it through one of its items."""

    row: CaseItem
    item: Item
    case: Case
    facts: list[FactView]
    checklist: list[dict[str, Any]]  # the item's materials: supplied, fetched or exempt
    uploads: list[Upload]  # the applicant's files for the item's materials


def needed_facts(item: Item) -> tuple[str, ...]:
    """The facts a clerk of `item` sees: who applied, and what the item asks for."""
    return tuple(dict.fromkeys([*APPLICANT_FACTS, *item.fact_keys]))


def item_facts(rt: Runtime, case: Case, item: Item) -> dict[str, Any]:
    """The application's values of the facts `item` needs (for a department's system)."""
    return {key: case.data[key] for key in needed_facts(item) if key in case.data}


def clerk_view(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    item_id: int,
    reveal: str | None = None,
    reason: str = "",
) -> ClerkView:
    """The clerk's view of a case through their department's item (logged). With `reveal` (a
    masked fact the item needs) and a `reason`, that one number is shown in full, and the
    reason is logged with the view."""
    row = load_case_item(session, item_id=item_id, user=user)
    case = session.get(Case, row.case_id)
    item = rt.catalog.items[row.item_code]
    keys = needed_facts(item)
    reason = " ".join((reason or "").split())
    if reveal is not None:
        fact = rt.catalog.facts.get(reveal)
        if reveal not in keys or fact is None or fact.type not in MASKED_TYPES:
            raise InvalidInput("reveal", "该信息不可查看完整号码", "This fact cannot be revealed")
        if not 2 <= len(reason) <= REASON_LIMIT:
            raise InvalidInput(
                "reason",
                "查看完整号码须说明理由（2至200字），理由将记入数据访问记录",
                "Say why you need the full number (2-200 characters); it is logged",
            )
        purpose = f"{user.display_name}查看完整号码（{fact.label}，{item.name}）：{reason}"
    else:
        purpose = f"{user.display_name}审核办件（{item.name}）"
    log_view(session, user, case, purpose)
    facts = [
        FactView(
            fact=rt.catalog.facts[key],
            value=case.data[key],
            provenance=case.provenance.get(key),
            masked=rt.catalog.facts[key].type in MASKED_TYPES and key != reveal,
        )
        for key in keys
        if case.data.get(key) not in (None, "")
    ]
    materials = {m.code for m in item.materials}
    return ClerkView(
        row=row,
        item=item,
        case=case,
        facts=facts,
        checklist=[e for e in case.checklist if e.get("code") in materials],
        uploads=[
            u
            for u in session.exec(select(Upload).where(Upload.case_id == case.id)).all()
            if u.material_code in materials
        ],
    )


def open_upload(
    session: Session, rt: Runtime, *, user: User, upload_id: int
) -> tuple[Upload, bytes]:
    """An uploaded material, for its applicant, or for a clerk or system whose department's
    item needs that material (the viewing is logged)."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFound("材料不存在", "No such material")
    case = session.get(Case, upload.case_id)
    if user.role == "citizen" and case is not None and case.applicant_user_id == user.id:
        return upload, read_file(session, rt, upload)
    if user.role not in ("clerk", "system") or case is None or not user.department:
        raise NotFound("材料不存在", "No such material")
    needing = [
        row
        for row in own_items(session, case=case, department=user.department)
        if upload.material_code in {m.code for m in rt.catalog.items[row.item_code].materials}
    ]
    if not needing:
        raise NotFound("材料不存在", "No such material")
    content = read_file(session, rt, upload)
    name = rt.catalog.items[needing[0].item_code].name
    log_view(
        session, user, case, f"{user.display_name}查看申请材料（{upload.material_code}，{name}）"
    )
    return upload, content


def result_case(session: Session, *, case_id: int, item_id: int, user: User) -> Case:
    """The case whose item's result (certificate) this user may download: the applicant's any,
    a clerk's their own department's (logged)."""
    case = session.get(Case, case_id)
    if case is not None and user.role == "citizen" and case.applicant_user_id == user.id:
        return case
    row = session.get(CaseItem, item_id)
    if (
        case is None
        or row is None
        or row.case_id != case.id
        or user.role != "clerk"
        or row.department != user.department
    ):
        raise NotFound("该事项尚无办理结果", "This item has no result yet")
    log_view(session, user, case, f"{user.display_name}下载本部门办理结果（{row.item_code}）")
    return case
