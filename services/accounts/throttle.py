"""Sign-in throttling that keeps password guessing slow without letting anyone lock a user out.

Attempts are rows in the database, so every server process sharing it counts the same ones.
An attempt is recorded as failed *before* its password is checked and then counted with every
attempt recorded before it: concurrent guesses see each other, and none slips past a budget.
A refused attempt's password is not checked; the attempt is kept as `refused`, which no budget
counts, so waiting until the moment the refusal names always works.

Three budgets (`Limits`), the same for an account that exists and one that does not:

- Per account and client: a client is the address the request came from, or a recognised
  device. `free_failures` failures, then each further attempt waits after the last failure
  for a delay that doubles from `first_delay` up to `longest_delay`. The client's own success
  clears its count. Nobody else's failures count here.
- Per account over all unrecognised clients (guessing from many addresses): past
  `account_failures` failures within `account_window`, one attempt per `account_interval`.
  An address this account signed in from within `known_address_for` is exempt.
- Per address over all accounts (credential stuffing): `address_failures` within
  `address_window`. Clients behind a reverse proxy share its address unless the proxy is
  named in the trusted-proxy setting (web/client_address.py), so this budget is generous.

A recognised device is a browser that signed in to the account before and keeps the random
token it was given then (`KnownDevice`, a cookie set by the sign-in page). It has only its own
per-account-and-client budget: failures from elsewhere, however many, never refuse it. It
vouches for nothing else; the password is checked as always.

Rows older than every window are deleted by every `prune_every`-th attempt (`prune`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, or_
from sqlmodel import Session, col, func, select

from engine.clock import utcnow
from services.accounts.models import KnownDevice, LoginAttempt
from services.calendar import CHINA
from services.errors import TooManyRequests

FAILED, REFUSED, SUCCEEDED = "failed", "refused", "succeeded"

# A recognised device's token is good for this long after it was last used to sign in.
DEVICE_LIFETIME = timedelta(days=180)
# A browser remembers its devices for this many accounts (a shared office computer).
DEVICE_TOKENS_KEPT = 5


@dataclass(frozen=True)
class Limits:
    """The budgets of the module's docstring."""

    free_failures: int = 5
    first_delay: timedelta = timedelta(seconds=1)
    longest_delay: timedelta = timedelta(minutes=15)
    client_window: timedelta = timedelta(days=1)
    account_failures: int = 50
    account_window: timedelta = timedelta(hours=1)
    account_interval: timedelta = timedelta(minutes=1)
    known_address_for: timedelta = timedelta(days=30)
    address_failures: int = 100
    address_window: timedelta = timedelta(minutes=15)
    prune_every: int = 100

    @property
    def longest_window(self) -> timedelta:
        """How long a failed or refused attempt can still count."""
        return max(self.client_window, self.account_window, self.address_window)

    def delay(self, failures: int) -> timedelta:
        """How long after the last of `failures` failures a client may try again."""
        beyond = failures - self.free_failures
        if beyond < 0:
            return timedelta(0)
        return min(self.longest_delay, self.first_delay * 2 ** min(beyond, 40))


LIMITS = Limits()


def username_key(username: str) -> str:
    """The username as attempts record it: a hash of it as sign-in reads it (trimmed, any case),
    so a password typed into the username field is never stored."""
    return hashlib.sha256(username.strip().upper().encode()).hexdigest()


def address_key(address: str | None) -> str:
    """The client address as attempts record it. An IPv6 client is its /64 network: one
    subscriber commonly holds a whole /64, and could otherwise take a new address per guess."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def admit(
    session: Session,
    *,
    username: str,
    address: str | None,
    user_id: int | None = None,
    device_id: int | None = None,
    limits: Limits = LIMITS,
) -> LoginAttempt:
    """Record a sign-in attempt (as failed until `succeeded` says otherwise) and let it through,
    or refuse it with `TooManyRequests`. `device_id` is the recognised device it came from
    (`recognised_device`). Commits, so the record outlives a failed sign-in."""
    now = utcnow()
    attempt = LoginAttempt(
        username_key=username_key(username),
        user_id=user_id,
        address=address_key(address),
        device_id=device_id,
        outcome=FAILED,
        created_at=now,
    )
    session.add(attempt)
    session.flush()
    seen = _Seen(attempt.id, attempt.username_key, attempt.address, device_id, now)
    session.commit()
    if seen.attempt_id % limits.prune_every == 0:
        prune(session, limits=limits)
    free_at = [_client_free_at(session, seen, limits)]
    if device_id is None:
        free_at += [
            _account_free_at(session, seen, limits),
            _address_free_at(session, seen, limits),
        ]
    refused_until = max((moment for moment in free_at if moment and moment > now), default=None)
    if refused_until is None:
        return attempt
    attempt.outcome = REFUSED
    session.add(attempt)
    session.commit()
    raise _refusal(refused_until, now)


def succeeded(session: Session, *, attempt: LoginAttempt, user_id: int) -> None:
    """The attempt signed in: it clears its client's failures for the account, and makes its
    address a known one (committed with the session)."""
    attempt.outcome = SUCCEEDED
    attempt.user_id = user_id
    session.add(attempt)


def prune(session: Session, *, limits: Limits = LIMITS) -> None:
    """Delete the attempts no budget counts any more (a success stays while it makes its address
    a known one) and the devices not used for `DEVICE_LIFETIME`. Commits."""
    now = utcnow()
    session.exec(  # type: ignore[call-overload]
        delete(LoginAttempt).where(
            col(LoginAttempt.created_at) < now - limits.longest_window,
            or_(
                LoginAttempt.outcome != SUCCEEDED,
                col(LoginAttempt.created_at) < now - limits.known_address_for,
            ),
        )
    )
    session.exec(  # type: ignore[call-overload]
        delete(KnownDevice).where(col(KnownDevice.last_seen_at) < now - DEVICE_LIFETIME)
    )
    session.commit()


def recognised_device(session: Session, *, user_id: int, tokens: Sequence[str]) -> int | None:
    """The id of the recognised device of this account among the browser's device `tokens`."""
    hashes = [_token_hash(token) for token in tokens[:DEVICE_TOKENS_KEPT] if token]
    if not hashes:
        return None
    return session.exec(
        select(KnownDevice.id).where(
            KnownDevice.user_id == user_id,
            col(KnownDevice.token_hash).in_(hashes),
            KnownDevice.last_seen_at > utcnow() - DEVICE_LIFETIME,
        )
    ).first()


def remember_device(session: Session, *, user_id: int, tokens: Sequence[str]) -> list[str]:
    """After a sign-in: the device tokens the browser should keep, this account's first. The
    browser's token for the account is kept (and marked used), or a new one is made; tokens the
    server no longer knows are dropped. The caller commits."""
    tokens = [token for token in tokens[:DEVICE_TOKENS_KEPT] if token]
    rows = session.exec(
        select(KnownDevice).where(
            col(KnownDevice.token_hash).in_([_token_hash(token) for token in tokens]),
            KnownDevice.last_seen_at > utcnow() - DEVICE_LIFETIME,
        )
    ).all()
    known = {row.token_hash: row for row in rows}
    kept = [token for token in tokens if _token_hash(token) in known]
    mine = next((t for t in kept if known[_token_hash(t)].user_id == user_id), None)
    if mine is None:
        mine = secrets.token_urlsafe(32)
        session.add(KnownDevice(token_hash=_token_hash(mine), user_id=user_id))
    else:
        row = known[_token_hash(mine)]
        row.last_seen_at = utcnow()
        session.add(row)
    return [mine, *(token for token in kept if token != mine)][:DEVICE_TOKENS_KEPT]


@dataclass(frozen=True)
class _Seen:
    """What the budgets need of the attempt being admitted, read before its commit."""

    attempt_id: int
    username_key: str
    address: str
    device_id: int | None
    now: datetime


def _client_free_at(session: Session, seen: _Seen, limits: Limits) -> datetime | None:
    """Per account and client: the end of the growing delay after its last failure."""
    if seen.device_id is not None:
        same_client: ColumnElement[bool] = LoginAttempt.device_id == seen.device_id
    else:
        same_client = and_(
            LoginAttempt.username_key == seen.username_key,
            LoginAttempt.address == seen.address,
            col(LoginAttempt.device_id).is_(None),
        )
    cleared = session.exec(
        select(func.max(LoginAttempt.created_at)).where(
            same_client, LoginAttempt.outcome == SUCCEEDED
        )
    ).one()
    since = seen.now - limits.client_window
    if cleared is not None:
        since = max(since, _utc(cleared))
    failures, last = _failures(session, seen, same_client, since)
    return _utc(last) + limits.delay(failures) if failures >= limits.free_failures else None


def _account_free_at(session: Session, seen: _Seen, limits: Limits) -> datetime | None:
    """Per account over unrecognised clients: past the budget, one attempt per interval, except
    from an address the account signed in from lately."""
    unrecognised = and_(
        LoginAttempt.username_key == seen.username_key, col(LoginAttempt.device_id).is_(None)
    )
    failures, last = _failures(session, seen, unrecognised, seen.now - limits.account_window)
    if failures < limits.account_failures:
        return None
    known_address = session.exec(
        select(LoginAttempt.id).where(
            LoginAttempt.username_key == seen.username_key,
            LoginAttempt.address == seen.address,
            LoginAttempt.outcome == SUCCEEDED,
            LoginAttempt.created_at > seen.now - limits.known_address_for,
        )
    ).first()
    return None if known_address else _utc(last) + limits.account_interval


def _address_free_at(session: Session, seen: _Seen, limits: Limits) -> datetime | None:
    """Per address over all accounts: when the oldest of its latest `address_failures`
    unrecognised failures leaves the window."""
    oldest = session.exec(
        select(LoginAttempt.created_at)
        .where(
            LoginAttempt.address == seen.address,
            col(LoginAttempt.device_id).is_(None),
            LoginAttempt.outcome == FAILED,
            LoginAttempt.id != seen.attempt_id,
            LoginAttempt.created_at > seen.now - limits.address_window,
        )
        .order_by(col(LoginAttempt.created_at).desc())
        .offset(limits.address_failures - 1)
        .limit(1)
    ).first()
    return None if oldest is None else _utc(oldest) + limits.address_window


def _failures(
    session: Session, seen: _Seen, condition: ColumnElement[bool], since: datetime
) -> tuple[int, datetime | None]:
    """How many failures other than this attempt match `condition` after `since`, and the last."""
    count, last = session.exec(
        select(func.count(), func.max(LoginAttempt.created_at)).where(
            condition,
            LoginAttempt.outcome == FAILED,
            LoginAttempt.id != seen.attempt_id,
            LoginAttempt.created_at > since,
        )
    ).one()
    return count, last


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(moment: datetime) -> datetime:
    """A stored time (naive, UTC) as an aware one."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refusal(until: datetime, now: datetime) -> TooManyRequests:
    """The refusal, saying when to try again: the same words whether or not the account exists."""
    seconds = max(1, math.ceil((until - now).total_seconds()))
    if seconds < 60:
        return TooManyRequests(
            f"登录失败次数过多，请{seconds}秒后再试",
            f"Too many failed sign-ins: try again in {seconds} second{'s' if seconds > 1 else ''}",
            retry_after=seconds,
        )
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
