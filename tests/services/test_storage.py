"""The file stores keep a file only when its transaction commits, and delete it only then."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.errors import NotFound
from services.storage import DatabaseStore, DirectoryStore, FileStore

NAME = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["database", "directory"])
def store(request, tmp_path) -> FileStore:
    if request.param == "database":
        return DatabaseStore()
    return DirectoryStore(tmp_path / "shared", shared=True)


def _get(db: Engine, store: FileStore) -> bytes | None:
    with Session(db) as session:
        try:
            return store.get(session, NAME)
        except NotFound:
            return None


def test_a_file_is_kept_and_deleted_only_when_its_transaction_commits(db, store):
    with Session(db) as session:
        store.put(session, NAME, b"first")
        session.rollback()
    assert _get(db, store) is None
    with Session(db) as session:
        store.put(session, NAME, b"kept")
        session.commit()
    assert _get(db, store) == b"kept"
    with Session(db) as session:
        store.delete(session, NAME)
        session.rollback()
    assert _get(db, store) == b"kept"
    with Session(db) as session:
        store.delete(session, NAME)
        session.commit()
    assert _get(db, store) is None


def test_a_file_written_by_a_session_closed_without_commit_is_gone(db, store):
    with Session(db) as session:
        store.put(session, NAME, b"never committed")
    assert _get(db, store) is None
