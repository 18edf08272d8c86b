"""Several hosts on one PostgreSQL: each deadline timer fires exactly once, and the queues agree.

Two separate server processes ("host A" with one worker, "host B" with two) serve the same
database with their deadline schedulers on and their clocks 40 days ahead, so every timer of the
cases submitted here is due at once. Three waves of cases, each submitted in-process:

1. host B is paused (SIGSTOP): host A alone fires the timers;
2. host A is paused: host B's two workers alone fire them;
3. both are paused while the cases are submitted, then resumed together: both race over one
   backlog (SKIP LOCKED batches, the same cases' timers held by different hosts).

A host is paused only while it has nothing due, so it never holds a lock the other one waits for.
Afterwards every timer has fired once (one escalation per open item, one notice to the police
supervisor per case), and a clerk sees the same queue through either host.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from demo.seed import DEMO_PASSWORD
from engine.store import TimerJob
from services.accounts.models import User
from services.cases.models import Case, CaseEvent, CaseItem
from services.notifications.models import Notification
from tests.conftest import START
from tests.deploy.hosts import MULTIHOST, WAIT_SECONDS, Host
from tests.web.conftest import NEWBORN_ANSWERS
from web.app import create_app

pytestmark = MULTIHOST


@pytest.fixture
def hosts(rt, database_url, registry_path, tmp_path):
    """Host A (one worker) and host B (two workers) on the test's database (its own schema, in
    the URL), deadline loops every 0.2 s, clocks 40 days past the moment the cases start."""
    ahead = (START + timedelta(days=40) - datetime.now(UTC)) / timedelta(days=1)
    env = {
        **os.environ,
        "ONETHING_DATABASE_URL": database_url,
        "ONETHING_DEADLINE_INTERVAL": "0.2",
        "ONETHING_CLOCK_OFFSET_DAYS": f"{ahead:.6f}",
    }
    started: list[Host] = []
    try:
        for name, workers in (("host-a", 1), ("host-b", 2)):
            host = Host(name, workers=workers, env=env, registry=registry_path, tmp_path=tmp_path)
            started.append(host)
        for host in started:
            host.wait_started()
        yield started
    finally:
        for host in started:
            host.stop()


def _submit(rt, applicants: list[str]) -> list[int]:
    """One newborn application by each applicant (each has her own child: a child is applied
    for once), in this process (its clock: START) on the same database."""
    ids = []
    with TestClient(create_app(rt)) as client:
        for applicant in applicants:
            body = {"username": applicant, "password": DEMO_PASSWORD}
            token = client.post("/api/v1/login", json=body).json()["token"]
            response = client.post(
                "/api/v1/cases",
                json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text[:300]
            ids.append(response.json()["id"])
    return ids


def _jobs_of(session: Session, case_ids: list[int]) -> list[TimerJob]:
    instances = select(Case.instance_id).where(col(Case.id).in_(case_ids))
    return list(session.exec(select(TimerJob).where(col(TimerJob.instance_id).in_(instances))))


def _wait_fired(rt, case_ids: list[int], hosts: list[Host]) -> None:
    """Until no timer job of these cases is pending (bounded; fails early if a host died)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with Session(rt.db) as session:
            jobs = _jobs_of(session, case_ids)
        assert jobs, "the cases have no deadline timers"
        if all(job.status != "pending" for job in jobs):
            return
        for host in hosts:
            assert host.process.poll() is None, f"{host.name} exited: {host.tail()}"
        if time.monotonic() > deadline:
            pending = sum(job.status == "pending" for job in jobs)
            logs = "\n".join(f"--- {h.name}\n{h.tail()}" for h in hosts)
            pytest.fail(f"{pending} of {len(jobs)} timer jobs still pending\n{logs}")
        time.sleep(0.1)


def _lock_owners(rt, case_ids: list[int]) -> set[str]:
    """Who acquired these cases' jobs, as far as the rows still tell: a job that fired has its
    owner cleared, one done or void by a sibling's step keeps whoever had locked it."""
    with Session(rt.db) as session:
        return {job.locked_by for job in _jobs_of(session, case_ids) if job.locked_by}


def _assert_fired_once(rt, case_ids: list[int]) -> None:
    with Session(rt.db) as session:
        jobs = _jobs_of(session, case_ids)
        assert {job.status for job in jobs} <= {"done", "void"}
        events = session.exec(
            select(CaseEvent).where(
                col(CaseEvent.case_id).in_(case_ids),
                col(CaseEvent.kind).in_(["escalated", "deadline_warning"]),
            )
        ).all()
        # each applicant's case has its own open items (an instant approval opens none)
        open_items = Counter(
            session.exec(
                select(CaseItem.case_id).where(
                    col(CaseItem.case_id).in_(case_ids), col(CaseItem.auto).is_(False)
                )
            ).all()
        )
        escalated = Counter(e.case_id for e in events if e.kind == "escalated")
        assert escalated == open_items  # one per open item, no more
        # a warning is written at most once per item (none if its escalation came first)
        assert max(Counter((e.case_id, e.kind, e.message) for e in events).values()) == 1
        items = session.exec(
            select(CaseItem).where(
                col(CaseItem.case_id).in_(case_ids), CaseItem.deadline_flag == "overdue"
            )
        ).all()
        assert Counter(i.case_id for i in items) == open_items
        lead = session.exec(select(User).where(User.username == "police-lead")).one()
        notices = session.exec(
            select(Notification.case_id, func.count())
            .where(
                Notification.user_id == lead.id,
                Notification.kind == "escalated",
                col(Notification.case_id).in_(case_ids),
            )
            .group_by(Notification.case_id)
        ).all()
        assert dict(notices) == dict.fromkeys(case_ids, 1)  # the police supervisor, once a case


def test_hosts_on_one_postgresql_fire_each_timer_once_and_agree_on_queues(
    rt, hosts, newborn_parents
):
    host_a, host_b = hosts
    owners_a, owners_b = host_a.owners(), host_b.owners()
    assert owners_a and owners_b and not owners_a & owners_b

    host_b.pause()  # wave 1: host A alone
    applicants = newborn_parents(10)
    alone_a = _submit(rt, applicants[:2])
    _wait_fired(rt, alone_a, hosts)
    _assert_fired_once(rt, alone_a)
    assert _lock_owners(rt, alone_a) <= owners_a

    host_a.pause()  # wave 2: host B (two workers) alone
    host_b.resume()
    alone_b = _submit(rt, applicants[2:4])
    _wait_fired(rt, alone_b, hosts)
    _assert_fired_once(rt, alone_b)
    assert _lock_owners(rt, alone_b) <= owners_b

    host_b.pause()  # wave 3: both race over one backlog
    raced = _submit(rt, applicants[4:])
    host_a.resume()
    host_b.resume()
    _wait_fired(rt, raced, hosts)

    case_ids = alone_a + alone_b + raced
    _assert_fired_once(rt, case_ids)  # and nothing fired again for the earlier waves
    assert _lock_owners(rt, case_ids) <= owners_a | owners_b
    with Session(rt.db) as session:
        assert all(job.status != "pending" for job in session.exec(select(TimerJob)))

    # One queue, whichever host a clerk asks: the police task of every case, each once.
    clerks = [host_a.client("police01"), host_b.client("police02")]
    queues = [
        [task["id"] for task in clerk.get("/api/v1/tasks", params={"limit": 200}).json()]
        for clerk in clerks
    ]
    assert queues[0] == queues[1] and len(set(queues[0])) == len(case_ids)
    with Session(rt.db) as session:
        police = session.exec(select(CaseItem).where(col(CaseItem.id).in_(queues[0]))).all()
    assert sorted(item.case_id for item in police) == sorted(case_ids)
    # Decisions through either host empty the queue both hosts show.
    for n, task_id in enumerate(queues[0]):
        response = clerks[n % 2].post(
            f"/api/v1/tasks/{task_id}/complete", json={"decision": "approved"}
        )
        assert response.status_code == 200, response.text[:300]
    for clerk in clerks:
        assert clerk.get("/api/v1/tasks").json() == []
        clerk.close()
    _assert_fired_once(rt, case_ids)
