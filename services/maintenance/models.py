"""The rows of operations' own work: one per periodic job, claimed by one host at a time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class PeriodicJob(SQLModel, table=True):
    """A job that runs once per period across all hosts (the retention purge, ...): a host
    claims the row when it is due and not locked by another, runs the job, records how it went
    and when it runs next. A holder that crashed loses the row when its lock expires."""

    __tablename__ = "periodic_job"
    name: str = Field(primary_key=True, max_length=64)
    next_run_at: datetime
    locked_by: str | None = Field(default=None, max_length=64)  # host:pid of the holder
    lock_expires_at: datetime | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: str | None = Field(default=None, max_length=16)  # succeeded | failed
    # What the last run did (counts, case numbers) or why it failed: never personal data.
    last_summary: str | None = Field(default=None, max_length=500)
