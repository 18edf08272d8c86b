"""Evaluations (好差评): the applicant's rating of a completed case, and the follow-up a bad
review opens for each department concerned."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class Evaluation(SQLModel, table=True):
    """One per case: level 5 very satisfied … 1 very dissatisfied, with reason codes."""

    __tablename__ = "evaluation"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 5", name="ck_evaluation_level"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case_file.id", unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    level: int
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    comment: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class FollowUp(SQLModel, table=True):
    """A bad review to verify, fix and call back within 15 working days, for one department's
    supervisors."""

    __tablename__ = "evaluation_follow_up"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "department", name="uq_follow_up_department"),
        Index("ix_follow_up_queue", "department", "status", "due_date"),
    )
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="evaluation.id")
    department: str = Field(max_length=32)
    status: str = Field(default="open", max_length=16)  # open | resolved
    due_date: date
    resolution: str | None = Field(default=None, max_length=1000)
    callback_done: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None
    resolved_by: int | None = Field(default=None, foreign_key="user_account.id")
