"""Shared state for several hosts: uploaded files kept in the database (`stored_file`, the
default file store with PostgreSQL) and the certificate signing keys with their key ids
(`signing_key`: the active key signs, retired keys still verify).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_file",
        sa.Column("name", _text(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "signing_key",
        sa.Column("key_id", _text(length=16), nullable=False),
        sa.Column("public_key", _text(length=44), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("retired_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("key_id"),
    )


def downgrade() -> None:
    op.drop_table("signing_key")
    op.drop_table("stored_file")
