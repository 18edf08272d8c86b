"""The record of each migration of running cases to another process version (services/migration.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class MigrationRun(SQLModel, table=True):
    """One applied migration: who moved which cases of a matter from and to which version,
    why, and what happened to each case (`outcomes`: case id, number, outcome, reason)."""

    __tablename__ = "migration_run"
    id: int | None = Field(default=None, primary_key=True)
    matter: str = Field(max_length=64, index=True)
    from_version: int | None = None  # None: cases of any other version
    to_version: int
    operator_user_id: int = Field(foreign_key="user_account.id")
    reason: str = Field(max_length=500)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    chosen: int = 0
    migrated: int = 0
    unmappable: int = 0
    changed: int = 0
    skipped: int = 0
    outcomes: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
