"""Webhooks are sent once with several senders (server processes or hosts on one database): each
sender claims due deliveries as timer jobs are claimed, sends outside any transaction and records
the outcome only while its claim holds; a sender that stopped loses its claims when they expire,
and another one sends what it had claimed."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import httpx
from fastapi import FastAPI, Request
from sqlmodel import Session, col, select

from engine import clock
from services.config import WebhookTarget
from services.departments.models import WebhookDelivery
from services.departments.webhooks import (
    LOCK_SECONDS,
    claim,
    deliver_due,
    enqueue,
    record_outcome,
)
from tests.live import serve

SECRET = "webhook-secret"
BACKLOG = 120


def receiver(received: list[int], lock: threading.Lock) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        with lock:
            received.append(int(request.headers["x-onething-delivery"]))
        return {"ok": True}

    return app


def _backlog(rt, count: int) -> list[int]:
    with Session(rt.db) as session:
        for n in range(count):
            enqueue(session, department="police", event="task.created", payload={"task": n})
        session.commit()
        return list(session.exec(select(WebhookDelivery.id).order_by(col(WebhookDelivery.id))))


def _targets(base: str) -> dict[str, WebhookTarget]:
    return {"police": WebhookTarget(url=f"{base}/hook", secret=SECRET)}


def test_two_senders_racing_over_a_backlog_send_each_delivery_once(rt):
    ids = _backlog(rt, BACKLOG)
    received: list[int] = []
    with serve(receiver(received, threading.Lock())) as base:
        targets = _targets(base)
        start = threading.Barrier(2)
        failures: list[BaseException] = []

        def sender(owner: str) -> None:
            try:
                with Session(rt.db) as session, httpx.Client(timeout=10) as client:
                    start.wait()
                    while True:
                        deliver_due(session, targets=targets, client=client, owner=owner, limit=7)
                        pending = session.exec(
                            select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")
                        ).first()
                        session.commit()
                        if pending is None:
                            return
            except BaseException as exc:  # reported by the test thread
                failures.append(exc)

        threads = [threading.Thread(target=sender, args=(name,)) for name in ("host-a", "host-b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads)
    assert Counter(received) == dict.fromkeys(ids, 1)  # every delivery, each exactly once
    with Session(rt.db) as session:
        rows = session.exec(select(WebhookDelivery)).all()
    assert {row.status for row in rows} == {"delivered"}
    assert {row.attempts for row in rows} == {1}
    assert {row.locked_by for row in rows} == {None}


def test_a_claim_is_won_by_one_sender_only(rt):
    ids = _backlog(rt, 5)
    with Session(rt.db) as first, Session(rt.db) as second:
        taken = claim(first, owner="host-a", limit=3, lock_seconds=60)
        rest = claim(second, owner="host-b", limit=10, lock_seconds=60)
    assert taken == ids[:3] and rest == ids[3:]


def test_a_stopped_senders_claims_expire_and_another_sender_sends_them(rt):
    ids = _backlog(rt, 4)
    received: list[int] = []
    with serve(receiver(received, threading.Lock())) as base:
        targets = _targets(base)
        with Session(rt.db) as session:
            assert claim(session, owner="crashed", limit=10, lock_seconds=LOCK_SECONDS) == ids
        with Session(rt.db) as session, httpx.Client(timeout=10) as client:
            # While the claims hold, nobody else sends them
            assert deliver_due(session, targets=targets, client=client, owner="host-b") == 0
            assert received == []
            clock.advance(timedelta(seconds=LOCK_SECONDS + 1))
            assert deliver_due(session, targets=targets, client=client, owner="host-b") == 4
        # The stopped sender comes back and records what it thought it did: nothing changes
        with Session(rt.db) as session:
            late = {"status": "failed", "last_error": "late", "attempts": 9}
            assert not record_outcome(session, delivery_id=ids[0], owner="crashed", values=late)
    assert Counter(received) == dict.fromkeys(ids, 1)
    with Session(rt.db) as session:
        rows = session.exec(select(WebhookDelivery)).all()
    assert {(row.status, row.attempts, row.last_error) for row in rows} == {("delivered", 1, None)}


def test_a_send_is_not_started_when_the_claim_could_expire_before_it_ends(rt):
    ids = _backlog(rt, 2)
    received: list[int] = []
    with serve(receiver(received, threading.Lock())) as base:
        targets = _targets(base)
        with Session(rt.db) as session, httpx.Client(timeout=10) as client:
            # a claim shorter than the client's timeouts: nothing is sent under it
            sent = deliver_due(session, targets=targets, client=client, owner="a", lock_seconds=5)
            assert sent == 0 and received == []
            clock.advance(timedelta(seconds=6))
            assert deliver_due(session, targets=targets, client=client, owner="b") == 2
    assert sorted(received) == ids
