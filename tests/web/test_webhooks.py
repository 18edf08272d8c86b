"""Outbound webhooks: a routed task is pushed, signed, to the department; failures are retried."""

from __future__ import annotations

import hmac
from datetime import timedelta

import httpx
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine.clock import utcnow
from services.config import WebhookTarget
from services.departments.models import WebhookDelivery
from services.departments.webhooks import MAX_ATTEMPTS, deliver_due, signature
from tests.live import serve
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from web.app import create_app

SECRET = "police-webhook-secret"


def receiver(received: list, *, fail: bool = False) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request):
        body = await request.body()
        stamp = request.headers["x-onething-timestamp"]
        expected = signature(SECRET, stamp, body)
        genuine = hmac.compare_digest(expected, request.headers["x-onething-signature"])
        fresh = abs(utcnow().timestamp() - int(stamp)) < 300
        received.append({"json": await request.json(), "genuine": genuine and fresh})
        return {"ok": True} if not fail else _fail()

    return app


def _fail():
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": "down"}, status_code=503)


def _submit(rt) -> None:
    with TestClient(create_app(rt)) as client:
        login = {"username": MOTHER, "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=login).json()["token"]
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        response = client.post(
            "/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 201


def test_routed_task_is_pushed_signed_to_the_department(rt):
    received: list = []
    with serve(receiver(received)) as base:
        rt.settings.webhooks = {"police": WebhookTarget(url=f"{base}/hook", secret=SECRET)}
        _submit(rt)
        with Session(rt.db) as session, httpx.Client() as client:
            assert deliver_due(session, targets=rt.settings.webhooks, client=client) == 1
            assert deliver_due(session, targets=rt.settings.webhooks, client=client) == 0
    [push] = received
    assert push["genuine"]
    assert push["json"]["event"] == "task.created"
    assert push["json"]["item"] == "police_birth_registration"
    assert MOTHER not in str(push["json"])  # no personal numbers travel in a push


def test_failed_pushes_back_off_and_end_failed(rt):
    received: list = []
    with serve(receiver(received, fail=True)) as base:
        rt.settings.webhooks = {"police": WebhookTarget(url=f"{base}/hook", secret=SECRET)}
        _submit(rt)
        with Session(rt.db) as session, httpx.Client() as client:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                deliver_due(session, targets=rt.settings.webhooks, client=client)
                row = session.exec(select(WebhookDelivery)).one()
                assert row.attempts == attempt and row.last_error == "HTTP 503"
                # nothing more is sent before the backoff has passed
                assert deliver_due(session, targets=rt.settings.webhooks, client=client) == 0
                row.next_attempt_at = utcnow() - timedelta(seconds=1)  # move the clock
                session.add(row)
                session.commit()
            assert row.status == "failed"
    assert len(received) == MAX_ATTEMPTS


def test_the_app_runs_its_background_workers_while_it_lives(rt):
    """With webhooks configured and a deadline interval, the app starts both workers and
    stops them when it shuts down."""
    import threading

    rt.settings.webhooks = {"police": WebhookTarget(url="http://127.0.0.1:9/hook", secret=SECRET)}
    rt.settings.deadline_interval = 60
    with TestClient(create_app(rt)):
        names = {thread.name for thread in threading.enumerate()}
        assert {"webhooks", "deadlines"} <= names
    names = {thread.name for thread in threading.enumerate() if thread.is_alive()}
    assert not {"webhooks", "deadlines"} & names
