"""The certificate table (each approved item's signed PDF, found by an unguessable public id)
and the keys that sign certificates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class Certificate(SQLModel, table=True):
    """An electronic certificate (电子证照): the PDF as issued, its hash and Ed25519 signature.

    `signature` signs `service.signed_payload(sha256, number, public_id)`; the item and issuer
    names are kept as printed, so verification shows what the holder's copy says.
    """

    __tablename__ = "certificate"
    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(max_length=32, unique=True)  # in the verification URL
    case_id: int = Field(foreign_key="case_file.id", index=True)
    case_item_id: int = Field(foreign_key="case_item.id", unique=True)
    number: str = Field(max_length=40)  # the item's result number
    item_code: str = Field(max_length=100)
    item_name: str = Field(max_length=200)
    # whom the document is about (the item's holder: the applicant, the child, the deceased,
    # the enterprise) and the number printed for them (citizen ID, credit code, certificate no.)
    holder_name: str = Field(max_length=200)
    holder_id_number: str = Field(max_length=40)
    issuer: str = Field(max_length=32)  # department code
    issuer_name: str = Field(max_length=200)
    issued_at: datetime = Field(default_factory=utcnow)
    sha256: str = Field(max_length=64)  # lowercase hex of `pdf`
    signature: str = Field(max_length=100)  # base64 Ed25519
    key_id: str = Field(max_length=16)
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    revoked: bool = False
    # The retention purge removed the PDF and the holder (hash, number and signature stay, so
    # the holder's own copy still verifies); verification says so instead of "altered".
    purged_at: datetime | None = None


class SigningKey(SQLModel, table=True):
    """A certificate signing key (services/certificates/keys.py). The active key (not retired)
    signs; a retired key keeps only its public half, which verifies what it signed."""

    __tablename__ = "signing_key"
    key_id: str = Field(primary_key=True, max_length=16)  # signing.key_id of the public key
    public_key: str = Field(max_length=44)  # base64 of the 32 raw bytes
    # PKCS#8 PEM, encrypted with ONETHING_CERTIFICATE_KEY_PASSPHRASE if set; erased on retiring
    private_key: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    retired_at: datetime | None = None
