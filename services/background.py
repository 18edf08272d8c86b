"""Work a server process does on its own, every few seconds, in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine, event

from services import db_outage

log = logging.getLogger(__name__)

# Seconds between refreshes of what administrators configure (holiday calendar, departments):
# how a change made through one server process reaches the others.
REFRESH_INTERVAL = 30.0


class PeriodicWorker:
    """Runs `work()` every `interval` seconds until stopped; a failing round is logged and the
    next one runs as planned (the work keeps its state in the database)."""

    def __init__(self, name: str, work: Callable[[], object], interval: float) -> None:
        self._work = work
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def name(self) -> str:
        return self._thread.name

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._work()
            except Exception as exc:
                if db_outage.unavailable(exc):  # passes by itself: one line, no traceback
                    log.warning("%s: round skipped, the database is unavailable", self.name)
                else:
                    log.exception("%s: round failed", self._thread.name)


_refresh_steps: dict[str, tuple[Engine, Callable[[Engine], object]]] = {}
_refresh_lock = threading.Lock()
_round_lock = threading.Lock()  # held while a round runs: forgetting a database waits for it
_refresher: PeriodicWorker | None = None
# How long disposing a database waits for a refresh round that is reading it.
FORGET_WAIT_SECONDS = 10.0


def refresh_periodically(name: str, db: Engine, step: Callable[[Engine], object]) -> None:
    """Run `step(db)` every REFRESH_INTERVAL seconds in one shared daemon thread, until `db` is
    disposed (its runtime closed: neither it nor what the step holds is kept then); registering
    `name` again replaces its step (the newest runtime's). A step should be cheap when nothing
    changed: it runs in every server process."""
    global _refresher
    with _refresh_lock:
        _refresh_steps[name] = (db, step)
        if not event.contains(db, "engine_disposed", _forget):
            event.listen(db, "engine_disposed", _forget)
        if _refresher is None:
            _refresher = PeriodicWorker("refresh", run_refresh_steps, REFRESH_INTERVAL)
            _refresher.start()


def _forget(db: Engine) -> None:
    """`db` was disposed (its runtime closed): its steps stop, and a round that is reading it
    is waited for, so that whoever disposed it may then drop what it held."""
    with _refresh_lock:
        for name in [name for name, (owner, _) in _refresh_steps.items() if owner is db]:
            del _refresh_steps[name]
    if _round_lock.acquire(timeout=FORGET_WAIT_SECONDS):
        _round_lock.release()


def run_refresh_steps() -> None:
    """Run every registered refresh step once; one that fails is logged, the others still run."""
    with _round_lock:
        with _refresh_lock:
            steps = list(_refresh_steps.items())
        for name, (db, step) in steps:
            with _refresh_lock:
                if _refresh_steps.get(name, (None,))[0] is not db:
                    continue  # forgotten (or replaced) since the round began
            try:
                step(db)
            except Exception as exc:
                if db_outage.unavailable(exc):
                    log.warning("refresh %s skipped, the database is unavailable", name)
                else:
                    log.exception("refresh %s failed", name)
