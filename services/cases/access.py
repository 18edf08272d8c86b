"""Who may see and work what: the applicant their own cases, a department's clerks and system
their department's items. Every look at a case's personal data by someone other than its
applicant is written to the data-access log the applicant reads ("谁查看了我的数据")."""

from __future__ import annotations

from sqlmodel import Session, select

from services.accounts.models import User
from services.cases.models import Case, CaseItem, Upload
from services.cases.uploads import read_file
from services.errors import Forbidden, NotFound
from services.registries.service import log_case_view
from services.runtime import Runtime


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


def load_case(session: Session, *, case_id: int, user: User) -> Case:
    """The case, if this user may see it: its applicant, a clerk of one of its departments, an admin."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("办件不存在", "No such case")
    if user.role == "admin":
        return case
    if user.role == "citizen" and case.applicant_user_id == user.id:
        return case
    if user.role == "clerk":
        mine = session.exec(
            select(CaseItem.id).where(
                CaseItem.case_id == case.id, CaseItem.department == user.department
            )
        ).first()
        if mine is not None:
            return case
    raise NotFound("办件不存在", "No such case")


def load_case_item(session: Session, *, item_id: int, user: User) -> CaseItem:
    """An item of the clerk's own department; other departments' items do not exist for them."""
    department = require_department(user)
    row = session.get(CaseItem, item_id)
    if row is None or row.department != department:
        raise NotFound("待办事项不存在", "No such task in your department")
    return row


def log_view(session: Session, user: User, case: Case, purpose: str) -> None:
    """Someone other than the applicant opened the case's personal data: logged, committed."""
    log_case_view(
        session,
        actor_user_id=user.id,
        subject_id_number=case.applicant_id_number,
        case_id=case.id,
        case_number=case.number or "",
        purpose=purpose,
    )
    session.commit()


def review_case_item(session: Session, *, item_id: int, user: User) -> tuple[CaseItem, Case]:
    """A clerk opens an item of their department with the full application: logged for the
    applicant's "who looked at my data" page."""
    row = load_case_item(session, item_id=item_id, user=user)
    case = session.get(Case, row.case_id)
    log_view(session, user, case, f"{user.display_name}审核办件（{row.item_code}）")
    return row, case


def open_upload(
    session: Session, rt: Runtime, *, user: User, upload_id: int
) -> tuple[Upload, bytes]:
    """An uploaded material, for those who may see its case; a clerk's viewing is logged."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFound("材料不存在", "No such material")
    case = load_case(session, case_id=upload.case_id, user=user)
    content = read_file(rt, upload)
    if user.id != case.applicant_user_id:
        log_view(session, user, case, f"{user.display_name}查看申请材料（{upload.material_code}）")
    return upload, content
