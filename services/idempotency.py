"""Idempotency keys for the JSON API's POST operations: a client that retries after a timeout,
sending the same `Idempotency-Key`, gets the first answer again, never a second case or
decision.

The key is claimed in its own committed transaction before the operation runs (a parallel
retry then finds it and is told to wait); the operation's answer is stored when it succeeds,
and a failed operation (which left nothing behind) gives its key back, so the retry runs it.
If the server stops between the operation's commit and storing its answer, the key stays
claimed: retries are refused with 409 rather than risk doing the operation twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.cases.models import IdempotentRequest
from services.errors import Conflict, InvalidInput

HEADER = "Idempotency-Key"
KEY = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces
KEPT = timedelta(hours=24)  # how long a key's answer is kept
PRUNE_EVERY = 100  # every hundredth claim (by id, so spread over processes) prunes old keys


@dataclass(frozen=True)
class Replay:
    """The stored answer of an operation done before with the same key."""

    status_code: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(session: Session, *, user_id: int, key: str, fingerprint: str) -> int | Replay:
    """Claim `key` for the operation about to run (returns the claim's id, committed), or the
    answer of the operation done with it before. Refuses a key that is malformed, reused for a
    different request, or still held by a request being answered."""
    if not KEY.fullmatch(key):
        raise InvalidInput(
            HEADER,
            "Idempotency-Key 应为1至200个可打印ASCII字符（不含空格）",
            "Idempotency-Key: 1 to 200 printable ASCII characters, no spaces",
        )
    now = utcnow()
    row = IdempotentRequest(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now)
    session.add(row)
    try:
        session.flush()
        claimed = row.id
        if claimed % PRUNE_EVERY == 0:  # now and then, not on every claim
            session.execute(
                delete(IdempotentRequest).where(col(IdempotentRequest.created_at) < now - KEPT)
            )
        session.commit()
        return claimed
    except IntegrityError:
        session.rollback()
    found = session.exec(
        select(IdempotentRequest).where(
            IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
        )
    ).one()
    session.commit()
    if found.fingerprint != fingerprint:
        raise InvalidInput(
            HEADER,
            "该 Idempotency-Key 已用于另一个不同的请求，请为新请求使用新的键",
            "This Idempotency-Key was used for a different request: use a new key",
            code="idempotency_key_reused",
        )
    if found.status_code is None:
        raise Conflict(
            "使用该 Idempotency-Key 的请求正在处理或结果未知，请稍后查询办件状态",
            "A request with this Idempotency-Key is being answered (or its outcome is unknown): "
            "check the case's status before trying again",
            code="idempotency_key_in_use",
        )
    return Replay(found.status_code, found.response or "")


def finish(session: Session, *, claim_id: int, status_code: int, body: str) -> None:
    """Store the operation's answer for its key."""
    session.execute(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.id) == claim_id)
        .values(status_code=status_code, response=body)
    )
    session.commit()


def release(session: Session, *, claim_id: int) -> None:
    """The operation failed and left nothing behind: its key may be used again."""
    session.execute(delete(IdempotentRequest).where(col(IdempotentRequest.id) == claim_id))
    session.commit()
