"""The shared-data access log: every registry read, with who, whose data, why and for which case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class DataAccess(SQLModel, table=True):
    __tablename__ = "data_access"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_user_id: int | None = Field(default=None, index=True)
    subject_id_number: str = Field(max_length=18, index=True)
    source_registry: str = Field(max_length=32)
    record_id: str = Field(max_length=64)
    case_id: int | None = Field(default=None, index=True)
    case_number: str | None = Field(default=None, max_length=32)  # what people read
    purpose: str = Field(max_length=200)
    # The prefill (PrefillSnapshot) this read belongs to: a submission stamps its case on them.
    lookup_id: int | None = Field(default=None, index=True)


class Consent(SQLModel, table=True):
    """An applicant's authorization to look up their records for one matter (EU once-only model:
    evidence is fetched only at the user's explicit request)."""

    __tablename__ = "consent"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    matter: str = Field(max_length=64)
    registries: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    granted_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    withdrawn_at: datetime | None = None


class PrefillSnapshot(SQLModel, table=True):
    """What one prefill read from the registries for one application, kept on the server for
    a while: the form shown again (a refresh, a validation error) and its submission use it
    instead of reading the registries again. Deleted when the application is submitted; never
    sent to the browser."""

    __tablename__ = "prefill_snapshot"
    id: int | None = Field(default=None, primary_key=True)
    applicant_user_id: int = Field(foreign_key="user_account.id", index=True)
    actor_user_id: int = Field(foreign_key="user_account.id")  # the applicant, or a front desk
    matter: str = Field(max_length=64)
    # fact key -> {"value", "registry", "record_id", "retrieved_at"}
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # registry code -> [message, message_en]: registries that could not answer
    unavailable: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
