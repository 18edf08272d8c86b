"""Registry events and the offers they start (issue 22, services/offers/): `registry_event`
(unique per source and the source's event id), `offer`, `offer_log`.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", _text(length=32), nullable=False),
        sa.Column("event_id", _text(length=64), nullable=False),
        sa.Column("kind", _text(length=32), nullable=False),
        sa.Column("subject_id", _text(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("offers_made", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "event_id", name="uq_registry_event_source_id"),
    )
    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_row_id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("id_number", _text(length=18), nullable=False),
        sa.Column("role", _text(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("reason", _text(length=300), nullable=False),
        sa.Column("reason_en", _text(length=300), nullable=False),
        sa.Column("status", _text(length=16), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.Column("decided_at", _time(), nullable=True),
        sa.Column("decline_reason", _text(length=200), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_row_id"], ["registry_event.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_row_id", "matter", "id_number", name="uq_offer_event_person"),
    )
    op.create_index("ix_offer_person", "offer", ["id_number", "id"])
    op.create_index("ix_offer_expires_at", "offer", ["expires_at"])
    op.create_index("ix_offer_case_id", "offer", ["case_id"])
    op.create_table(
        "offer_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("event_row_id", sa.Integer(), nullable=True),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("action", _text(length=32), nullable=False),
        sa.Column("actor", _text(length=64), nullable=False),
        sa.Column("detail", _text(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_offer_log_at", "offer_log", ["at"])
    op.create_index("ix_offer_log_event_row_id", "offer_log", ["event_row_id"])
    op.create_index("ix_offer_log_offer_id", "offer_log", ["offer_id"])


def downgrade() -> None:
    for name in ("ix_offer_log_offer_id", "ix_offer_log_event_row_id", "ix_offer_log_at"):
        op.drop_index(name, table_name="offer_log")
    op.drop_table("offer_log")
    for name in ("ix_offer_case_id", "ix_offer_expires_at", "ix_offer_person"):
        op.drop_index(name, table_name="offer")
    op.drop_table("offer")
    op.drop_table("registry_event")
