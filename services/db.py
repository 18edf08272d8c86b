"""The database: one SQLAlchemy engine per URL, SQLite tuned for a web server, schema creation."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

import engine.store  # noqa: F401 - registers the engine's tables
import services.accounts.models  # noqa: F401
import services.cases.models  # noqa: F401
import services.certificates.models  # noqa: F401
import services.departments.models  # noqa: F401
import services.evaluations.models  # noqa: F401
import services.notifications.models  # noqa: F401
import services.processes_models  # noqa: F401
import services.registries.models  # noqa: F401


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        db = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(db, "connect", _tune_sqlite)
        return db
    # No pre-ping round trip per checkout: connections are recycled instead.
    return create_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


def create_schema(db: Engine) -> None:
    SQLModel.metadata.create_all(db)
