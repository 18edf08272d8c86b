"""The one clock of the system. Production reads the real time; tests move it explicitly
(`advance`) instead of sleeping, and deadlines, timers, locks and timestamps all follow."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_lock = threading.Lock()


def utcnow() -> datetime:
    return datetime.now(UTC) + _offset


def advance(delta: timedelta) -> None:
    """Move the clock forward (tests and demos only)."""
    global _offset
    with _lock:
        _offset += delta


def travel_to(moment: datetime) -> None:
    """Set the clock to `moment` from now on (tests and demos only)."""
    global _offset
    with _lock:
        _offset = moment - datetime.now(UTC)


def reset() -> None:
    global _offset
    with _lock:
        _offset = timedelta(0)
