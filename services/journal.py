"""Append-only rows of a transaction (case history, the applicants' inbox, the data-access log),
written with one multi-row INSERT per table when the transaction commits.

A case step writes many such rows (a submission: an event and a notification for each routed
item, a data-access row for each registry record read). Added to the ORM session one by one,
each became its own INSERT ... RETURNING, because the ORM wants every new row's id back; nobody
needs these ids. `append` keeps the row's values in the session's journal instead (no ORM
object is built), and `before_commit` writes the journal in table order, oldest first, in the
same transaction: the rows land together with the step or, on rollback, not at all. `write`
writes them at once, for a caller that reads them back before committing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import event, insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import SQLModel

_KEY = "onething.journal"


@cache
def _columns(model: type[SQLModel]) -> tuple[tuple[str, Any, Any], ...]:
    """(name, default, default factory) of the model's columns, but an autoincrement key."""
    found = []
    for column in model.__table__.columns:
        if column.primary_key and column.autoincrement in (True, "auto"):
            continue
        info = model.model_fields[column.name]
        default = None if info.default is PydanticUndefined else info.default
        found.append((column.name, default, info.default_factory))
    return tuple(found)


def append(session: OrmSession, model: type[SQLModel], **values: Any) -> dict[str, Any]:
    """Journal a new row of `model` (its fields' defaults apply); returns its column values.
    It is inserted when the session's transaction commits."""
    row = {
        name: values[name] if name in values else (factory() if factory else default)
        for name, default, factory in _columns(model)
    }
    unknown = values.keys() - row.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column {sorted(unknown)}")
    if not session.in_transaction():
        session.begin()  # as `Session.add` would: the row belongs to this transaction
    session.info.setdefault(_KEY, {}).setdefault(model.__table__, []).append(row)
    return row


def pending(session: OrmSession, model: type[SQLModel]) -> list[dict[str, Any]]:
    """The journalled, not yet written rows of `model` (column values)."""
    return list(session.info.get(_KEY, {}).get(model.__table__, []))


def pending_any(session: OrmSession) -> bool:
    """Whether the session's transaction journalled rows it has not written yet."""
    return bool(session.info.get(_KEY))


_WROTE = "onething.wrote"  # session.info key: the open transaction sent a write


def uncommitted(session: OrmSession) -> bool:
    """Whether the session's open transaction holds anything not committed: ORM changes not
    flushed yet, journalled rows, or writes already sent (a flush, an INSERT, UPDATE or DELETE
    statement). Such a transaction must be committed by the operation that made it, or rolled
    back; nobody else may commit it on the way out."""
    return bool(
        session.new
        or session.dirty
        or session.deleted
        or session.info.get(_KEY)
        or session.info.get(_WROTE)
    )


def mark_written(session: OrmSession) -> None:
    """The open transaction sent a write the session did not see (a Core statement executed on
    its connection, services/rows.py): `uncommitted` must say so."""
    session.info[_WROTE] = True


@event.listens_for(OrmSession, "after_flush")
def _flushed(session: OrmSession, _context) -> None:
    session.info[_WROTE] = True


@event.listens_for(OrmSession, "do_orm_execute")
def _executed(state) -> None:
    if not state.is_select:
        state.session.info[_WROTE] = True


@event.listens_for(OrmSession, "after_transaction_end")
def _ended(session: OrmSession, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


def write(session: OrmSession) -> None:
    """Insert the journalled rows now, in the session's transaction (one INSERT per table)."""
    tables = session.info.pop(_KEY, None)
    if not tables:
        return
    session.flush()  # rows the journal's rows refer to (a new case) go first
    send = session.connection().execute  # Core, as built: nothing for the ORM to do
    for table, rows in tables.items():
        send(_insert(table), rows)
    mark_written(session)


@cache
def _insert(table):
    return insert(table)  # built once per table: building costs more than a small insert


@event.listens_for(OrmSession, "before_commit")
def _before_commit(session: OrmSession) -> None:
    write(session)


@event.listens_for(OrmSession, "after_soft_rollback")
def _after_rollback(session: OrmSession, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_KEY, None)
