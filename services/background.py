"""Work a server process does on its own, every few seconds, in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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


_refresh_steps: dict[str, Callable[[], object]] = {}
_refresh_lock = threading.Lock()
_refresher: PeriodicWorker | None = None


def refresh_periodically(name: str, step: Callable[[], object]) -> None:
    """Run `step` every REFRESH_INTERVAL seconds for the life of this process, in one shared
    daemon thread; registering `name` again replaces its step (the newest runtime's). A step
    should be cheap when nothing changed: it runs in every server process."""
    global _refresher
    with _refresh_lock:
        _refresh_steps[name] = step
        if _refresher is None:
            _refresher = PeriodicWorker("refresh", run_refresh_steps, REFRESH_INTERVAL)
            _refresher.start()


def run_refresh_steps() -> None:
    """Run every registered refresh step once; one that fails is logged, the others still run."""
    with _refresh_lock:
        steps = list(_refresh_steps.items())
    for name, step in steps:
        try:
            step()
        except Exception as exc:
            if db_outage.unavailable(exc):
                log.warning("refresh %s skipped, the database is unavailable", name)
            else:
                log.exception("refresh %s failed", name)
