"""Alembic's environment: migrations run on the connection OneThing hands over (see services/db.py),
against the metadata of every table the application defines."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import services.db  # noqa: F401 - registers every table on SQLModel.metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    compare_type=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
