"""How a request's database transaction ends: read-only ones commit (on PostgreSQL a rollback
would drop the connection's prepared statements), one holding changes nobody committed is
still rolled back, and journalled rows land only with a commit."""

from __future__ import annotations

from sqlmodel import Session, func, select

from services import journal
from services.notifications.models import Notification
from services.notifications.service import notify
from tests.web.conftest import MOTHER
from web.deps import end_read_only, has_changes


def _inbox_size(rt, user_id: int) -> int:
    with Session(rt.db) as session:
        query = select(func.count()).select_from(Notification)
        return session.exec(query.where(Notification.user_id == user_id)).one()


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
            notify(
                session,
                user_id=mother.id,
                case_id=None,
                kind="submitted",
                title="未提交",
                body="正文",
                batched=batched,
            )
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
