"""Issue, look up, verify and revoke certificates.

A certificate's signature covers `signed_payload(sha256, number, public_id)`: the SHA-256 of
the PDF as issued, the result number and the public id in its verification URL. Whoever holds
the PDF can check it against the stored hash; the signature shows the hash is ours.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.catalog import Item
from forms.values import mask_id
from services.cases.models import Case, CaseItem
from services.cases.result_data import result_rows
from services.certificates import signing
from services.certificates.keys import KeyRing
from services.certificates.models import Certificate
from services.certificates.pdf import china_time, claimed_numbers, render_certificate
from services.errors import Conflict, NotFound

SIGNATURE_CONTEXT = "onething-certificate-v1"


def signed_payload(*, sha256: str, number: str, public_id: str) -> bytes:
    """What a certificate's signature signs: UTF-8 of the context, the PDF's lowercase hex
    SHA-256, the result number and the public id, joined by line feeds (none ends in one)."""
    return "\n".join((SIGNATURE_CONTEXT, sha256, number, public_id)).encode("utf-8")


def verification_url(base_url: str, public_id: str) -> str:
    """The public page that verifies the certificate `public_id`; printed as the QR code."""
    return f"{base_url.rstrip('/')}/verify/{public_id}"


def mask_name(name: str) -> str:
    """A holder's name for a public page: 张* / 张*明 / 欧**明."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return f"{name[0]}*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass(frozen=True)
class DocumentHolder:
    """Whom a document is about, as printed: the item's holder (services: the catalog's
    `holder`) with the number that identifies them and where it came from."""

    label: str
    name: str
    id_label: str
    id_number: str
    id_key: str  # the fact or result key the number was read from ("" if none had a value)


def document_holder(
    session: Session, *, case: Case, case_item: CaseItem, item: Item
) -> DocumentHolder:
    """The holder of `item`'s document: its catalog `holder` read from the application's facts
    and the result data recorded in the case (this item's first, then the other approved
    items', so the newborn's citizen ID the police assigned names the child on every later
    document); the first of the holder's ids with a value is printed."""
    values: dict[str, object] = {
        "applicant_name": case.applicant_name,
        "applicant_id_number": case.applicant_id_number,
        **case.data,
    }
    recorded = session.exec(
        select(CaseItem.result_data)
        .where(CaseItem.case_id == case.id, CaseItem.status == "approved")
        .where(CaseItem.id != case_item.id)
        .order_by(col(CaseItem.id))
    ).all()
    for data in [*recorded, case_item.result_data]:
        values.update({k: v for k, v in (data or {}).items() if v})
    spec = item.holder
    for entry in spec.ids:
        if values.get(entry.key):
            number, label, key = str(values[entry.key]), entry.label, entry.key
            break
    else:
        number, label, key = "", spec.ids[0].label, ""
    return DocumentHolder(
        label=spec.label,
        name=str(values.get(spec.name) or ""),
        id_label=label,
        id_number=number,
        id_key=key,
    )


def issue_certificate(
    session: Session,
    *,
    case: Case,
    case_item: CaseItem,
    item: Item,
    department_name: str,
    key: Ed25519PrivateKey,
    base_url: str,
    issued_at: datetime | None = None,
) -> Certificate:
    """Render, hash and sign the certificate of an approved item and add it to `session`
    (flushed, not committed). An item has at most one certificate."""
    if case_item.case_id != case.id or case_item.item_code != item.code:
        raise ValueError(f"case item {case_item.id} is not item {item.code} of case {case.id}")
    if case_item.status != "approved" or not case_item.result_number:
        raise Conflict(
            "该事项尚未准予办理，不能出具电子证照",
            "This item has not been approved, so no certificate can be issued",
        )
    existing = session.exec(
        select(Certificate.id).where(Certificate.case_item_id == case_item.id)
    ).first()
    if existing is not None:
        raise Conflict("该事项已出具电子证照", "This item already has a certificate")

    issued_at = issued_at or utcnow()
    public_id = secrets.token_urlsafe(16)
    decision = f"准予办理。{case_item.comment or ''}"
    holder = document_holder(session, case=case, case_item=case_item, item=item)
    rows = result_rows(item, case_item.result_data, leave_out=(holder.id_key,))
    pdf = render_certificate(
        document_title=item.document or item.name,
        item_name=item.name,
        number=case_item.result_number,
        case_number=case.number or "",
        holder_label=holder.label,
        holder_name=holder.name,
        holder_id_label=holder.id_label,
        holder_id_number=holder.id_number,
        result_rows=[(row.label, row.value) for row in rows],
        decision=decision,
        department_name=department_name,
        issued_at=issued_at,
        legal_basis=item.legal_basis,
        verification_url=verification_url(base_url, public_id),
    )
    digest = hashlib.sha256(pdf).hexdigest()
    payload = signed_payload(sha256=digest, number=case_item.result_number, public_id=public_id)
    certificate = Certificate(
        public_id=public_id,
        case_id=case.id,
        case_item_id=case_item.id,
        number=case_item.result_number,
        item_code=item.code,
        item_name=item.name,
        holder_name=holder.name[:200],
        holder_id_number=holder.id_number[:40],
        issuer=case_item.department,
        issuer_name=department_name,
        issued_at=issued_at,
        sha256=digest,
        signature=signing.sign(key, payload),
        key_id=signing.key_id(key.public_key()),
        pdf=pdf,
    )
    session.add(certificate)
    session.flush()
    return certificate


def get_certificate(session: Session, *, public_id: str) -> Certificate:
    """The certificate with `public_id`; NotFound if there is none."""
    certificate = None
    if len(public_id) <= 32:
        certificate = session.exec(
            select(Certificate).where(Certificate.public_id == public_id)
        ).first()
    if certificate is None:
        raise NotFound("未找到该电子证照", "No such certificate")
    return certificate


def certificates_of(session: Session, *, case_id: int) -> list[Certificate]:
    """The certificates issued for a case, in the order issued."""
    statement = select(Certificate).where(Certificate.case_id == case_id).order_by(Certificate.id)
    return list(session.exec(statement).all())


def revoke_certificate(session: Session, *, public_id: str) -> Certificate:
    """Mark a certificate revoked (in the caller's transaction); verification will say so."""
    certificate = get_certificate(session, public_id=public_id)
    certificate.revoked = True
    session.add(certificate)
    return certificate


@dataclass(frozen=True)
class Verification:
    """What verifying a certificate found, and the facts a public page may show."""

    public_id: str
    genuine: bool  # our signature holds over the stored hash, and the stored PDF has that hash
    unaltered: bool | None  # the presented PDF is the one signed; None when none was presented
    revoked: bool
    number: str
    item_code: str
    item_name: str
    holder_name: str  # masked
    holder_id_number: str  # masked
    issuer: str
    issuer_name: str
    issued_on: date  # China time
    key_id: str
    # The retention purge removed the stored PDF and the holder: the signature over the stored
    # hash still holds, so a presented copy is checked as before; the holder is not shown.
    purged: bool = False

    @property
    def valid(self) -> bool:
        """Genuine, in force, and (if a PDF was presented) that very PDF."""
        return self.genuine and not self.revoked and self.unaltered is not False


def verify_certificate(
    session: Session, *, public_id: str, pdf: bytes | None, keys: KeyRing
) -> Verification:
    """Check the certificate `public_id` (and the PDF presented, if any) against the key that
    signed it (by its key id, active or retired; a key we never had verifies nothing)."""
    certificate = get_certificate(session, public_id=public_id)
    payload = signed_payload(
        sha256=certificate.sha256, number=certificate.number, public_id=certificate.public_id
    )
    public_key = keys.public_key(session, certificate.key_id)
    signed = public_key is not None and signing.verify(public_key, payload, certificate.signature)
    purged = certificate.purged_at is not None
    stored_intact = purged or hashlib.sha256(certificate.pdf).hexdigest() == certificate.sha256
    unaltered = None
    if pdf is not None:
        unaltered = signed and hashlib.sha256(pdf).hexdigest() == certificate.sha256
    return Verification(
        public_id=certificate.public_id,
        genuine=signed and stored_intact,
        unaltered=unaltered,
        revoked=certificate.revoked,
        number=certificate.number,
        item_code=certificate.item_code,
        item_name=certificate.item_name,
        holder_name=mask_name(certificate.holder_name),
        holder_id_number=mask_id(certificate.holder_id_number),
        issuer=certificate.issuer,
        issuer_name=certificate.issuer_name,
        issued_on=china_time(certificate.issued_at).date(),
        key_id=certificate.key_id,
        purged=purged,
    )


@dataclass(frozen=True)
class FileCheck:
    """What a certificate file someone was given is: `genuine` (the very file we issued, our
    signature valid), `altered` (it names one of our certificates, but is not that file) or
    `unknown` (it names none); with the certificate it is or claims to be."""

    verdict: str
    verification: Verification | None


def check_certificate_file(
    session: Session, *, pdf: bytes, keys: KeyRing, public_id: str | None = None
) -> FileCheck:
    """Check a file against the certificate `public_id` (NotFound if there is none) or, without
    one, against the certificate it is (by its SHA-256) or says it is (the certificate number
    it carries): the verification page's file check and the API's."""
    if public_id is not None:
        certificate = get_certificate(session, public_id=public_id)
    else:
        certificate = _certificate_of_file(session, pdf)
    if certificate is None:
        return FileCheck("unknown", None)
    found = verify_certificate(session, public_id=certificate.public_id, pdf=pdf, keys=keys)
    return FileCheck("genuine" if found.unaltered else "altered", found)


def _certificate_of_file(session: Session, pdf: bytes) -> Certificate | None:
    """The certificate a file is, by its hash; else the one whose number it carries."""
    digest = hashlib.sha256(pdf).hexdigest()
    found = session.exec(select(Certificate).where(Certificate.sha256 == digest)).first()
    if found is not None:
        return found
    numbers = claimed_numbers(pdf)
    if not numbers:
        return None
    return session.exec(
        select(Certificate)
        .where(col(Certificate.number).in_(numbers))
        .order_by(col(Certificate.id))
    ).first()


_NOT_IN_FILE_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


@dataclass(frozen=True)
class FileName:
    """A download's name: `name` as the citizen reads it (Chinese), `ascii` for clients that
    read only a header's plain `filename=`."""

    name: str
    ascii: str


def certificate_file_name(certificate: Certificate, *, document: str = "") -> FileName:
    """A certificate's file name by the document it is (`document`, the catalog item's kind of
    document; else the item's name as printed) and its result number ("出生医学证明-YJS20261206
    000001-0001.pdf"), so that the results of one case, downloaded together, tell which is
    which; the ASCII name is the item's code and the number."""
    title = _NOT_IN_FILE_NAMES.sub("_", document or certificate.item_name).strip(" ._")
    number = _NOT_IN_FILE_NAMES.sub("_", certificate.number)
    ascii_number = number.encode("ascii", "replace").decode().replace("?", "_")
    return FileName(
        f"{title or '电子证照'}-{number}.pdf", f"{certificate.item_code}-{ascii_number}.pdf"
    )


def unique_file_names(
    certificates: list[Certificate], *, documents: Mapping[str, str] | None = None
) -> list[str]:
    """Each certificate's file name in an archive of several (`documents`: the kind of
    document by item code), with "(2)", "(3)"… added to a name already taken."""
    names: list[str] = []
    taken: set[str] = set()
    for certificate in certificates:
        document = (documents or {}).get(certificate.item_code, "")
        name = certificate_file_name(certificate, document=document).name
        stem, count = name.removesuffix(".pdf"), 1
        while name in taken:
            count += 1
            name = f"{stem}({count}).pdf"
        taken.add(name)
        names.append(name)
    return names
