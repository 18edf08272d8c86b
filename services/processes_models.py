"""Deployed versions of a matter's process: who deployed which BPMN content, when and why."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint, event
from sqlmodel import Field, SQLModel

from engine.clock import utcnow


class ProcessVersion(SQLModel, table=True):
    """One deployment of a matter's process, numbered 1, 2, … per matter; never changed after.

    The content itself lives in the engine's `process_definition` row named by `definition_key`
    (the content hash), which running cases also refer to.
    """

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("matter", "version", name="uq_process_version_matter"),)
    id: int | None = Field(default=None, primary_key=True)
    matter: str = Field(max_length=64, index=True)
    version: int
    definition_key: str = Field(max_length=64)
    process_id: str = Field(max_length=200)
    author_user_id: int = Field(foreign_key="user_account.id")
    comment: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


@event.listens_for(ProcessVersion, "before_update")
@event.listens_for(ProcessVersion, "before_delete")
def _refuse_change(_mapper, _connection, target: ProcessVersion) -> None:
    raise ValueError(f"process version {target.matter} v{target.version} is immutable")
