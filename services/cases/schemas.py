"""API shapes for cases and tasks (separate from the table models)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

# The largest id a row can have (PostgreSQL's INTEGER, the type of the id columns). Ids, offsets
# and pages in requests are bounded by it: a larger number is invalid input (422), not a crash
# of the database driver (SQLite takes 64 bits, PostgreSQL's INTEGER 32).
ID_MAX = 2**31 - 1
# Text stored in or compared with a text column: PostgreSQL's text cannot hold NUL characters,
# so a NUL is invalid input (422), not a crash of the database driver.
NO_NUL = r"^[^\x00]*$"


class FieldMessage(BaseModel):
    zh: str
    en: str


class ErrorPublic(BaseModel):
    """The body of every error answer: RFC 9457 problem details (`application/problem+json`),
    with the message in Chinese and English and a stable code."""

    type: str = Field(
        description="A URN naming the problem type: urn:onething:problem:<code>",
        examples=["urn:onething:problem:not_found"],
    )
    title: str = Field(description="The problem type, in Chinese")
    title_en: str = Field(description="The problem type, in English")
    status: int = Field(description="The HTTP status")
    code: str = Field(
        description="Stable, machine-readable: not_found, forbidden, not_signed_in, conflict, "
        "duplicate_application, invalid_input, too_many_requests, payload_too_large, "
        "unsupported_media_type, process_failed, registry_unavailable, idempotency_key_reused, "
        "idempotency_key_in_use, method_not_allowed, bad_request, server_error, refused"
    )
    detail: str = Field(description="What went wrong, in Chinese")
    detail_en: str = Field(description="What went wrong, in English")
    link: str | None = Field(
        default=None,
        description="Where the person can see what the error is about, e.g. the case that an "
        "application repeats",
    )
    reference: str | None = Field(
        default=None, description="A 500's reference, for the operators' log"
    )


class InvalidInputPublic(ErrorPublic):
    """A 422 (code invalid_input): input refused by the service, or a request that does not
    match this document; `fields` says what is wrong with each field, never its value."""

    fields: dict[str, FieldMessage] = Field(
        description="A message per field (or fact, or material_<code>), in both languages"
    )


# The error answers of every API operation, documented once per router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "Refused"},
    401: {"model": ErrorPublic, "description": "Not signed in"},
    403: {"model": ErrorPublic, "description": "Not allowed for this account"},
    404: {"model": ErrorPublic, "description": "Not found"},
    409: {
        "model": ErrorPublic,
        "description": "Conflicts with the current state (e.g. an application for a subject "
        "with an open or granted case: `link` names it; a retry while the first request with "
        "its Idempotency-Key is being answered)",
    },
    422: {"model": InvalidInputPublic, "description": "Invalid input"},
    503: {
        "model": ErrorPublic,
        "description": "The case's process failed at one of its elements: nothing was kept, an "
        "incident was recorded for the administrators; try again later",
    },
}


class LoginRequest(BaseModel):
    username: str = Field(description="Citizen ID number for citizens, login name for staff")
    password: str


class LoginResult(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'")
    role: str
    department: str | None
    display_name: str


class CaseCreate(BaseModel):
    matter: str = Field(max_length=64, examples=["newborn"])
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
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


class FetchAndLock(BaseModel):
    worker_id: str = Field(
        min_length=1, max_length=64, pattern=NO_NUL, description="Names the worker process"
    )
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
    worker_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    decision: str = Field(pattern="^(approved|rejected)$")
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)
    result: dict[str, Any] = Field(default_factory=dict, description="Result data to keep")


class ExternalFailure(BaseModel):
    worker_id: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    error_message: str = Field(max_length=500, pattern=NO_NUL)
    retries: int = Field(ge=0, le=100, description="Retries left; 0 raises an incident")
    retry_seconds: int = Field(default=60, ge=0, le=3600)
