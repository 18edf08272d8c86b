"""Whether this host can serve: what a load balancer or an orchestrator asks before it sends
requests here (`/health/ready`), and what an operator's monitoring polls."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.runtime import Runtime
from services.storage import DirectoryStore

OK, UNAVAILABLE = "ok", "unavailable"


def readiness(rt: Runtime) -> dict[str, str]:
    """Each dependency a request needs, `ok` or `unavailable`: the database (one `SELECT 1` on
    a pooled connection) and, where files live in a directory, that directory (present and
    writable). Names no address, path or error: the answer is public."""
    checks: dict[str, str] = {}
    try:
        with rt.db.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = OK
    except SQLAlchemyError:
        checks["database"] = UNAVAILABLE
    store = rt.files
    if isinstance(store, DirectoryStore):
        checks["file_store"] = OK if _writable(store.directory) else UNAVAILABLE
    return checks


def _writable(directory: Path) -> bool:
    """The directory can take files: it is writable, or (made on the first file) the nearest
    directory above it that exists is."""
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    return existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
