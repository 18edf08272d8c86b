"""Notifications (消息): the in-app inbox of a citizen or a clerk, one row per message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from engine.clock import utcnow

UNREAD = text("read_at IS NULL")


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (
        # The inbox, newest first, and the unread count of one user.
        Index("ix_notification_inbox", "user_id", "id"),
        Index("ix_notification_unread", "user_id", postgresql_where=UNREAD, sqlite_where=UNREAD),
    )
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    case_id: int | None = Field(default=None, foreign_key="case_file.id")
    kind: str = Field(max_length=32)
    title: str = Field(max_length=100)
    body: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
