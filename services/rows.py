"""Rows of a Core statement as detached ORM objects, for the reads every request makes.

Loading an entity through the ORM (identity map, loader state, the session's bookkeeping, and
for a request's sign-in, taking the objects out of the session again) costs several times the
statement itself. A read whose objects are only looked at (who is signed in, a queue's rows)
can select the table's columns with a Core statement and build each object as the ORM's loader
would: `__new__` (SQLModel's, which prepares the pydantic side), the column values into its
`__dict__`, and its identity key, so that the object is *detached*: a session it is later added
to treats it as the stored row it is (an UPDATE of what changed, never an INSERT), and
`session.get` of its key still reads the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, bindparam, inspect, update
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state
from sqlmodel import SQLModel

from services import journal

M = TypeVar("M", bound=SQLModel)


def columns(model: type[SQLModel]) -> list[Column]:
    """The model's table columns, in table order: what `detached` takes a row slice of."""
    return list(model.__table__.columns)


def detached(model: type[M], values: Sequence[Any], names: Sequence[str] | None = None) -> M:
    """An object of `model` holding `values` (one per column of `columns(model)`, in order, or
    one per attribute of `names`, which must include the primary key), detached, with the
    identity of its primary key. An attribute `names` leaves out is unloaded, as if expired:
    reading it raises (a detached object cannot load it), never a silent None."""
    mapper = inspect(model)
    every = _names(model)
    obj = mapper.class_manager.new_instance()
    state = instance_state(obj)
    obj.__dict__.update(zip(every if names is None else names, values, strict=True))
    state.key = mapper.identity_key_from_primary_key([obj.__dict__[k] for k in _keys(model)])
    if names is not None:
        state.expired_attributes.update(set(every) - set(names))
    return obj


@cache
def _names(model: type[SQLModel]) -> tuple[str, ...]:
    """The model's attribute names, one per column of `columns(model)`."""
    configure_mappers()  # as the ORM's first query would (the attributes' loaders)
    mapper = inspect(model)
    return tuple(mapper.get_property_by_column(column).key for column in model.__table__.columns)


@cache
def _keys(model: type[SQLModel]) -> tuple[str, ...]:
    """The attribute names of the model's primary key."""
    mapper = inspect(model)
    return tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)


def write(session: Session, obj: SQLModel, **values: Any) -> None:
    """Set `values` (attribute: value) on `obj`'s stored row now, with one UPDATE by its primary
    key on the session's connection, in the session's transaction, and on `obj` as committed
    values: the ORM's unit of work (change tracking, a flush, its UPDATE) is not involved. For
    a step's own row changes on the write path; the session still knows it wrote (a refused
    step is rolled back, never committed on the way out)."""
    model = type(obj)
    params = {f"new_{name}": value for name, value in values.items()}
    for key in _keys(model):
        params[f"key_{key}"] = getattr(obj, key)
    session.connection().execute(_update(model, tuple(values)), params)
    journal.mark_written(session)
    for name, value in values.items():
        set_committed_value(obj, name, value)


@cache
def _update(model: type[SQLModel], names: tuple[str, ...]):
    """UPDATE of `names` by primary key, built once per model and set of attributes (building a
    statement and its cache key costs more than running it)."""
    column = dict(zip(_names(model), model.__table__.columns, strict=True))
    return (
        update(model.__table__)
        .where(*(column[key] == bindparam(f"key_{key}") for key in _keys(model)))
        .values({column[name]: bindparam(f"new_{name}") for name in names})
    )
