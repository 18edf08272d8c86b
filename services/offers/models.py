"""Tables: Registry events and the offers they start (issue 22).

`registry_event`: one row per event a registry published (a birth recorded by the hospital, a
retirement date within 90 days, a death, a business licence), unique per source and the
source's own event id (a replayed or duplicate event finds its row and starts nothing).
`offer`: what an event offers one person (by ID number; their account may come later), with the
items and why, until it is confirmed into a case, declined or expires.
`offer_log`: every event received, offer made, view, confirmation, refusal and expiry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class RegistryEvent(SQLModel, table=True):
    __tablename__ = "registry_event"
    __table_args__ = (UniqueConstraint("source", "event_id", name="uq_registry_event_source_id"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=32)  # "embedded" or the posting department's code
    event_id: str = Field(max_length=64)  # the source's own id: the replay / duplicate key
    kind: str = Field(max_length=32)  # birth_recorded | retirement_due | death_recorded | ...
    subject_id: str = Field(max_length=32)  # the birth certificate, the person, the licence
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utcnow)
    offers_made: int = 0


class Offer(SQLModel, table=True):
    __tablename__ = "offer"
    __table_args__ = (
        # A person's offers, newest first; one offer per event, matter and person.
        Index("ix_offer_person", "id_number", "id"),
        UniqueConstraint("event_row_id", "matter", "id_number", name="uq_offer_event_person"),
    )
    id: int | None = Field(default=None, primary_key=True)
    event_row_id: int = Field(foreign_key="registry_event.id")
    matter: str = Field(max_length=64)
    id_number: str = Field(max_length=18)  # whom it is for (an account may sign in later)
    role: str = Field(max_length=16)  # mother | father | person | next_of_kin | owner
    # [{"code", "status": qualifies|not_applicable|to_check, "reason", "reason_en"}]
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str = Field(max_length=300)  # why the state offers it (the event, in words)
    reason_en: str = Field(max_length=300)
    status: str = Field(default="offered", max_length=16)  # offered|confirmed|declined|expired
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    decided_at: datetime | None = None
    decline_reason: str | None = Field(default=None, max_length=200)
    case_id: int | None = Field(default=None, foreign_key="case_file.id", index=True)


class OfferLog(SQLModel, table=True):
    __tablename__ = "offer_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    event_row_id: int | None = Field(default=None, index=True)
    offer_id: int | None = Field(default=None, index=True)
    # event_received | event_replayed | event_refused | offered | viewed | confirmed |
    # declined | refused | expired
    action: str = Field(max_length=32)
    actor: str = Field(max_length=64)  # "registry:<source>", "user:<id>", "system"
    detail: str = Field(default="", max_length=300)
