"""Push notifications to departments' own systems, signed with HMAC-SHA256.

Deliveries are rows of an outbox written in the same transaction as the case change that causes
them, then sent by a background loop with retries and exponential backoff; after the last
attempt a delivery is marked failed for administrators to see. A receiver verifies

    X-OneThing-Signature: sha256=<hex HMAC-SHA256(secret, "<X-OneThing-Timestamp>.<raw body>")>

and rejects old timestamps; the payload names the task, and the department then fetches and
locks it through the external-task API (no personal data travels in the push). A push carries
the case's W3C `traceparent` (its trace id, a new span id), as the locked task does.

Each delivery is sent once however many server processes or hosts run a sender, as timer jobs
fire once (engine/scheduler.py): a sender claims a batch of due rows (lock owner and expiry,
`SKIP LOCKED` on PostgreSQL, and an UPDATE that only one claimer wins on any database), sends
each outside any transaction, and records the outcome only while the claim is still its own.
A sender that stops mid-batch loses its claims when they expire, and another sender takes the
rows over. A send is never started when the claim could expire before it ends (the client's
timeout), so a delivery goes out twice only if a sender is frozen between its send and its
record for longer than the rest of its claim; receivers can drop a repeated
`X-OneThing-Delivery` id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from engine.clock import utcnow
from engine.scheduler import claim_rows
from services.background import PeriodicWorker
from services.config import WebhookTarget
from services.departments.models import WebhookDelivery
from services.observability import child_traceparent

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 10
BATCH = 50
# How long a claim holds: a batch's sends that would end after it are left for the next claim.
LOCK_SECONDS = 300
SEND_TIMEOUT = 5.0

log = logging.getLogger(__name__)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def enqueue(
    session: Session,
    *,
    department: str,
    event: str,
    payload: dict[str, Any],
    traceparent: str | None = None,
) -> None:
    """Queue a push to the department, in the caller's transaction; `traceparent`: the case's
    trace context, which the push carries (a child of it as its `traceparent` header)."""
    session.add(
        WebhookDelivery(
            department=department, event=event, payload=payload, traceparent=traceparent
        )
    )


def sender_name() -> str:
    """A name for one sender: its host and process, and a token for each sender in a process."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _due(now: datetime):
    return (
        (WebhookDelivery.status == "pending")
        & (col(WebhookDelivery.next_attempt_at) <= now)
        & or_(
            col(WebhookDelivery.lock_expires_at).is_(None),
            col(WebhookDelivery.lock_expires_at) < now,
        )
    )


def claim(session: Session, *, owner: str, limit: int, lock_seconds: int) -> list[int]:
    """Lock up to `limit` due deliveries for `owner` until `lock_seconds` from now; returns their
    ids, oldest first (committed). Rows another sender holds are skipped, not waited for."""
    return claim_rows(
        session,
        model=WebhookDelivery,
        due=_due,
        order=col(WebhookDelivery.id),
        owner=owner,
        limit=limit,
        lock_seconds=lock_seconds,
    )


def record_outcome(
    session: Session, *, delivery_id: int, owner: str, values: dict[str, Any]
) -> bool:
    """Write a delivery's outcome and release it, if `owner` still holds it (committed)."""
    done = session.execute(
        update(WebhookDelivery)
        .where(
            (WebhookDelivery.id == delivery_id)
            & (WebhookDelivery.locked_by == owner)
            & (WebhookDelivery.status == "pending")
        )
        .values(locked_by=None, lock_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if done.rowcount != 1:
        log.warning("webhook delivery %s: the claim of %s had expired", delivery_id, owner)
    return done.rowcount == 1


def _send(client: httpx.Client, target: WebhookTarget, delivery: Any) -> str | None:
    """POST one delivery, signed; None when the department took it, else what went wrong."""
    body = json.dumps(
        {"id": delivery.id, "event": delivery.event, **delivery.payload}, ensure_ascii=False
    ).encode()
    timestamp = str(int(utcnow().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "X-OneThing-Event": delivery.event,
        "X-OneThing-Delivery": str(delivery.id),
        "X-OneThing-Timestamp": timestamp,
        "X-OneThing-Signature": signature(target.secret, timestamp, body),
        "traceparent": child_traceparent(delivery.traceparent),
    }
    try:
        response = client.post(target.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"


def _send_seconds(client: httpx.Client) -> float:
    """The longest one send can take with `client` (its timeouts), for the claim check."""
    timeout = client.timeout
    parts = [timeout.connect, timeout.write, timeout.read, timeout.pool]
    return sum(part for part in parts if part is not None) if any(parts) else SEND_TIMEOUT


def deliver_due(
    session: Session,
    *,
    targets: dict[str, WebhookTarget],
    client: httpx.Client,
    limit: int = BATCH,
    owner: str | None = None,
    lock_seconds: int = LOCK_SECONDS,
) -> int:
    """Claim the deliveries that are due, send each and record its outcome; returns how many
    were delivered. No transaction is open (no row locked) while a delivery is being sent."""
    owner = owner or sender_name()
    ids = claim(session, owner=owner, limit=limit, lock_seconds=lock_seconds)
    if not ids:
        return 0
    claimed = session.exec(
        select(
            WebhookDelivery.id,
            WebhookDelivery.department,
            WebhookDelivery.event,
            WebhookDelivery.payload,
            WebhookDelivery.traceparent,
            WebhookDelivery.attempts,
            WebhookDelivery.lock_expires_at,
        )
        .where(col(WebhookDelivery.id).in_(ids), WebhookDelivery.locked_by == owner)
        .order_by(col(WebhookDelivery.id))
    ).all()
    session.commit()  # ends the read: nothing is held while sending
    longest = timedelta(seconds=_send_seconds(client))
    delivered = 0
    for delivery in claimed:
        target = targets.get(delivery.department)
        if target is None:
            record_outcome(
                session,
                delivery_id=delivery.id,
                owner=owner,
                values={
                    "status": "failed",
                    "last_error": "no webhook configured for the department",
                },
            )
            continue
        if delivery.lock_expires_at is None or utcnow() + longest >= delivery.lock_expires_at:
            break  # the claim could expire mid-send: the rest are left to expire and be taken
        error = _send(client, target, delivery)
        attempts = delivery.attempts + 1
        if error is None:
            values: dict[str, Any] = {
                "status": "delivered",
                "delivered_at": utcnow(),
                "attempts": attempts,
            }
        elif attempts >= MAX_ATTEMPTS:
            values = {"status": "failed", "last_error": error, "attempts": attempts}
        else:
            delay = BACKOFF_SECONDS * 2 ** (attempts - 1)
            values = {
                "last_error": error,
                "attempts": attempts,
                "next_attempt_at": utcnow() + timedelta(seconds=delay),
            }
        if (
            record_outcome(session, delivery_id=delivery.id, owner=owner, values=values)
            and not error
        ):
            delivered += 1
    return delivered


def webhook_sender(db, targets: dict[str, WebhookTarget], interval: float = 2.0) -> PeriodicWorker:
    """A background worker that delivers due webhooks every `interval` seconds."""
    client = httpx.Client(timeout=SEND_TIMEOUT)
    owner = sender_name()

    def deliver() -> None:
        with Session(db) as session:
            deliver_due(session, targets=targets, client=client, owner=owner)

    return PeriodicWorker("webhooks", deliver, interval)
