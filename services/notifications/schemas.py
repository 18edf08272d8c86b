"""API shapes for the inbox (separate from the table model)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class NotificationPublic(BaseModel):
    id: int
    case_id: int | None
    kind: str
    title: str
    title_en: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxPublic(BaseModel):
    unread: int = Field(description="How many of the user's messages are unread")
    items: list[NotificationPublic] = Field(description="One page of messages, newest first")


class ReadAllPublic(BaseModel):
    marked: int = Field(description="How many messages were unread and are now read")
    unread: int = Field(description="How many are unread now")
