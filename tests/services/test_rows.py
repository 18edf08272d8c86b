"""Rows of Core statements as detached ORM objects, and one-statement row writes
(services/rows.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import object_session
from sqlalchemy.orm.base import instance_state
from sqlalchemy.orm.exc import DetachedInstanceError
from sqlmodel import Session

from services import journal, rows
from services.accounts.models import User
from services.cases.models import Case, CaseItem


@pytest.fixture
def stored(db):
    """A user, a case of theirs and one item of it, committed; their ids."""
    with Session(db) as session:
        user = User(username="u1", display_name="甲", role="citizen", password_hash="x")
        session.add(user)
        session.flush()
        case = Case(
            matter="newborn",
            applicant_user_id=user.id,
            applicant_id_number="110101199003071234",
            applicant_name="甲",
            data={"phone": "13800000000"},
        )
        session.add(case)
        session.flush()
        item = CaseItem(
            case_id=case.id, item_code="birth", department="police", due_date=date.today()
        )
        session.add(item)
        session.commit()
        return user.id, case.id, item.id


def _read(session, model, key):
    table = model.__table__
    return session.connection().execute(select(*rows.columns(model)).where(table.c.id == key)).one()


def test_a_detached_object_holds_the_row_and_its_identity(db, stored):
    user_id, case_id, _ = stored
    with Session(db) as session:
        user = rows.detached(User, _read(session, User, user_id))
        case = rows.detached(Case, _read(session, Case, case_id))
    assert (user.id, user.username, user.display_name, user.active) == (user_id, "u1", "甲", True)
    assert case.data == {"phone": "13800000000"}
    state = instance_state(user)
    assert state.detached and state.key[1] == (user_id,)
    assert object_session(user) is None


def test_an_attribute_left_out_raises_instead_of_reading_none(db, stored):
    _, case_id, _ = stored
    with Session(db) as session:
        row = _read(session, Case, case_id)
    names = ("id", "number", "applicant_name")
    values = [row._mapping[Case.__table__.c[name]] for name in names]
    case = rows.detached(Case, values, names)
    assert case.applicant_name == "甲"
    with pytest.raises(DetachedInstanceError):
        _ = case.data  # the application's data was not read: it is not there to show


def test_added_to_a_session_it_updates_the_stored_row_and_never_inserts(db, stored):
    user_id, _, _ = stored
    with Session(db) as session:
        user = rows.detached(User, _read(session, User, user_id))
    with Session(db) as session:
        session.add(user)
        user.display_name = "乙"
        session.commit()
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(User.__table__)) == 1
        assert session.get(User, user_id).display_name == "乙"


def test_write_updates_the_row_and_the_object_in_one_statement(db, stored):
    _, _, item_id = stored
    with Session(db) as session:
        item = session.get(CaseItem, item_id)
        sent = []

        def count(_conn, _cursor, statement, *_args):
            sent.append(statement)

        event.listen(db, "before_cursor_execute", count)
        try:
            rows.write(session, item, status="approved", correction={"note": "ok"}, corrections=2)
        finally:
            event.remove(db, "before_cursor_execute", count)
        assert len(sent) == 1 and sent[0].startswith("UPDATE case_item")
        # the object holds the values as stored, not as pending changes
        assert (item.status, item.correction, item.corrections) == ("approved", {"note": "ok"}, 2)
        assert not session.dirty
        # and the session knows its transaction wrote: nobody may commit it on the way out
        assert journal.uncommitted(session)
        session.rollback()
    with Session(db) as session:
        assert session.get(CaseItem, item_id).status == "processing"  # rolled back: nothing kept
    with Session(db) as session:
        item = session.get(CaseItem, item_id)
        rows.write(session, item, status="rejected")
        session.commit()
    with Session(db) as session:
        assert session.get(CaseItem, item_id).status == "rejected"
