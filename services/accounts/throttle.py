"""Sign-in throttling: after too many failed sign-ins for one username, or from one client
address, within a window, further attempts are refused for a while (HTTP 429).

Attempts are rows in the database, so every server process sharing it counts the same ones.
An attempt is recorded as failed *before* its password is checked and then counted with every
attempt recorded before it: concurrent guesses see each other, and no more than the limit are
ever checked. A success turns its row into `succeeded`, which clears the username's earlier
failures (they stay recorded). A refused attempt is kept as `refused` and does not count, so
waiting until the time the message names always works. The address's failures are not cleared
by a success: one's own account must not reset a guesser's count.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, func, select

from engine.clock import utcnow
from services.accounts.models import LoginAttempt
from services.calendar import CHINA
from services.errors import TooManyRequests

FAILED, REFUSED, SUCCEEDED = "failed", "refused", "succeeded"


@dataclass(frozen=True)
class Limits:
    """Failed sign-ins allowed within `window`: per username, and per client address (higher:
    a service centre's or an office's users share one address)."""

    per_username: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


LIMITS = Limits()


def username_key(username: str) -> str:
    """The username as attempts record it: a hash of it as sign-in reads it (trimmed, any case),
    so a password typed into the username field is never stored."""
    return hashlib.sha256(username.strip().upper().encode()).hexdigest()


def admit(
    session: Session,
    *,
    username: str,
    address: str | None,
    user_id: int | None = None,
    limits: Limits = LIMITS,
) -> LoginAttempt:
    """Record a sign-in attempt (as failed until `succeeded` says otherwise) and let it through,
    or refuse it with `TooManyRequests`. Commits, so the record outlives a failed sign-in."""
    now = utcnow()
    attempt = LoginAttempt(
        username_key=username_key(username),
        user_id=user_id,
        address=(address or "unknown")[:64],
        outcome=FAILED,
        created_at=now,
    )
    session.add(attempt)
    session.commit()
    since = now - limits.window
    cleared = session.exec(
        select(func.max(LoginAttempt.created_at)).where(
            LoginAttempt.username_key == attempt.username_key,
            LoginAttempt.outcome == SUCCEEDED,
        )
    ).one()
    free_at = [
        _free_at(
            session,
            attempt,
            LoginAttempt.username_key == attempt.username_key,
            limits.per_username,
            max(since, _utc(cleared)) if cleared else since,
            limits.window,
        ),
        _free_at(
            session,
            attempt,
            LoginAttempt.address == attempt.address,
            limits.per_address,
            since,
            limits.window,
        ),
    ]
    refused_until = max((moment for moment in free_at if moment is not None), default=None)
    if refused_until is None:
        return attempt
    attempt.outcome = REFUSED
    session.add(attempt)
    session.commit()
    raise _refusal(refused_until, now)


def succeeded(session: Session, *, attempt: LoginAttempt, user_id: int) -> None:
    """The attempt signed in: it clears the username's failures (committed with the session)."""
    attempt.outcome = SUCCEEDED
    attempt.user_id = user_id
    session.add(attempt)


def _free_at(session, attempt, condition, limit: int, since: datetime, window: timedelta):
    """When this attempt would be let through: None if now, else the moment the oldest of the
    `limit` latest earlier failures leaves the window."""
    oldest = session.exec(
        select(LoginAttempt.created_at)
        .where(
            condition,
            LoginAttempt.outcome == FAILED,
            LoginAttempt.id != attempt.id,
            LoginAttempt.created_at > since,
        )
        .order_by(col(LoginAttempt.created_at).desc())
        .offset(limit - 1)
        .limit(1)
    ).first()
    return None if oldest is None else _utc(oldest) + window


def _utc(moment: datetime) -> datetime:
    """A stored time (naive, UTC) as an aware one."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refusal(until: datetime, now: datetime) -> TooManyRequests:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    # The minute shown is the first one at which trying again works.
    shown = until.replace(second=0, microsecond=0)
    if shown < until:
        shown += timedelta(minutes=1)
    at = shown.astimezone(CHINA).strftime("%H:%M")
    return TooManyRequests(
        f"登录失败次数过多，请于{at}以后再试（约{minutes}分钟后）",
        f"Too many failed sign-ins: try again after {at} China time "
        f"(in about {minutes} minute{'s' if minutes > 1 else ''})",
        retry_after=seconds,
    )
