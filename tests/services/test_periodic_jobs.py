"""Periodic jobs claimed once across hosts: of several claimers exactly one runs a due job, a
crashed holder's lock expires and is taken over, and every run records its outcome."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, text
from sqlmodel import Session, select

from engine import clock
from engine.clock import utcnow
from services.maintenance.jobs import (
    RETRY,
    Job,
    Outcome,
    claim_job,
    maintenance_workers,
    register_jobs,
    run_due_jobs,
    run_job,
)
from services.maintenance.models import PeriodicJob

LOCK = timedelta(minutes=10)


def _job(run, name: str = "tidy") -> Job:
    return Job(name=name, every=timedelta(days=1), lock=LOCK, run=run)


def _row(db, name: str = "tidy") -> PeriodicJob:
    with Session(db) as session:
        row = session.get(PeriodicJob, name)
        session.expunge(row)
        return row


def test_two_hosts_racing_for_a_due_job_run_it_exactly_once(db):
    ran: list[str] = []
    loser_done = threading.Event()

    def work(_until):
        ran.append(threading.current_thread().name)
        loser_done.wait(timeout=5)  # hold the job while the other host tries to claim it
        return Outcome("tidied")

    job = _job(work)
    register_jobs(db, [job])
    start = threading.Barrier(2)
    results: dict[str, bool] = {}
    # Both hosts read the job as due before either writes its claim: the narrowest race.
    both_read = threading.Barrier(2, timeout=10)
    reads = []

    @event.listens_for(db, "after_cursor_execute")
    def _hold(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().startswith("SELECT periodic_job.name") and len(reads) < 2:
            reads.append(statement)
            both_read.wait()

    def host(owner: str) -> None:
        start.wait()
        results[owner] = run_job(db, job, owner=owner)
        if not results[owner]:
            loser_done.set()

    threads = [threading.Thread(target=host, args=(owner,), name=owner) for owner in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    event.remove(db, "after_cursor_execute", _hold)
    assert len(reads) == 2
    assert sorted(results.values()) == [False, True]
    assert len(ran) == 1 and results[ran[0]] is True
    row = _row(db)
    assert row.last_outcome == "succeeded" and row.last_summary == "tidied"
    assert row.locked_by is None and row.next_run_at > utcnow() + timedelta(hours=23)
    assert run_due_jobs(db, [job], owner="c") == []  # done for this period, on every host


def test_on_postgresql_a_held_job_is_skipped_not_waited_for(db):
    if db.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    register_jobs(db, [_job(lambda _until: Outcome(""))])
    with Session(db) as holder, Session(db) as other:
        # Another host is between its SELECT ... FOR UPDATE and its UPDATE of the row.
        holder.execute(text("SELECT name FROM periodic_job WHERE name = 'tidy' FOR UPDATE"))
        other.execute(text("SET lock_timeout = '2s'"))  # waiting would fail the test
        assert claim_job(other, name="tidy", owner="b", lock=LOCK) is False
        holder.rollback()
        assert claim_job(other, name="tidy", owner="b", lock=LOCK) is True


def test_a_crashed_holders_lock_expires_and_another_host_takes_the_job_over(db):
    job = _job(lambda _until: Outcome("tidied by the second host"))
    register_jobs(db, [job])
    with Session(db) as session:  # host a claims the job, then dies before recording anything
        assert claim_job(session, name="tidy", owner="a", lock=LOCK)
    assert run_job(db, job, owner="b") is False  # still held
    clock.advance(LOCK - timedelta(seconds=1))
    assert run_job(db, job, owner="b") is False
    clock.advance(timedelta(seconds=2))
    assert run_job(db, job, owner="b") is True
    row = _row(db)
    assert row.locked_by is None and row.last_summary == "tidied by the second host"


def test_a_run_that_outlived_its_lock_does_not_record_over_the_new_holder(db, caplog):
    def slow(_until):
        clock.advance(LOCK + timedelta(seconds=1))  # a hung run: its lock expires meanwhile
        with Session(db) as session:
            assert claim_job(session, name="tidy", owner="b", lock=LOCK)
        return Outcome("late")

    register_jobs(db, [_job(slow)])
    with caplog.at_level(logging.WARNING, logger="services.maintenance.jobs"):
        assert run_job(db, _job(slow), owner="a") is True
    row = _row(db)
    assert row.locked_by == "b" and row.last_summary is None
    assert "outlived its lock" in caplog.text


def test_a_failed_run_is_recorded_without_its_message_and_tried_again_within_the_hour(db):
    def failing(_until):
        raise ValueError("310105199409080281 not found")  # an error may quote personal data

    job = _job(failing)
    register_jobs(db, [job])
    before = utcnow()
    assert run_job(db, job, owner="a") is True
    row = _row(db)
    assert row.last_outcome == "failed" and "ValueError" in row.last_summary
    assert "310105" not in row.last_summary
    assert row.next_run_at <= before + RETRY + timedelta(seconds=5)


def test_every_host_registers_the_jobs_and_each_keeps_one_row(db):
    job = _job(lambda _until: Outcome(""))
    register_jobs(db, [job])
    first = _row(db).next_run_at
    clock.advance(timedelta(minutes=5))
    register_jobs(db, [job])  # a second host starting later
    with Session(db) as session:
        assert len(session.exec(select(PeriodicJob)).all()) == 1
    assert _row(db).next_run_at == first


def test_work_left_at_the_time_limit_is_taken_up_at_the_next_round(db):
    job = _job(lambda _until: Outcome("half done", more=True))
    register_jobs(db, [job])
    assert run_due_jobs(db, [job], owner="a") == ["tidy"]
    assert run_due_jobs(db, [job], owner="b") == ["tidy"]  # due again at once


def test_no_maintenance_worker_when_retention_or_the_interval_is_off(rt):
    assert len(maintenance_workers(rt)) == 1  # the default: a daily purge after three years
    rt.settings.maintenance_interval = 0
    assert maintenance_workers(rt) == []
    rt.settings.maintenance_interval = 60
    rt.settings.retention_days = 0
    assert maintenance_workers(rt) == []
