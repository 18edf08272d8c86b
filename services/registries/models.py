"""The shared-data access log: every registry read, with who, whose data, why and for which case."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from engine.store import utcnow


class DataAccess(SQLModel, table=True):
    __tablename__ = "data_access"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_user_id: int | None = Field(default=None, index=True)
    subject_id_number: str = Field(max_length=18, index=True)
    source_registry: str = Field(max_length=32)
    record_id: str = Field(max_length=64)
    case_id: int | None = Field(default=None, index=True)
    purpose: str = Field(max_length=200)
