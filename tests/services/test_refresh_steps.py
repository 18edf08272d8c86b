"""The shared refresh thread (services/background.py) reads a runtime's database until the
runtime closes it: a disposed database is not read again, and disposing waits for a round that
is reading it, so that what the database held can be dropped at once (a PostgreSQL test schema
dropped while a round read it deadlocked)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine

from services import background


def _engine():
    return create_engine("sqlite://")


@pytest.fixture(autouse=True)
def _no_steps_but_the_tests(monkeypatch) -> None:
    monkeypatch.setattr(background, "_refresh_steps", {})


def test_a_disposed_databases_steps_stop():
    kept, closed = _engine(), _engine()
    ran: list[str] = []
    background.refresh_periodically("kept", kept, lambda _db: ran.append("kept"))
    background.refresh_periodically("closed", closed, lambda _db: ran.append("closed"))
    background.run_refresh_steps()
    assert ran == ["kept", "closed"]
    closed.dispose()
    background.run_refresh_steps()
    assert ran == ["kept", "closed", "kept"]


def test_a_newer_runtimes_step_outlives_the_older_runtimes_database():
    older, newer = _engine(), _engine()
    ran: list[str] = []
    background.refresh_periodically("catalog", older, lambda _db: ran.append("older"))
    background.refresh_periodically("catalog", newer, lambda _db: ran.append("newer"))
    older.dispose()  # the older runtime closes after the newer one replaced its step
    background.run_refresh_steps()
    assert ran == ["newer"]


def test_disposing_waits_for_the_round_that_reads_the_database():
    db = _engine()
    reading, release = threading.Event(), threading.Event()
    events: list[str] = []

    def step(_db) -> None:
        reading.set()
        release.wait(5)
        events.append("round ended")

    background.refresh_periodically("slow", db, step)
    round_ = threading.Thread(target=background.run_refresh_steps)
    round_.start()
    assert reading.wait(5)

    def dispose() -> None:
        db.dispose()
        events.append("disposed")

    disposing = threading.Thread(target=dispose)
    disposing.start()
    disposing.join(0.2)
    assert disposing.is_alive()  # held while the round reads the database
    release.set()
    disposing.join(5)
    round_.join(5)
    assert events == ["round ended", "disposed"]
    background.run_refresh_steps()
    assert events == ["round ended", "disposed"]  # not read again
