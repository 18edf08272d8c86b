"""The front desk (综合窗口, 一窗受理): a clerk of the service centre opens a case for a walk-in
applicant, with the same prefill and checklist, scans the paper materials, and prints the
acceptance receipt (受理回执).

The front desk sees a person's data only while that person is at the window: the clerk records
that they checked the identity document of the person present (and whether the person
authorized the registry lookups) before anything is read, and that visit is what opens the
person's form, for that clerk and that matter, for a limited time."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

import segno
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.compiler import CompiledForm, lookups_of
from forms.values import InvalidValue, check_citizen_id
from services.accounts.models import User
from services.accounts.service import create_user
from services.cases import results, submission
from services.cases.access import log_view
from services.cases.models import Case, CaseItem, Delivery, DraftUpload, Upload, WindowVisit
from services.cases.uploads import drafts_of
from services.configuration.matters import effective_matter
from services.errors import Forbidden, InvalidInput, NotFound
from services.registries.service import grant_consent, lookup_for_matter
from services.runtime import Runtime

FRONT_DESK = "center"
VISIT_HOURS = 2  # how long a recorded visit opens the person's form at the window


def require_front_desk(user: User) -> None:
    if user.role != "clerk" or user.department != FRONT_DESK:
        raise Forbidden("只有政务服务中心综合窗口可以代为受理", "Only the front desk may do this")


def open_visit(
    session: Session,
    rt: Runtime,
    *,
    clerk: User,
    id_number: str,
    matter: str,
    present: bool,
    consented: bool,
) -> tuple[User, WindowVisit]:
    """A walk-in applicant at the window, for `matter`: the clerk confirms that the person is
    present and their identity document checked (`present`), and whether they signed the
    authorization of the lookups (`consented`, recorded as their consent). Only then is the ID
    checked against the population registry (the read is logged) and the applicant's account
    opened if they never signed in online. Returns the applicant and the visit; commits."""
    require_front_desk(clerk)
    offered = effective_matter(session, rt, matter)  # NotFound for an unknown matter
    if not offered.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {matter!r}")
    if not present:
        raise InvalidInput(
            "present",
            "请先核验申请人本人到场并出示身份证件原件，再开始受理",
            "First confirm that the applicant is present and you checked their identity card",
        )
    applicant = _walk_in_applicant(session, rt, clerk=clerk, id_number=id_number)
    now = utcnow()
    visit = WindowVisit(
        clerk_user_id=clerk.id,
        applicant_user_id=applicant.id,
        matter=matter,
        consented=consented,
        created_at=now,
        expires_at=now + timedelta(hours=VISIT_HOURS),
    )
    session.add(visit)
    if consented:
        registries = list(lookups_of(rt.catalog, offered))
        grant_consent(session, user_id=applicant.id, matter=matter, registries=registries)
    session.commit()
    return applicant, visit


def current_visit(
    session: Session, *, clerk: User, applicant_id: int, matter: str
) -> tuple[User, WindowVisit]:
    """The applicant this clerk recorded at the window for `matter`, while the visit lasts;
    nobody else's data is opened from the front desk."""
    require_front_desk(clerk)
    visit = session.exec(
        select(WindowVisit)
        .where(
            WindowVisit.clerk_user_id == clerk.id,
            WindowVisit.applicant_user_id == applicant_id,
            WindowVisit.matter == matter,
            col(WindowVisit.expires_at) > utcnow(),
        )
        .order_by(col(WindowVisit.id).desc())
    ).first()
    applicant = session.get(User, applicant_id)
    if visit is None or applicant is None or applicant.role != "citizen":
        raise Forbidden(
            "请先在综合窗口登记申请人本人到场（核验身份证件）后再受理",
            "Record the applicant's presence at the window (identity checked) first",
            link="/frontdesk",
        )
    return applicant, visit


def _walk_in_applicant(session: Session, rt: Runtime, *, clerk: User, id_number: str) -> User:
    """The applicant's account, opened at the counter if they never signed in online; the ID is
    checked (GB 11643) and the person must be in the population registry (the read is logged)."""
    try:
        number = check_citizen_id(id_number or "")
    except InvalidValue as exc:
        raise InvalidInput("id_number", f"公民身份号码：{exc.message}", exc.message_en) from None
    user = session.exec(select(User).where(User.username == number)).first()
    if user is not None:
        if user.role != "citizen":
            raise InvalidInput("id_number", "该号码不是申请人账号", "Not a citizen's number")
        return user
    lookup = lookup_for_matter(
        session,
        registry=rt.registry,
        applicant_id_number=number,
        subjects=("applicant",),
        actor_user_id=clerk.id,
        purpose="综合窗口核验到场申请人身份",
    )
    name = lookup.facts.get("applicant_name")
    if name is None:
        session.commit()  # the access log stays
        raise InvalidInput(
            "id_number",
            "人口库中没有该公民身份号码，请核对证件",
            "No such person in the population registry: check the ID card",
        )
    return create_user(
        session,
        username=number,
        display_name=str(name.value),
        role="citizen",
        password=secrets.token_urlsafe(24),  # set by the applicant later, online
        id_number=number,
    )


@dataclass(frozen=True)
class WalkInForm:
    """The walk-in applicant's form at the window: the same prefill and checklist as online
    (if they authorized the lookups), and the files kept for this clerk's acceptance."""

    applicant: User
    visit: WindowVisit
    form: CompiledForm
    drafts: dict[str, DraftUpload]  # material code -> the file kept


def walk_in_form(
    session: Session,
    rt: Runtime,
    *,
    clerk: User,
    applicant_id: int,
    matter: str,
    answers: dict[str, Any] | None = None,
) -> WalkInForm:
    """The form of the applicant this clerk recorded at the window for `matter` (for the
    answers so far, if any): while the visit lasts, and for nobody else."""
    applicant, visit = current_visit(session, clerk=clerk, applicant_id=applicant_id, matter=matter)
    form = submission.prepare_form(
        session,
        rt,
        user=applicant,
        matter_code=matter,
        answers=answers,
        consented=visit.consented,
        actor=clerk,
    )
    drafts = drafts_of(session, owner=clerk, applicant=applicant, matter=matter)
    return WalkInForm(applicant=applicant, visit=visit, form=form, drafts=drafts)


class ReceiptItem(NamedTuple):
    name: str
    department: str
    days: int  # the statutory time limit in working days
    code: str = ""  # the item's catalog code (its English name is the catalog's)


class ReceivedMaterial(NamedTuple):
    code: str
    name: str
    filename: str


@dataclass(frozen=True)
class Receipt:
    case: Case
    items: list[ReceiptItem]  # the items the case's process routed
    received: list[ReceivedMaterial]  # the files accepted (scanned or uploaded)
    exempt: list[str]  # the materials fetched from registries instead
    qr_svg: str
    track_url: str


def acceptance_receipt(session: Session, rt: Runtime, *, clerk: User, case_id: int) -> Receipt:
    """What the front desk prints for the applicant: case number, QR code to follow it, items
    with their time limits, and the materials received or fetched."""
    require_front_desk(clerk)
    case = session.get(Case, case_id)
    if case is None or case.channel != "window":  # only what was accepted at a window
        raise NotFound("办件不存在", "No such case")
    rows = session.exec(
        select(CaseItem).where(CaseItem.case_id == case.id).order_by(col(CaseItem.id))
    ).all()
    routed = list(dict.fromkeys(row.item_code for row in rows))  # the case's process routed these
    items = [
        ReceiptItem(
            rt.catalog.items[code].name,
            rt.catalog.departments[rt.catalog.items[code].department].name,
            rt.catalog.items[code].time_limit_days,
            code,
        )
        for code in routed
    ]
    uploads = session.exec(
        select(Upload).where(Upload.case_id == case.id).order_by(col(Upload.id))
    ).all()
    names = {entry["code"]: entry["name"] for entry in case.checklist}
    received = [
        ReceivedMaterial(u.material_code, names.get(u.material_code, u.material_code), u.filename)
        for u in uploads
    ]
    exempt = [e["name"] for e in case.checklist if e["status"] == "exempt"]
    log_view(session, clerk, case, f"{clerk.display_name}打印受理回执")
    track_url = f"{rt.settings.public_base_url.rstrip('/')}/cases/{case.id}"
    qr = segno.make(track_url, error="m")
    return Receipt(
        case=case,
        items=items,
        received=received,
        exempt=exempt,
        qr_svg=qr.svg_inline(scale=3, title=case.number or ""),
        track_url=track_url,
    )


def deliveries_to_post(
    session: Session, *, clerk: User, status: str, limit: int = 50, offset: int = 0
) -> list[tuple[Delivery, Case]]:
    """The results the service centre posts (统一寄递), by delivery status, oldest first: for
    the centre's clerks only (for anyone else there are none to see). The addresses shown are
    logged as views of each case."""
    if clerk.role != "clerk" or clerk.department != FRONT_DESK:
        raise NotFound("只有政务服务中心负责统一寄递", "Only the service centre posts results")
    if status not in results.DELIVERY_STATUS:
        raise InvalidInput("status", "未知的寄递状态", "Unknown delivery status")
    return results.deliveries(
        session,
        viewer=clerk,
        status=status,
        limit=min(max(limit, 1), 200),
        offset=max(offset, 0),
    )
