"""Results of a case: each approved item's signed electronic certificate, one archive of all of
them, and postal delivery when the applicant chose it."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.accounts.models import User
from services.cases import history
from services.cases.access import log_list_view
from services.cases.models import Case, CaseItem, Delivery
from services.certificates.models import Certificate
from services.certificates.service import issue_certificate, unique_file_names
from services.errors import Conflict, InvalidInput, NotFound
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.runtime import Runtime

DELIVERY_STATUS = {
    "preparing": ("待寄出", "Being prepared"),
    "shipped": ("已寄出", "Shipped"),
    "delivered": ("已签收", "Delivered"),
}


def certificate_for(session: Session, rt: Runtime, *, case: Case, item_id: int) -> Certificate:
    """The certificate of an approved item of `case`, issued (rendered, signed, stored) the
    first time it is asked for; its issue time is the time of the decision."""
    row = session.get(CaseItem, item_id)
    if row is None or row.case_id != case.id or row.status != "approved":
        raise NotFound("该事项尚无办理结果", "This item has no result yet")
    found = session.exec(select(Certificate).where(Certificate.case_item_id == row.id)).first()
    if found is not None:
        return found
    department = rt.catalog.departments[row.department]
    try:
        certificate = issue_certificate(
            session,
            case=case,
            case_item=row,
            item=rt.catalog.items[row.item_code],
            department_name=department.full_name,
            key=rt.keys.signing_key(session),
            base_url=rt.settings.public_base_url,
            issued_at=row.decided_at,
        )
        session.commit()
        return certificate
    except (IntegrityError, Conflict):  # issued meanwhile by a parallel request
        session.rollback()
        return session.exec(select(Certificate).where(Certificate.case_item_id == row.id)).one()


def documents_of(rt: Runtime, certificates: list[Certificate]) -> dict[str, str]:
    """The kind of document each certificate's item issues (出生医学证明, 营业执照…), by item
    code, as the catalog names it (an item the catalog no longer has, or that names none, is
    left out: its certificate is named by the item)."""
    found = {c.item_code: rt.catalog.items.get(c.item_code) for c in certificates}
    return {code: item.document for code, item in found.items() if item and item.document}


def _approved_items(session: Session, case: Case) -> list[int]:
    """The ids of the case's approved items, in order."""
    return list(
        session.exec(
            select(CaseItem.id)
            .where(CaseItem.case_id == case.id, CaseItem.status == "approved")
            .order_by(col(CaseItem.id))
        ).all()
    )


def certificates_of_case(
    session: Session, rt: Runtime, *, case: Case, approved: list[int] | None = None
) -> dict[int, Certificate]:
    """The certificate of each approved item of `case` (`approved`: their ids, if the caller
    has read them), by case item id: those not issued yet are issued now (as `certificate_for`
    does on a first download), so the applicant's view of the case names every result with its
    public id and verification address."""
    if approved is None:
        approved = _approved_items(session, case)
    if not approved:
        return {}
    issued = {
        certificate.case_item_id: certificate
        for certificate in session.exec(
            select(Certificate)
            .where(Certificate.case_id == case.id)
            .options(defer(Certificate.pdf))  # type: ignore[arg-type]  # not sent with a view
        ).all()
    }
    for item_id in approved:
        if item_id not in issued:
            issued[item_id] = certificate_for(session, rt, case=case, item_id=item_id)
    return {item_id: issued[item_id] for item_id in approved}


def results_archive(session: Session, rt: Runtime, *, case: Case) -> bytes:
    """A ZIP of every certificate of the case (issuing those not issued yet), each file named
    by its document and number as its own download is."""
    approved = _approved_items(session, case)
    if not approved:
        raise NotFound("该办件尚无办理结果", "This case has no results yet")
    certificates = [certificate_for(session, rt, case=case, item_id=i) for i in approved]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        names = unique_file_names(certificates, documents=documents_of(rt, certificates))
        for name, certificate in zip(names, certificates, strict=True):
            archive.writestr(name, certificate.pdf)  # (a non-ASCII name is stored as UTF-8)
    return buffer.getvalue()


def open_delivery(session: Session, *, case: Case) -> None:
    """When a case completes and its applicant chose post, the results wait to be shipped."""
    if case.data.get("delivery_method") != "post" or not case.data.get("delivery_address"):
        return
    if delivery_of(session, case=case) is not None:  # shipped before an operator re-opened it
        return
    session.add(Delivery(case_id=case.id, address=case.data["delivery_address"]))


def delivery_of(session: Session, *, case: Case) -> Delivery | None:
    return session.exec(select(Delivery).where(Delivery.case_id == case.id)).first()


def deliveries(session: Session, *, viewer: User, status: str, limit: int = 50, offset: int = 0):
    """Deliveries with their cases, for the service centre's window (paged in SQL); the
    addresses shown are logged as views of each case."""
    query = (
        select(Delivery, Case)
        .join(Case, col(Case.id) == Delivery.case_id)
        .where(Delivery.status == status)
        .order_by(col(Delivery.id))
        .offset(offset)
        .limit(limit)
    )
    rows = list(session.exec(query).all())
    log_list_view(
        session, viewer, [case for _delivery, case in rows], f"{viewer.display_name}寄递办理结果"
    )
    return rows


def update_delivery(
    session: Session, *, delivery_id: int, status: str, tracking_number: str = "", actor
) -> Delivery:
    """The centre ships (with a tracking number) or confirms delivery of a case's results."""
    if actor.role != "clerk" or actor.department != "center":
        raise NotFound("没有该寄递记录", "No such delivery")
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound("没有该寄递记录", "No such delivery")
    order = list(DELIVERY_STATUS)
    if status not in DELIVERY_STATUS or order.index(status) != order.index(delivery.status) + 1:
        raise Conflict("寄递状态只能依次更新", "Delivery status moves one step at a time")
    tracking_number = tracking_number.strip()
    if status == "shipped":
        if not tracking_number or len(tracking_number) > 40:
            raise InvalidInput("tracking_number", "请填写快递单号", "Enter the tracking number")
        delivery.tracking_number = tracking_number
    delivery.status = status
    delivery.updated_at = utcnow()
    session.add(delivery)
    label = DELIVERY_STATUS[status][0]
    note = f"，快递单号{delivery.tracking_number}" if status == "shipped" else ""
    history.record(
        session,
        case_id=delivery.case_id,
        user=actor,
        kind=f"delivery_{status}",
        message=f"办理结果{label}{note}",
    )
    on_case_event(
        session,
        case=session.get(Case, delivery.case_id),
        kind=f"delivery_{status}",
        message=f"办理结果{label}{note}",
        sender=default_sender(),
    )
    session.commit()
    return delivery
