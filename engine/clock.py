"""The one clock of the system. Production reads the real time; tests move it explicitly
(`advance`) instead of sleeping, and deadlines, timers, locks and timestamps all follow."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None
_lock = threading.Lock()


def utcnow() -> datetime:
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests and demos only)."""
    global _offset, _frozen
    with _lock:
        _offset += delta
        if _frozen is not None:
            _frozen += delta


def travel_to(moment: datetime) -> None:
    """Set the clock to `moment` from now on (tests and demos only)."""
    global _offset, _frozen
    with _lock:
        _offset = moment - datetime.now(UTC)
        _frozen = None


def freeze(moment: datetime) -> None:
    """Stop the clock at `moment` until it is moved (`advance`) or `reset` (tests only: for
    outcomes that depend on the seconds between two steps, such as a wait shown to a person)."""
    global _frozen, _offset
    with _lock:
        _frozen = moment
        _offset = moment - datetime.now(UTC)


def reset() -> None:
    global _offset, _frozen
    with _lock:
        _offset = timedelta(0)
        _frozen = None
