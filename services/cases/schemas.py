"""API shapes for cases and tasks (separate from the table models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field


class LoginRequest(BaseModel):
    username: str = Field(description="Citizen ID number for citizens, login name for staff")
    password: str


class LoginResult(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'")
    role: str
    department: str | None
    display_name: str


class CaseCreate(BaseModel):
    matter: str = Field(examples=["newborn"])
    answers: dict[str, Any] = Field(
        default_factory=dict, description="Facts the registries do not hold, by dictionary key"
    )
    consent: bool = Field(
        default=False,
        description="The applicant authorizes the matter's registry lookups; without it every "
        "fact must be in `answers` (and materials are uploaded through the pages)",
    )


class ItemStatus(BaseModel):
    id: int | None
    item: str
    name: str
    department: str
    status: str
    status_label: str
    due_date: date | None
    decided_at: datetime | None
    comment: str | None
    result_number: str | None
    auto: bool = Field(default=False, description="Decided by an automatic check (秒批)")
    finding: str | None = Field(default=None, description="The automatic check's finding")
    incident: str | None = Field(default=None, description="A department system's last failure")


class CasePublic(BaseModel):
    id: int
    number: str | None
    matter: str
    status: str
    outcome: str | None
    created_at: datetime
    completed_at: datetime | None
    items: list[ItemStatus] = []


class TaskPublic(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    matter: str
    item: str
    name: str
    applicant: str = Field(description="Masked citizen ID of the applicant")
    due_date: date
    created_at: datetime


class Decision(BaseModel):
    decision: str = Field(pattern="^(approved|rejected)$")
    comment: str = Field(default="", max_length=500)


class FetchAndLock(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64, description="Names the worker process")
    max_tasks: int = Field(default=10, ge=1, le=100)
    lock_seconds: int = Field(default=300, ge=1, le=3600)


class ExternalTask(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    matter: str
    item: str
    name: str
    due_date: date
    lock_expires_at: datetime | None
    retries: int | None
    facts: dict[str, Any] = Field(description="The application's facts this item needs")
    provenance: dict[str, Any] = Field(description="Registry and record of each verified fact")
    uploads: list[dict[str, Any]]
    finding: str | None


class ExternalComplete(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64)
    decision: str = Field(pattern="^(approved|rejected)$")
    comment: str = Field(default="", max_length=500)
    result: dict[str, Any] = Field(default_factory=dict, description="Result data to keep")


class ExternalFailure(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64)
    error_message: str = Field(max_length=500)
    retries: int = Field(ge=0, le=100, description="Retries left; 0 raises an incident")
    retry_seconds: int = Field(default=60, ge=0, le=3600)
