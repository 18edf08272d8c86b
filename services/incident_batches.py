"""The record of one action on a group of incidents (services/operations.py): which group, what
was done (retried or resolved, with the reason), by whom and when, and each case's outcome at
the time. An operator who closes the page comes back to it and sees where the handed-back items
stand now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class IncidentBatch(SQLModel, table=True):
    """One retry or resolve of a group of alike incidents. The group's key is kept (the group
    itself is gone once handled); `outcomes` holds one {case_id, item_id, outcome} per case."""

    __tablename__ = "incident_batch"
    id: int | None = Field(default=None, primary_key=True)
    group_id: str = Field(max_length=16, index=True)
    action: str = Field(max_length=8)  # retry | resolve
    kind: str = Field(max_length=20)
    step: str = Field(max_length=32)
    matter: str = Field(max_length=64)
    item: str = Field(default="", max_length=100)
    department: str = Field(default="", max_length=32)
    element: str = Field(default="", max_length=200)
    cause: str = Field(max_length=200)
    reason: str | None = Field(default=None, max_length=200)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow, index=True)
    outcomes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
