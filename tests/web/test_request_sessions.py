"""How a request's database transaction ends: read-only ones commit (on PostgreSQL a rollback
would drop the connection's prepared statements), one holding changes nobody committed is
still rolled back, and journalled rows land only with a commit. Routes marked read_only run
without a transaction and may not write."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, func, select

from demo.seed import DEMO_PASSWORD
from services import journal
from services.notifications.models import Notification
from services.notifications.service import notify
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from web.deps import (
    CurrentUser,
    ReadOnlyViolation,
    SessionDep,
    end_read_only,
    has_changes,
    read_only,
)


def _inbox_size(rt, user_id: int) -> int:
    with Session(rt.db) as session:
        query = select(func.count()).select_from(Notification)
        return session.exec(query.where(Notification.user_id == user_id)).one()


def _notice(session, user_id: int, title: str, batched: bool) -> None:
    """An inbox row: an ORM object, or a journalled row when `batched`."""
    notify(
        session,
        user_id=user_id,
        case_id=None,
        kind="submitted",
        title=title,
        body="正文",
        batched=batched,
    )


def test_a_read_only_transaction_is_committed(rt, user_of):
    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        session.exec(select(Notification).where(Notification.user_id == mother.id)).all()
        assert session.in_transaction() and not has_changes(session)
        end_read_only(session)
        assert not session.in_transaction()


def test_uncommitted_changes_are_not_committed_by_the_end_of_a_request(rt, user_of):
    mother = user_of(MOTHER)
    before = _inbox_size(rt, mother.id)
    for batched in (False, True):  # an ORM object, a journalled row
        with Session(rt.db) as session:
            _notice(session, mother.id, "未提交", batched)
            assert has_changes(session)
            assert bool(journal.pending(session, Notification)) is batched
            end_read_only(session)
            assert session.in_transaction()  # left for the session's close to roll back
        assert _inbox_size(rt, mother.id) == before


def test_journalled_rows_land_with_the_commit_and_in_order(rt, user_of):
    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        for title in ("第一条", "第二条", "第三条"):
            notify(
                session,
                user_id=mother.id,
                case_id=None,
                kind="submitted",
                title=title,
                body="正文",
                batched=True,
            )
        session.commit()
        assert not journal.pending(session, Notification)
    with Session(rt.db) as session:
        rows = session.exec(
            select(Notification.title)
            .where(Notification.user_id == mother.id)
            .order_by(Notification.id)
        ).all()
    assert list(rows)[-3:] == ["第一条", "第二条", "第三条"]


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _autocommit(dbapi_connection) -> bool:
    if hasattr(dbapi_connection, "autocommit"):  # psycopg
        return bool(dbapi_connection.autocommit)
    return dbapi_connection.isolation_level is None  # sqlite3


def test_listings_run_their_statements_without_a_transaction(rt, app):
    """A read_only route's statements run in autocommit mode (no BEGIN and COMMIT round trips
    on PostgreSQL); the connection goes back to the pool as it was, and a writing request
    after it runs in a transaction again."""
    seen: list[tuple[str, bool]] = []

    def spy(conn, _cursor, statement, _params, _context, _many):
        seen.append((statement.split()[0], _autocommit(conn.connection.dbapi_connection)))

    event.listen(rt.db, "before_cursor_execute", spy)
    try:
        with TestClient(app) as client:
            clerk = _bearer(client, "police01")
            citizen = _bearer(client, MOTHER)
            seen.clear()
            assert client.get("/api/v1/tasks", headers=clerk).status_code == 200
            assert client.get("/api/v1/queue", headers=clerk).status_code == 200
            assert client.get("/api/v1/cases", headers=citizen).status_code == 200
            listings = list(seen)
            seen.clear()
            created = client.post(
                "/api/v1/cases",
                json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
                headers=citizen,
            )
            assert created.status_code == 201, created.text
            writes = list(seen)
    finally:
        event.remove(rt.db, "before_cursor_execute", spy)
    assert len(listings) >= 6 and all(auto for _verb, auto in listings)
    assert any(verb == "INSERT" for verb, _auto in writes)
    assert not any(auto for _verb, auto in writes)
    with Session(rt.db) as session:  # every pooled connection is back in transaction mode
        assert not _autocommit(session.connection().connection.dbapi_connection)


def test_a_read_only_route_that_writes_fails_and_writes_nothing(rt, app, user_of):
    mother = user_of(MOTHER)
    before = _inbox_size(rt, mother.id)

    @app.get("/test/read-only-but-writes")
    @read_only
    def writes(session: SessionDep, user: CurrentUser, batched: bool = False):
        _notice(session, user.id, "不应写入", batched)
        return {"ok": True}

    with TestClient(app) as client:
        headers = _bearer(client, MOTHER)
        for batched in ("false", "true"):  # an ORM object, a journalled row
            with pytest.raises(ReadOnlyViolation):
                client.get(f"/test/read-only-but-writes?batched={batched}", headers=headers)
    assert _inbox_size(rt, mother.id) == before


def test_a_submission_answers_with_its_items_without_reading_them_back(rt, app):
    """The response to a submission lists the items the submission created, from the session
    (no second transaction to read them back), the same as the case view shows them."""
    seen: list[str] = []

    def statement(_conn, _cursor, sql, _params, _context, _many):
        seen.append(sql.split()[0])

    def commit(_conn):
        seen.append("COMMIT")

    with TestClient(app) as client:
        citizen = _bearer(client, MOTHER)
        event.listen(rt.db, "before_cursor_execute", statement)
        event.listen(rt.db, "commit", commit)
        try:
            created = client.post(
                "/api/v1/cases",
                json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
                headers=citizen,
            )
        finally:
            event.remove(rt.db, "before_cursor_execute", statement)
            event.remove(rt.db, "commit", commit)
        assert created.status_code == 201, created.text
        assert seen[-1] == "COMMIT" and seen.count("COMMIT") == 1
        shown = client.get(f"/api/v1/cases/{created.json()['id']}", headers=citizen).json()
    items = created.json()["items"]
    assert len(items) >= 5 and all(item["id"] for item in items)
    # (the case view also names each approved item's certificate, issued by that view)
    assert items == [{**item, "certificate": None} for item in shown["items"]]
