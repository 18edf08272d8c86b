"""The front desk (综合窗口, 一窗受理): a clerk of the service centre opens a case for a walk-in
applicant, with the same prefill and checklist, scans the paper materials, and prints the
acceptance receipt (受理回执)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import segno
from sqlmodel import Session, col, select

from forms.values import InvalidValue, check_citizen_id
from services.accounts.models import User
from services.accounts.service import create_user
from services.cases.models import Case, CaseItem, Upload
from services.errors import Forbidden, InvalidInput, NotFound
from services.registries.service import lookup_for_matter
from services.runtime import Runtime

FRONT_DESK = "center"


def require_front_desk(user: User) -> None:
    if user.role != "clerk" or user.department != FRONT_DESK:
        raise Forbidden("只有政务服务中心综合窗口可以代为受理", "Only the front desk may do this")


def walk_in_applicant(session: Session, rt: Runtime, *, clerk: User, id_number: str) -> User:
    """The applicant's account, opened at the counter if they never signed in online; the ID is
    checked (GB 11643) and the person must be in the population registry (the read is logged)."""
    require_front_desk(clerk)
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
        purpose="综合窗口核验申请人身份",
    )
    name = lookup.facts.get("applicant_name")
    if name is None:
        session.commit()  # the access log stays
        raise InvalidInput(
            "id_number",
            "人口库中没有该公民身份号码，请核对证件",
            "No such person in the population registry: check the ID card",
        )
    user = create_user(
        session,
        username=number,
        display_name=str(name.value),
        role="citizen",
        password=secrets.token_urlsafe(24),  # set by the applicant later, online
        id_number=number,
    )
    session.commit()
    return user


@dataclass(frozen=True)
class Receipt:
    case: Case
    items: list[tuple[str, str, int]]  # (item, department, working days)
    received: list[str]
    exempt: list[str]
    qr_svg: str
    track_url: str


def acceptance_receipt(session: Session, rt: Runtime, *, clerk: User, case_id: int) -> Receipt:
    """What the front desk prints for the applicant: case number, QR code to follow it, items
    with their time limits, and the materials received or fetched."""
    require_front_desk(clerk)
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("办件不存在", "No such case")
    rows = session.exec(
        select(CaseItem).where(CaseItem.case_id == case.id).order_by(col(CaseItem.id))
    ).all()
    routed = list(dict.fromkeys(row.item_code for row in rows))  # the case's process routed these
    items = [
        (
            rt.catalog.items[code].name,
            rt.catalog.departments[rt.catalog.items[code].department].name,
            rt.catalog.items[code].time_limit_days,
        )
        for code in routed
    ]
    uploads = session.exec(select(Upload).where(Upload.case_id == case.id)).all()
    names = {entry["code"]: entry["name"] for entry in case.checklist}
    received = [f"{names.get(u.material_code, u.material_code)}（{u.filename}）" for u in uploads]
    exempt = [e["name"] for e in case.checklist if e["status"] == "exempt"]
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
