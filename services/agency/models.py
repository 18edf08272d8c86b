"""Tables: Acting for someone else, 代办: authorizations (issue 22).

A principal (委托人) authorizes an agent (代办人) to apply for them, for some matters (or all),
until a date; recorded online by the principal or at the front desk with the principal's
written authorization scanned. The cases an agent filed under one are linked to it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class Authorization(SQLModel, table=True):
    """One authorization to act for a principal (委托代办)."""

    __tablename__ = "agency_authorization"
    id: int | None = Field(default=None, primary_key=True)
    principal_user_id: int = Field(foreign_key="user_account.id", index=True)
    principal_id_number: str = Field(max_length=18)
    principal_name: str = Field(max_length=64)
    agent_user_id: int = Field(foreign_key="user_account.id", index=True)
    agent_id_number: str = Field(max_length=18)
    agent_name: str = Field(max_length=64)
    # The matters covered (catalog codes); empty with `all_matters`: every matter
    matters: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    all_matters: bool = False
    valid_from: date
    valid_until: date  # the last day it covers (local date)
    recorded_via: str = Field(max_length=16)  # online | frontdesk
    # At the front desk: the clerk, and the scanned written authorization (in the file store)
    clerk_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    scan_stored_name: str | None = Field(default=None, max_length=64)
    scan_filename: str | None = Field(default=None, max_length=200)
    scan_content_type: str | None = Field(default=None, max_length=64)
    scan_sha256: str | None = Field(default=None, max_length=64)
    withdrawn_at: datetime | None = None
    withdrawn_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class AgentCase(SQLModel, table=True):
    """A case an agent filed for its applicant (the principal) under an authorization."""

    __tablename__ = "agency_case"
    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    authorization_id: int = Field(foreign_key="agency_authorization.id", index=True)
    agent_user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
