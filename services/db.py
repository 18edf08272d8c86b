"""The database: one SQLAlchemy engine per URL, SQLite tuned for a web server, and the schema,
kept by Alembic migrations (services/migrations)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import SQLModel, create_engine

import engine.store  # noqa: F401 - registers the engine's tables
import services.accounts.models  # noqa: F401
import services.agency.models  # noqa: F401
import services.cases.burden_measured  # noqa: F401
import services.cases.models  # noqa: F401
import services.certificates.models  # noqa: F401
import services.configuration.calendar  # noqa: F401
import services.configuration.catalog  # noqa: F401
import services.configuration.departments  # noqa: F401
import services.configuration.matters  # noqa: F401
import services.decision_tests  # noqa: F401
import services.departments.models  # noqa: F401
import services.evaluations.models  # noqa: F401
import services.incident_batches  # noqa: F401
import services.maintenance.models  # noqa: F401
import services.migration_models  # noqa: F401
import services.notifications.models  # noqa: F401
import services.offers.models  # noqa: F401
import services.processes_models  # noqa: F401
import services.registries.models  # noqa: F401
import services.storage  # noqa: F401
from services import db_outage
from services.background import PeriodicWorker

# WAL pages (4 KiB each) past which a committing connection copies the log back into the
# database itself, before its commit returns: SQLite's default is 1,000, which a busy server
# passes every second or so, and the request that crossed it waited for the copy (up to two
# seconds after a burst, when the log had grown long). A server process checkpoints in its own
# thread instead (wal_checkpointer); this is the safety net if that thread falls behind.
SAFETY_CHECKPOINT_PAGES = 10_000
CHECKPOINT_INTERVAL = 1.0  # seconds between a server's own checkpoints


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute(f"PRAGMA wal_autocheckpoint={SAFETY_CHECKPOINT_PAGES}")
    cursor.close()


def wal_checkpointer(db: Engine, interval: float = CHECKPOINT_INTERVAL) -> PeriodicWorker | None:
    """For a SQLite database, a worker that copies the write-ahead log back into the database
    every `interval` seconds in its own thread (a passive checkpoint: it never waits for a
    writer or a reader, and leaves what it cannot copy yet for the next round), so that no
    request does it; None for PostgreSQL."""
    if db.dialect.name != "sqlite":
        return None

    return PeriodicWorker("wal-checkpoint", lambda: checkpoint_wal(db), interval)


def checkpoint_wal(db: Engine) -> tuple[int, int, int]:
    """One passive checkpoint of a SQLite database: (1 if it could not finish for a writer or
    reader, else 0; pages in the log; pages copied back)."""
    with db.connect() as connection:
        busy, logged, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return busy, logged, copied


# The pool's defaults (ONETHING_DB_POOL_SIZE, ONETHING_DB_MAX_OVERFLOW)
POOL_SIZE = 10
POOL_OVERFLOW = 20


def make_engine(
    url: str, *, pool_size: int = POOL_SIZE, max_overflow: int = POOL_OVERFLOW
) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout. PostgreSQL gets a
    pool of `pool_size` connections, and up to `max_overflow` more under load."""
    if url.startswith("sqlite"):
        db = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            hide_parameters=True,  # an error's message (logged) never carries the values
        )
        event.listen(db, "connect", _tune_sqlite)
        return db
    # No pre-ping round trip per checkout: connections are recycled instead, and one cut by a
    # restart or a failover fails at its first use, which invalidates the pool (a 503 at most:
    # services/db_outage.py). A server that does not answer at all (an address moving in a
    # failover) fails a new connection after CONNECT_TIMEOUT seconds, unless the URL says.
    connect_args = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT}
    db = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args=connect_args,
    )
    db_outage.invalidate_on_outage(db)  # e.g. a connection left on a demoted primary
    return db


CONNECT_TIMEOUT = 5  # seconds (libpq's connect_timeout; the URL's own wins)


def pool_capacity(db: Engine) -> int | None:
    """How many connections the engine's pool hands out at most (None: no fixed bound)."""
    pool = db.pool
    if isinstance(pool, QueuePool):
        return pool.size() + max(pool._max_overflow, 0)  # noqa: SLF001 - no public accessor
    return None


MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the schema create_all made before migrations existed
MIGRATION_LOCK = 20261123  # PostgreSQL advisory lock: one process migrates at a time


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Engine) -> str | None:
    with db.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(db: Engine, revision: str = "head") -> str | None:
    """Bring the schema to `revision` (default: the newest), keeping every row.

    An empty database gets the whole schema at once and is marked as up to date; a database made
    by create_all before migrations existed is marked as the baseline, then upgraded. Returns the
    revision the database was at before."""
    with db.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        config = alembic_config(connection)
        if before is None:
            existing = set(inspect(connection).get_table_names())
            if not existing & set(SQLModel.metadata.tables):
                if revision == "head":
                    SQLModel.metadata.create_all(connection)
                    command.stamp(config, "head")
                    return None
            else:
                command.stamp(config, BASELINE)
        command.upgrade(config, revision)
    return before


def create_schema(db: Engine) -> None:
    """The schema at its newest revision (see `migrate`)."""
    migrate(db)
