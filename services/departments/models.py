"""Outbound webhooks to departments that prefer push: an outbox written with the case change,
claimed by one sender at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=32)
    event: str = Field(max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    traceparent: str | None = Field(default=None, max_length=55)  # the case's trace context
    status: str = Field(default="pending", max_length=16)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    # The sender sending it now, until when (a sender that stopped loses it when this passes)
    locked_by: str | None = Field(default=None, max_length=64)
    lock_expires_at: datetime | None = None
