"""Electronic certificates: issued as signed PDFs, verified by public id, hash and signature."""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import services.certificates.models  # noqa: F401 - registers the certificate table
from forms.catalog import Item, default_catalog
from services.accounts.models import User
from services.cases.models import Case, CaseItem
from services.certificates import signing
from services.certificates.keys import KeyRing, prepare_keys
from services.certificates.models import Certificate
from services.certificates.pdf import render_certificate
from services.certificates.service import (
    certificates_of,
    issue_certificate,
    revoke_certificate,
    signed_payload,
    verification_url,
    verify_certificate,
)
from services.db import make_engine
from services.errors import Conflict, NotFound

BASE_URL = "https://onething.example.gov.cn/"
ISSUED_AT = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # already 24 November in China
ITEM_CODE = "hrss_employment_registration"  # held by the applicant


@dataclass
class Fixture:
    db: Engine
    keys: KeyRing
    key: Ed25519PrivateKey
    item: Item
    department_name: str
    case_id: int
    case_item_id: int


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[Fixture]:
    """A fresh schema with one case whose bank-account item is approved, and a signing key."""
    db = make_engine(database_url)
    SQLModel.metadata.create_all(db)
    catalog = default_catalog()
    item = catalog.items[ITEM_CODE]
    with Session(db) as session:
        user = User(
            username="110101199003071234", display_name="张明", role="citizen", password_hash="x"
        )
        session.add(user)
        session.flush()
        case = Case(
            number="YJS20261123000001",
            matter="employment",
            applicant_user_id=user.id,
            applicant_id_number="110101199003071234",
            applicant_name="张明",
        )
        session.add(case)
        session.flush()
        row = CaseItem(
            case_id=case.id,
            item_code=ITEM_CODE,
            department=item.department,
            status="approved",
            comment="材料齐全，符合法定形式。",
            due_date=date(2026, 11, 30),
            decided_at=ISSUED_AT,
        )
        session.add(row)
        session.flush()
        row.result_number = f"{case.number}-{row.id:04d}"
        session.commit()
        ids = case.id, row.id
    keys = KeyRing()
    prepare_keys(db, keys, key_file=tmp_path / "no-key-file.pem")
    with Session(db) as session:
        key = keys.signing_key(session)
    yield Fixture(db, keys, key, item, catalog.departments[item.department].full_name, *ids)
    db.dispose()


def _issue(world: Fixture) -> Certificate:
    with Session(world.db) as session:
        certificate = issue_certificate(
            session,
            case=session.get(Case, world.case_id),
            case_item=session.get(CaseItem, world.case_item_id),
            item=world.item,
            department_name=world.department_name,
            key=world.key,
            base_url=BASE_URL,
            issued_at=ISSUED_AT,
        )
        session.commit()
        session.refresh(certificate)
        session.expunge(certificate)
        return certificate


def _verify(world: Fixture, public_id: str, pdf: bytes | None = None):
    with Session(world.db) as session:
        return verify_certificate(session, public_id=public_id, pdf=pdf, keys=world.keys)


def _render(url: str = "https://onething.example.gov.cn/verify/abc") -> bytes:
    return render_certificate(
        document_title="",
        item_name="银行基本存款账户开立（预约开户）",
        number="YJS20261123000001-0007",
        case_number="YJS20261123000001",
        holder_label="持证人",
        holder_name="张明",
        holder_id_label="公民身份号码",
        holder_id_number="110101199003071234",
        result_rows=[],
        decision="准予办理。",
        department_name="开户银行（商业银行网点）",
        issued_at=ISSUED_AT,
        legal_basis="《人民币银行结算账户管理办法》",
        verification_url=url,
    )


def _streams(pdf: bytes) -> list[bytes]:
    """The decoded content of every text stream (reportlab writes ASCII85 over Flate; the
    embedded font file is Flate alone)."""
    decoded = []
    text_stream = rb"/ASCII85Decode /FlateDecode \].*?\bstream\r?\n(.*?)endstream"
    for match in re.finditer(text_stream, pdf, re.S):
        data = re.sub(rb"\s", b"", match.group(1)).removesuffix(b"~>")
        decoded.append(zlib.decompress(base64.a85decode(data)))
    return decoded


def _qr_matrix_in(pdf: bytes) -> list[list[bool]]:
    """The module matrix drawn in the PDF's QR form: one `x y w 1 re` per run of dark modules."""
    for content in _streams(pdf):
        runs = [tuple(map(int, m)) for m in re.findall(rb"(\d+) (\d+) (\d+) 1 re", content)]
        if len(runs) < 50:
            continue
        size = max(x + w for x, _, w in runs)
        matrix = [[False] * size for _ in range(size)]
        for x, y, w in runs:
            for column in range(x, x + w):
                matrix[size - 1 - y][column] = True
        return matrix
    raise AssertionError("no QR code drawn in the PDF")


def test_issued_certificate_verifies_with_its_pdf(world):
    certificate = _issue(world)
    verification = _verify(world, certificate.public_id, certificate.pdf)
    assert verification.genuine and verification.unaltered and not verification.revoked
    assert verification.valid
    assert verification.number == f"YJS20261123000001-{world.case_item_id:04d}"
    assert verification.item_name == world.item.name
    assert verification.holder_name == "张*"
    assert verification.holder_id_number == "110101********1234"
    assert verification.issuer == world.item.department
    assert verification.issued_on == date(2026, 11, 24)
    assert verification.key_id == signing.key_id(world.key.public_key())


def test_verification_without_a_pdf_leaves_unaltered_open(world):
    certificate = _issue(world)
    verification = _verify(world, certificate.public_id)
    assert verification.genuine and verification.unaltered is None and verification.valid


def test_certificate_signature_covers_hash_number_and_public_id(world):
    certificate = _issue(world)
    payload = (
        f"onething-certificate-v1\n{certificate.sha256}\n{certificate.number}\n"
        f"{certificate.public_id}"
    ).encode()
    assert payload == signed_payload(
        sha256=certificate.sha256, number=certificate.number, public_id=certificate.public_id
    )
    assert signing.verify(world.key.public_key(), payload, certificate.signature)


def test_certificates_of_lists_the_cases_certificates(world):
    certificate = _issue(world)
    with Session(world.db) as session:
        found = certificates_of(session, case_id=world.case_id)
        assert [c.public_id for c in found] == [certificate.public_id]
        assert certificates_of(session, case_id=world.case_id + 1) == []


def test_an_item_gets_only_one_certificate(world):
    _issue(world)
    with pytest.raises(Conflict):
        _issue(world)


def test_an_unapproved_item_gets_no_certificate(world):
    with Session(world.db) as session:
        row = session.get(CaseItem, world.case_item_id)
        row.status = "processing"
        session.add(row)
        session.commit()
    with pytest.raises(Conflict):
        _issue(world)


def test_certificate_pdf_is_one_deterministic_a4_page_with_its_numbers():
    pdf = _render()
    assert pdf.startswith(b"%PDF-")
    assert pdf == _render()
    assert len(re.findall(rb"/Type /Page[^s]", pdf)) == 1
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf
    text = b"".join(_streams(pdf))
    assert b"(YJS20261123000001) Tj" in text
    assert b"(YJS20261123000001-0007) Tj" in text
    assert b"(110101********1234) Tj" in text
    assert b"199003071234" not in pdf
    assert b"D:20261124013000+08'00'" in pdf


def test_certificate_qr_code_encodes_the_verification_url():
    url = "https://onething.example.gov.cn/verify/AbCdEfGhIjKlMnOpQrStUv"
    drawn = _qr_matrix_in(_render(url))
    expected = [[bool(m) for m in row] for row in segno.make_qr(url, error="m").matrix]
    assert drawn == expected
    other = [[bool(m) for m in row] for row in segno.make_qr(url + "x", error="m").matrix]
    assert drawn != other


def test_issued_certificate_prints_its_own_verification_url(world):
    certificate = _issue(world)
    url = verification_url(BASE_URL, certificate.public_id)
    assert url == f"https://onething.example.gov.cn/verify/{certificate.public_id}"
    expected = [[bool(m) for m in row] for row in segno.make_qr(url, error="m").matrix]
    assert _qr_matrix_in(certificate.pdf) == expected


def test_tampered_pdf_is_not_unaltered(world):
    certificate = _issue(world)
    tampered = bytearray(certificate.pdf)
    tampered[len(tampered) // 2] ^= 0x01
    verification = _verify(world, certificate.public_id, bytes(tampered))
    assert verification.genuine and verification.unaltered is False
    assert not verification.valid


def test_signature_by_another_key_is_not_genuine(world):
    certificate = _issue(world)
    forger = Ed25519PrivateKey.generate()
    payload = signed_payload(
        sha256=certificate.sha256, number=certificate.number, public_id=certificate.public_id
    )
    with Session(world.db) as session:
        row = session.get(Certificate, certificate.id)
        row.signature = signing.sign(forger, payload)
        session.add(row)
        session.commit()
    verification = _verify(world, certificate.public_id, certificate.pdf)
    assert not verification.genuine and verification.unaltered is False
    assert not verification.valid


def test_replaced_stored_pdf_is_not_genuine(world):
    certificate = _issue(world)
    with Session(world.db) as session:
        row = session.get(Certificate, certificate.id)
        row.pdf = _render()
        session.add(row)
        session.commit()
    assert not _verify(world, certificate.public_id).genuine


def test_revoked_certificate_reports_revoked(world):
    certificate = _issue(world)
    with Session(world.db) as session:
        revoke_certificate(session, public_id=certificate.public_id)
        session.commit()
    verification = _verify(world, certificate.public_id, certificate.pdf)
    assert verification.revoked and verification.genuine and verification.unaltered
    assert not verification.valid


@pytest.mark.parametrize("public_id", ["no-such-certificate", "x" * 200, ""])
def test_unknown_public_id_is_not_found(world, public_id):
    _issue(world)
    with pytest.raises(NotFound):
        _verify(world, public_id)


def test_a_file_with_another_kind_of_key_is_refused(tmp_path):
    path = tmp_path / "other.pem"
    other = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError):
        signing.load_key_file(path)


def test_malformed_signature_does_not_verify():
    key = Ed25519PrivateKey.generate()
    assert not signing.verify(key.public_key(), b"payload", "not base64!")
    assert not signing.verify(key.public_key(), b"payload", base64.b64encode(b"short").decode())
