"""Operators' actions on groups of incidents: `incident_batch`, one row per retry or resolve of
a group, with each case's outcome (services/incident_batches.py, services/operations.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incident_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", _text(length=16), nullable=False),
        sa.Column("action", _text(length=8), nullable=False),
        sa.Column("kind", _text(length=20), nullable=False),
        sa.Column("step", _text(length=32), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("item", _text(length=100), nullable=False),
        sa.Column("department", _text(length=32), nullable=False),
        sa.Column("element", _text(length=200), nullable=False),
        sa.Column("cause", _text(length=200), nullable=False),
        sa.Column("reason", _text(length=200), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_batch_group_id", "incident_batch", ["group_id"])
    op.create_index("ix_incident_batch_at", "incident_batch", ["at"])


def downgrade() -> None:
    op.drop_index("ix_incident_batch_at", table_name="incident_batch")
    op.drop_index("ix_incident_batch_group_id", table_name="incident_batch")
    op.drop_table("incident_batch")
