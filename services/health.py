"""Whether this host can serve: what a load balancer or an orchestrator asks before it sends
requests here (`/readyz`), and what an operator's monitoring polls."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.certificates.fonts import font_problem
from services.db import head_revision
from services.runtime import Runtime
from services.storage import DirectoryStore

OK, UNAVAILABLE = "ok", "unavailable"


def readiness(rt: Runtime) -> dict[str, str]:
    """Each dependency a request needs, `ok` or `unavailable`: the database (reachable on a
    pooled connection), its schema (at the newest migration this code knows: a host whose
    database is behind, or ahead after a newer host migrated it, must not serve), the font
    certificates embed (services/certificates/fonts.py: present and embeddable), and, where
    files live in a directory, that directory (present and writable). Names no address, path,
    revision or error: the answer is public."""
    checks: dict[str, str] = {}
    try:
        with rt.db.connect() as connection:
            # (read directly: Alembic's MigrationContext logs two lines at every poll)
            current = _revision(connection)
        checks["database"] = OK
        checks["migrations"] = OK if current == _head() else UNAVAILABLE
    except SQLAlchemyError:
        checks["database"] = checks["migrations"] = UNAVAILABLE
    checks["certificate_font"] = (
        OK if font_problem(rt.settings.certificate_font) is None else UNAVAILABLE
    )
    store = rt.files
    if isinstance(store, DirectoryStore):
        checks["file_store"] = OK if _writable(store.directory) else UNAVAILABLE
    return checks


def _revision(connection) -> str | None:
    """The schema's revision; None where the database answers but has no Alembic table."""
    try:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:
        connection.rollback()
        connection.execute(text("SELECT 1"))  # reachable after all: only the table is missing
        return None


@cache
def _head() -> str:
    """The newest migration revision, read from the migration scripts once per process."""
    return head_revision()


def _writable(directory: Path) -> bool:
    """The directory can take files: it is writable, or (made on the first file) the nearest
    directory above it that exists is."""
    existing = next((p for p in (directory, *directory.parents) if p.exists()), None)
    return existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
