"""Statutory deadlines: BPMN boundary timers fired by the job scheduler on the system clock,
moved by the tests (never slept); each timer fires exactly once, even with two schedulers."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from engine.store import TimerJob
from services.accounts.models import User
from services.cases.deadlines import run_deadlines
from services.cases.models import CaseEvent, CaseItem
from services.notifications.models import Notification
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from web.app import create_app


def _submit(rt, applicant: str = MOTHER) -> int:
    with TestClient(create_app(rt)) as client:
        body = {"username": applicant, "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=body).json()["token"]
        case = client.post(
            "/api/v1/cases",
            json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        return case.json()["id"]


def _police(rt, case_id) -> CaseItem:
    with Session(rt.db) as session:
        return session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()


def _events(rt, case_id, kind) -> int:
    with Session(rt.db) as session:
        rows = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == kind)
        ).all()
        return len(rows)


def test_item_is_flagged_near_its_limit_and_escalated_past_it(rt):
    case_id = _submit(rt)
    assert run_deadlines(rt) == 0  # nothing is due yet
    police = _police(rt, case_id)
    assert police.deadline_flag is None
    # Police: 5 working days. Four working days on, the warning fires; later, the escalation.
    clock.advance(timedelta(days=6, hours=12))
    fired = run_deadlines(rt)
    assert fired >= 1 and _police(rt, case_id).deadline_flag == "warning"
    clock.advance(timedelta(days=10))
    run_deadlines(rt)
    escalated = _police(rt, case_id)
    assert escalated.deadline_flag == "overdue" and escalated.escalated_at is not None
    assert _events(rt, case_id, "escalated") == 5  # every open item is past its limit by now
    assert run_deadlines(rt) == 0  # fired once; nothing left to fire
    assert _events(rt, case_id, "escalated") == 5
    with Session(rt.db) as session:  # the police supervisor is told, once
        lead = session.exec(select(User).where(User.username == "police-lead")).one()
        notices = session.exec(
            select(Notification).where(
                Notification.user_id == lead.id, Notification.kind == "escalated"
            )
        ).all()
    assert len(notices) == 1 and notices[0].case_id == case_id


def test_two_schedulers_fire_each_timer_exactly_once(rt, newborn_parents):
    case_ids = [_submit(rt, mother) for mother in newborn_parents(3)]
    clock.advance(timedelta(days=40))
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda o=owner: counts.append(run_deadlines(rt, owner=o)))
        for owner in ("host-a:1", "host-b:2")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with Session(rt.db) as session:
        jobs = session.exec(select(TimerJob)).all()
    # A run fires its timer and, in the same step, every other timer of that case now due.
    assert 3 <= sum(counts) <= len(jobs)
    assert all(job.status in ("done", "void") for job in jobs)
    for case_id in case_ids:
        # one per open departmental item: all six but the instantly approved enrollment
        assert _events(rt, case_id, "escalated") == 5


def test_a_decided_task_cancels_its_timers(rt):
    case_id = _submit(rt)
    with TestClient(create_app(rt)) as client:
        body = {"username": "police01", "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=body).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        police = _police(rt, case_id)
        client.post(
            f"/api/v1/tasks/{police.id}/complete", json={"decision": "approved"}, headers=headers
        )
    clock.advance(timedelta(days=40))
    run_deadlines(rt)
    assert _police(rt, case_id).deadline_flag is None
    with Session(rt.db) as session:
        statuses = {
            job.status
            for job in session.exec(select(TimerJob)).all()
            if "police" in (job.item or "")
        }
    assert statuses == {"void"}


def test_an_expired_lock_of_a_crashed_scheduler_is_taken_over(rt):
    from engine.scheduler import acquire

    _submit(rt)
    clock.advance(timedelta(days=40))
    with Session(rt.db) as session:
        taken = acquire(session, owner="crashed:1", lock_seconds=60)
    assert taken
    assert run_deadlines(rt, owner="alive:2") < len(taken) + 1  # locked jobs are skipped
    clock.advance(timedelta(minutes=2))  # the crashed owner's locks expire
    run_deadlines(rt, owner="alive:2")
    with Session(rt.db) as session:
        assert all(job.status != "pending" for job in session.exec(select(TimerJob)).all())
