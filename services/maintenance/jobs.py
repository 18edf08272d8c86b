"""Background jobs that run once across hosts (placeholder: the maintenance work fills it in)."""

from __future__ import annotations

from services.background import PeriodicWorker
from services.runtime import Runtime


def maintenance_workers(runtime: Runtime) -> list[PeriodicWorker]:
    """The workers this process starts besides the deadline scheduler and the webhook sender."""
    return []
