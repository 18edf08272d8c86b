"""The certificate table: each approved item's signed PDF, found by an unguessable public id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
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
    holder_name: str = Field(max_length=64)
    holder_id_number: str = Field(max_length=18)
    issuer: str = Field(max_length=32)  # department code
    issuer_name: str = Field(max_length=200)
    issued_at: datetime = Field(default_factory=utcnow)
    sha256: str = Field(max_length=64)  # lowercase hex of `pdf`
    signature: str = Field(max_length=100)  # base64 Ed25519
    key_id: str = Field(max_length=16)
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    revoked: bool = False
