"""Idempotency keys for the JSON API's POST operations: a client that retries after a timeout,
sending the same `Idempotency-Key`, gets the first answer again, never a second case or
decision.

The key is claimed in its own committed transaction before the operation runs (a parallel
retry then finds it and is told to wait); the operation's answer is stored when it succeeds,
and a failed operation (which left nothing behind) gives its key back, so the retry runs it.
If the server stops between the operation's commit and storing its answer, the key stays
claimed: retries are refused with 409 rather than risk doing the operation twice.

If the server stops (a host killed, a crash) while the operation runs, its claim is left
unmarked with no process behind it. After LEASE, far longer than any request may run, a
retry takes the key over: it retires the stale claim and claims the key anew. Should the
first request still be running after all, its commit cannot mark the claim it no longer
holds, and is refused (rolled back): the operation is still done at most once.

When the database goes away during the operation, whether its COMMIT was kept cannot be told
from the failure (the connection may break after the server committed). The operation's own
transaction tells instead: its first commit also marks the claim APPLIED (`mark_applied`).
Giving the key back then deletes only a claim left unmarked (`release(..., unless_applied=
True)`): the operation was not done, and the retry does it; a marked claim stays, and a retry
learns that the operation was done (409 `idempotency_key_applied`), never doing it twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, event, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.cases.models import IdempotentRequest
from services.errors import Conflict, InvalidInput

HEADER = "Idempotency-Key"
KEY = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces
KEPT = timedelta(hours=24)  # how long a key's answer is kept
PRUNE_EVERY = 100  # every hundredth claim (by id, so spread over processes) prunes old keys
APPLIED = 0  # a claim's status_code once its operation committed, until its answer is stored
TAKEN_OVER = -1  # a stale claim's, once a retry took its key over (see the module)
CLAIM_ATTEMPTS = 3
# How long a claim whose operation has not committed is held for its request. A request ends
# long before (the proxy gives up on a host after 60 s); after it, the holder is taken to be
# gone (a host killed mid-request) and a retry may claim the key again.
LEASE = timedelta(minutes=5)
_MARKED = "onething_idempotency_marked"  # in a session's info: the mark is committed


@dataclass(frozen=True)
class Replay:
    """The stored answer of an operation done before with the same key."""

    status_code: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def claim(
    session: Session,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    unsettled: Callable[[int], None] | None = None,
) -> int | Replay:
    """Claim `key` for the operation about to run (returns the claim's id, committed), or the
    answer of the operation done with it before. Refuses a key that is malformed, reused for a
    different request, still held by a request being answered, or whose operation was done
    but its answer lost. When committing the claim fails, `unsettled` is told its id (the
    claim may have been kept, with no operation behind it: to be given back) and the failure
    is raised."""
    if not KEY.fullmatch(key):
        raise InvalidInput(
            HEADER,
            "Idempotency-Key 应为1至200个可打印ASCII字符（不含空格）",
            "Idempotency-Key: 1 to 200 printable ASCII characters, no spaces",
        )
    found = None
    for _attempt in range(CLAIM_ATTEMPTS):
        claimed = _insert(session, user_id, key, fingerprint, unsettled)
        if claimed is not None:
            return claimed
        found = session.exec(
            select(IdempotentRequest).where(
                IdempotentRequest.user_id == user_id, IdempotentRequest.key == key
            )
        ).first()
        session.commit()
        if found is not None and _stale(found) and _take_over(session, found):
            found = None
            continue  # the holder is gone: claim the key anew
        if found is not None:
            break
        # (given back between the two statements, e.g. after an outage: claim it again)
    if found is None:
        raise _in_use()
    if found.fingerprint != fingerprint:
        raise InvalidInput(
            HEADER,
            "该 Idempotency-Key 已用于另一个不同的请求，请为新请求使用新的键",
            "This Idempotency-Key was used for a different request: use a new key",
            code="idempotency_key_reused",
        )
    if found.status_code == APPLIED:
        raise Conflict(
            "使用该 Idempotency-Key 的请求已办理，但答复未能保存，请查询办件状态，勿重复提交",
            "The request with this Idempotency-Key was carried out, but its answer was lost: "
            "check the case's status instead of sending it again",
            code="idempotency_key_applied",
        )
    if found.status_code is None:
        raise _in_use()
    return Replay(found.status_code, found.response or "")


def _stale(found: IdempotentRequest) -> bool:
    """An unmarked claim older than LEASE: its request is over, its holder gone."""
    return found.status_code is None and found.created_at < utcnow() - LEASE


def _take_over(session: Session, found: IdempotentRequest) -> bool:
    """Retire a stale claim, if it is still unmarked and stale (committed); whether it was.
    The row stays, renamed and marked TAKEN_OVER (pruned with the others), so that the key's
    next claim gets a new id (SQLite would give a deleted last row's id again) and the old
    holder's mark, which names its id, finds nothing to mark."""
    retired = session.execute(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.id) == found.id)
        .where(col(IdempotentRequest.status_code).is_(None))
        .where(col(IdempotentRequest.created_at) < utcnow() - LEASE)
        .values(key=f"taken over {found.id}", status_code=TAKEN_OVER)  # (no key has a space)
    )
    session.commit()
    return retired.rowcount == 1


def _taken_over(session: Session, claim_id: int) -> bool:
    """Whether the claim was retired for a retry (its mark found nothing to mark for another
    reason too: the request's answer stored already, or the claim marked before)."""
    status = session.execute(
        select(IdempotentRequest.status_code).where(col(IdempotentRequest.id) == claim_id)
    ).scalar()
    return status == TAKEN_OVER


def _in_use() -> Conflict:
    return Conflict(
        "使用该 Idempotency-Key 的请求正在处理或结果未知，请稍后查询办件状态",
        "A request with this Idempotency-Key is being answered (or its outcome is unknown): "
        "check the case's status before trying again",
        code="idempotency_key_in_use",
    )


def _insert(
    session: Session,
    user_id: int,
    key: str,
    fingerprint: str,
    unsettled: Callable[[int], None] | None,
) -> int | None:
    """The new claim's id (committed), or None when the key is claimed already."""
    now = utcnow()
    row = IdempotentRequest(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    claimed = row.id
    if claimed % PRUNE_EVERY == 0:  # now and then, not on every claim
        session.execute(
            delete(IdempotentRequest).where(col(IdempotentRequest.created_at) < now - KEPT)
        )
    try:
        session.commit()
    except Exception:
        if unsettled is not None:
            unsettled(claimed)
        raise
    return claimed


def finish(session: Session, *, claim_id: int, status_code: int, body: str) -> None:
    """Store the operation's answer for its key."""
    session.execute(
        update(IdempotentRequest)
        .where(col(IdempotentRequest.id) == claim_id)
        .values(status_code=status_code, response=body)
    )
    session.commit()


def release(session: Session, *, claim_id: int, unless_applied: bool = False) -> None:
    """The operation failed and left nothing behind: its key may be used again. With
    `unless_applied` (the database went away during the operation), only if the operation
    committed nothing (see the module)."""
    query = delete(IdempotentRequest).where(col(IdempotentRequest.id) == claim_id)
    if unless_applied:
        query = query.where(col(IdempotentRequest.status_code).is_(None))
    session.execute(query)
    session.commit()


def mark_applied(session: Session, *, claim_id: int) -> None:
    """Make the operation's first commit in `session` mark its claim APPLIED, in the same
    transaction (one UPDATE, once per session)."""

    def mark(current: Session) -> None:
        if not current.info.get(_MARKED):
            marked_now = current.execute(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.id) == claim_id)
                .where(col(IdempotentRequest.status_code).is_(None))
                .values(status_code=APPLIED)
            )
            if marked_now.rowcount != 1 and _taken_over(current, claim_id):
                raise _in_use()  # after its lease: a retry holds the key, this one may not commit

    def marked(current: Session) -> None:
        current.info[_MARKED] = True

    event.listen(session, "before_commit", mark)
    event.listen(session, "after_commit", marked)
