"""The example receiver (examples/webhook_receiver.py) verifies OneThing's real pushes, refuses
forged, altered and stale ones, and the body matches the schema the OpenAPI document
publishes for the event."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import httpx
from sqlmodel import Session

from engine.clock import utcnow
from examples.webhook_receiver import handler, verify
from services.config import WebhookTarget
from services.departments.schemas import TaskCreatedEvent
from services.departments.webhooks import deliver_due, signature
from tests.web.test_webhooks import _submit

SECRET = "police-webhook-secret"


def test_the_example_receiver_verifies_a_real_push_and_refuses_forgeries(rt, app):
    events: list[dict] = []
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), handler(SECRET, events.append, clock=lambda: utcnow().timestamp())
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        rt.settings.webhooks = {"police": WebhookTarget(url=url, secret=SECRET)}
        _submit(rt)
        with Session(rt.db) as session, httpx.Client() as client:
            assert deliver_due(session, targets=rt.settings.webhooks, client=client) == 1
            stamp = str(int(utcnow().timestamp()))
            forged = client.post(
                url,
                content=b'{"id": 1}',
                headers={"X-OneThing-Timestamp": stamp, "X-OneThing-Signature": "sha256=00"},
            )
            assert forged.status_code == 401
    finally:
        server.shutdown()
    [event] = events
    TaskCreatedEvent.model_validate(event)  # the documented schema
    assert event["event"] == "task.created" and event["item"] == "police_birth_registration"
    documented = app.openapi()["webhooks"]["task.created"]["post"]
    assert documented["requestBody"]["content"]["application/json"]["schema"]


def test_verify_refuses_an_altered_body_and_a_stale_timestamp():
    body = b'{"id": 7, "event": "task.created"}'
    now = 1_800_000_000
    headers = {"X-OneThing-Timestamp": str(now), "X-OneThing-Signature": ""}
    headers["X-OneThing-Signature"] = signature(SECRET, str(now), body)
    assert verify(SECRET, headers, body, now=now)
    assert not verify(SECRET, headers, body + b" ", now=now)  # altered
    assert not verify("another secret", headers, body, now=now)
    assert not verify(SECRET, headers, body, now=now + 301)  # replayed too late
