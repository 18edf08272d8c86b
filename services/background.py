"""Work a server process does on its own, every few seconds, in a daemon thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicWorker:
    """Runs `work()` every `interval` seconds until stopped; a failing round is logged and the
    next one runs as planned (the work keeps its state in the database)."""

    def __init__(self, name: str, work: Callable[[], object], interval: float) -> None:
        self._work = work
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._work()
            except Exception:
                log.exception("%s: round failed", self._thread.name)
