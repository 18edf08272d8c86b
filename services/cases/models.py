"""Cases (办件): one combined application, its departmental items, uploads and history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, func, literal_column, text
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class Case(SQLModel, table=True):
    __tablename__ = "case_file"
    id: int | None = Field(default=None, primary_key=True)
    number: str | None = Field(default=None, max_length=32, unique=True)
    matter: str = Field(max_length=64, index=True)
    applicant_user_id: int = Field(foreign_key="user_account.id", index=True)
    applicant_id_number: str = Field(max_length=18, index=True)
    applicant_name: str = Field(max_length=64)
    channel: str = Field(default="online", max_length=16)  # online | window
    status: str = Field(default="processing", max_length=16, index=True)
    outcome: str | None = Field(default=None, max_length=32)
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    checklist: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The W3C trace context it was submitted under (services/observability.py): registry
    # calls, external tasks and webhooks for the case carry its trace id.
    traceparent: str | None = Field(default=None, max_length=55)
    # What the application is about, by the matter's subject key (the newborn's birth
    # certificate number, the deceased's ID, the property certificate...): one open or granted
    # case per matter and subject. A case whose every item was refused gives it up (None).
    subject_key: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    # When the case's own row last changed (status, outcome, number): set by every UPDATE of
    # the row. A department's decision that leaves the case's status alone does not touch it.
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})
    completed_at: datetime | None = None
    # When the retention purge removed the case's personal data (services/maintenance): the
    # row then keeps only what the figures count (matter, status, times), no answers or names.
    purged_at: datetime | None = None


Index("ux_case_file_subject", Case.__table__.c.matter, Case.__table__.c.subject_key, unique=True)

# The queue's search by the last four characters of the applicant's citizen ID (what a caller
# at the window reads out): the same expression as `workbench._id_last4`, numbers inline.
Index(
    "ix_case_file_id_last4",
    func.substr(Case.__table__.c.applicant_id_number, literal_column("15"), literal_column("4")),
)


_UNCLAIMED = text("status = 'processing' AND claimed_by IS NULL")


class CaseItem(SQLModel, table=True):
    """A departmental item of a case, routed to its department's queue by the process."""

    __tablename__ = "case_item"
    __table_args__ = (
        # A page of the queue is picked in index order from the index alone (the sort ends
        # with the id): workbench.search_queue.
        Index("ix_case_item_queue", "department", "status", "due_date", "id"),
        # every status by due date (the queue's "all" tab): the page read in index order
        Index("ix_case_item_due", "department", "due_date", "id"),
        # a clerk's own claimed tasks (the queue's "mine" count and filter), counted from the
        # index alone
        Index("ix_case_item_claimed", "claimed_by", "status", "department"),
        # the open tasks nobody holds (the queue's "unclaimed" count and filter)
        Index(
            "ix_case_item_unclaimed",
            "department",
            "due_date",
            "id",
            postgresql_where=_UNCLAIMED,
            sqlite_where=_UNCLAIMED,
        ),
        Index("ix_case_item_item", "department", "item_code", "status"),
        # a case's items; with the queue's columns, so that a search that finds a few cases
        # (a day's case numbers, an applicant) finds and sorts their tasks from the index alone
        Index("ix_case_item_case_id", "case_id", "department", "status", "due_date", "id"),
        Index("ix_case_item_received", "department", "status", "created_at", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id")  # indexed: ix_case_item_case_id
    item_code: str = Field(max_length=100)
    department: str = Field(max_length=32)
    # The SpiffWorkflow task (a UUID) waiting for this item's decision; a "task" (待办) in the
    # API and the pages is the item itself, named by the item's id.
    engine_task_id: str | None = Field(default=None, max_length=36, index=True)
    status: str = Field(default="processing", max_length=16)  # processing|approved|rejected
    clerk_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    claimed_by: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    claimed_at: datetime | None = None
    comment: str | None = Field(default=None, max_length=500)
    auto: bool = False  # decided by an automatic check (秒批)
    finding: str | None = Field(default=None, max_length=500)  # the automatic check's finding
    # A department's own system works the item through the external-task API (fetch-and-lock).
    locked_by: str | None = Field(default=None, max_length=64)
    lock_expires_at: datetime | None = None
    retries: int | None = None
    incident: str | None = Field(default=None, max_length=500)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # What the department recorded on approving, by the catalog item's `results` keys (the
    # child's assigned citizen ID, the licence's credit code...), checked and in stored form
    # (services/cases/result_data.py); None: nothing recorded (an automatic approval).
    result_data: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # Correction (补正): what the clerk reopened ({"facts": [...], "materials": [...], "note": ""})
    correction: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    corrections: int = 0  # rounds of correction so far
    # Statutory deadline: "warning" when it nears, "overdue" past it (escalated to supervisors)
    deadline_flag: str | None = Field(default=None, max_length=12)
    escalated_at: datetime | None = None
    due_date: date
    decided_at: datetime | None = None
    result_number: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class CaseEvent(SQLModel, table=True):
    """The case's history, written in the same transaction as each change."""

    __tablename__ = "case_event"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    actor_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    actor: str = Field(max_length=100)
    kind: str = Field(max_length=32)
    message: str = Field(max_length=500)


class Upload(SQLModel, table=True):
    """A material the applicant uploaded; the file is in the file store (services/storage.py)
    under a random name."""

    __tablename__ = "upload"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", index=True)
    material_code: str = Field(max_length=64)
    filename: str = Field(max_length=200)
    stored_name: str = Field(max_length=64)
    content_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    uploaded_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """Postal delivery of a case's results (统一出件, 邮寄送达), tracked step by step."""

    __tablename__ = "delivery"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", unique=True)
    address: str = Field(max_length=200)
    status: str = Field(default="preparing", max_length=16, index=True)
    tracking_number: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DraftUpload(SQLModel, table=True):
    """A file that passed the upload checks in a submission refused for another reason (a
    missing fact, say): kept for its uploader so the form shown again need not ask for it,
    until the application is submitted or the draft expires. Only its uploader may use it."""

    __tablename__ = "draft_upload"
    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True)
    owner_user_id: int = Field(foreign_key="user_account.id", index=True)  # who uploaded it
    applicant_user_id: int = Field(foreign_key="user_account.id")
    matter: str = Field(max_length=64)
    material_code: str = Field(max_length=64)
    filename: str = Field(max_length=200)
    content_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class ApplicationDraft(SQLModel, table=True):
    """A citizen's combined form saved unfinished (保存草稿): the answers typed so far, for one
    matter, resumed from any sign-in until it expires (`draft_days`) or the application is
    submitted. Its files are the uploader's kept files (`DraftUpload`), kept as long. Personal
    data: read by its owner only, never logged."""

    __tablename__ = "application_draft"
    __table_args__ = (Index("ux_application_draft_owner", "user_id", "matter", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    matter: str = Field(max_length=64)
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    manual: bool = False  # filled in without the registries' lookups
    saved_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class IdempotentRequest(SQLModel, table=True):
    """A POST of the JSON API sent with an `Idempotency-Key`: a retry with the same key gets
    the first answer again instead of doing the operation twice."""

    __tablename__ = "idempotent_request"
    __table_args__ = (Index("ux_idempotent_request_key", "user_id", "key", unique=True),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    key: str = Field(max_length=200)
    fingerprint: str = Field(max_length=64)  # sha256 of method, path and body
    status_code: int | None = None  # None while the first request is still being answered
    response: str | None = Field(default=None, sa_column=Column(Text))  # its JSON body
    created_at: datetime = Field(default_factory=utcnow, index=True)


class WindowVisit(SQLModel, table=True):
    """A walk-in applicant at the front desk: the clerk checked the identity document of the
    person present, for one matter, and whether the person authorized the registry lookups.
    Only while such a visit is current may the front desk open that person's form."""

    __tablename__ = "window_visit"
    id: int | None = Field(default=None, primary_key=True)
    clerk_user_id: int = Field(foreign_key="user_account.id", index=True)
    applicant_user_id: int = Field(foreign_key="user_account.id")
    matter: str = Field(max_length=64)
    consented: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Incident(SQLModel, table=True):
    """A case's process could not run on at one of its elements (services.cases.incidents)."""

    __tablename__ = "incident"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    matter: str = Field(max_length=64)
    step: str = Field(max_length=32)  # submission | decision | correction | deadline
    case_id: int | None = Field(default=None, index=True)
    case_item_id: int | None = None
    element_id: str = Field(max_length=200)
    element_name: str = Field(default="", max_length=200)
    reason: str = Field(max_length=500)
    actor_user_id: int | None = None
    resolved_at: datetime | None = None
