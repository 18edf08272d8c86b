"""Push notifications to departments' own systems, signed with HMAC-SHA256.

Deliveries are rows of an outbox written in the same transaction as the case change that causes
them, then sent by a background loop with retries and exponential backoff; after the last
attempt a delivery is marked failed for administrators to see. A receiver verifies

    X-OneThing-Signature: sha256=<hex HMAC-SHA256(secret, "<X-OneThing-Timestamp>.<raw body>")>

and rejects old timestamps; the payload names the task, and the department then fetches and
locks it through the external-task API (no personal data travels in the push).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.background import PeriodicWorker
from services.config import WebhookTarget
from services.departments.models import WebhookDelivery

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 10


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def enqueue(session: Session, *, department: str, event: str, payload: dict[str, Any]) -> None:
    """Queue a push to the department, in the caller's transaction."""
    session.add(WebhookDelivery(department=department, event=event, payload=payload))


def deliver_due(
    session: Session,
    *,
    targets: dict[str, WebhookTarget],
    client: httpx.Client,
    limit: int = 50,
) -> int:
    """Send the deliveries that are due; returns how many were delivered."""
    now = utcnow()
    due = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    ).all()
    delivered = 0
    for delivery in due:
        target = targets.get(delivery.department)
        if target is None:
            delivery.status = "failed"
            delivery.last_error = "no webhook configured for the department"
            session.add(delivery)
            continue
        body = json.dumps(
            {"id": delivery.id, "event": delivery.event, **delivery.payload}, ensure_ascii=False
        ).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-OneThing-Event": delivery.event,
            "X-OneThing-Delivery": str(delivery.id),
            "X-OneThing-Timestamp": timestamp,
            "X-OneThing-Signature": signature(target.secret, timestamp, body),
        }
        delivery.attempts += 1
        try:
            response = client.post(target.url, content=body, headers=headers)
            ok = 200 <= response.status_code < 300
            error = None if ok else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            delivery.status = "delivered"
            delivery.delivered_at = utcnow()
            delivered += 1
        else:
            delivery.last_error = error
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = "failed"
            else:
                delay = BACKOFF_SECONDS * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = now + timedelta(seconds=delay)
        session.add(delivery)
    session.commit()
    return delivered


def webhook_sender(db, targets: dict[str, WebhookTarget], interval: float = 2.0) -> PeriodicWorker:
    """A background worker that delivers due webhooks every `interval` seconds."""
    client = httpx.Client(timeout=5)

    def deliver() -> None:
        with Session(db) as session:
            deliver_due(session, targets=targets, client=client)

    return PeriodicWorker("webhooks", deliver, interval)
