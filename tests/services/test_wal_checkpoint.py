"""A server on SQLite copies the write-ahead log back into the database in its own thread, so
that no request waits for it; a committing connection does it itself only past a safety limit."""

from __future__ import annotations

from sqlalchemy import text

from services.db import SAFETY_CHECKPOINT_PAGES, checkpoint_wal, make_engine, wal_checkpointer


def test_requests_leave_the_checkpoint_to_the_servers_own_thread(tmp_path):
    path = tmp_path / "wal.sqlite"
    db = make_engine(f"sqlite:///{path}")
    try:
        with db.begin() as connection:
            limit = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
            assert limit == SAFETY_CHECKPOINT_PAGES
            connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        for _ in range(50):  # well below the safety limit: no commit copies the log back
            with db.begin() as connection:
                connection.execute(text("INSERT INTO note (body) VALUES (:b)"), {"b": "x" * 4000})
        before = path.stat().st_size
        busy, logged, copied = checkpoint_wal(db)
        assert busy == 0 and logged >= 50 and copied == logged
        assert path.stat().st_size > before + 50 * 4000  # the rows are in the database file
        worker = wal_checkpointer(db)
        assert worker is not None and worker.name == "wal-checkpoint"
    finally:
        db.dispose()


def test_postgresql_needs_no_checkpointer():
    db = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    try:
        assert wal_checkpointer(db) is None
    finally:
        db.dispose()
