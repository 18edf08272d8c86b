"""Background jobs claimed once across hosts (`periodic_job`) and the retention purge's marks:
when a case's and a certificate's personal data were purged (`purged_at`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PURGED = ("case_file", "certificate")


def upgrade() -> None:
    op.create_table(
        "periodic_job",
        sa.Column("name", _text(length=64), nullable=False),
        sa.Column("next_run_at", _time(), nullable=False),
        sa.Column("locked_by", _text(length=64), nullable=True),
        sa.Column("lock_expires_at", _time(), nullable=True),
        sa.Column("last_started_at", _time(), nullable=True),
        sa.Column("last_finished_at", _time(), nullable=True),
        sa.Column("last_outcome", _text(length=16), nullable=True),
        sa.Column("last_summary", _text(length=500), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    for table_name in PURGED:
        with op.batch_alter_table(table_name) as table:
            table.add_column(sa.Column("purged_at", _time(), nullable=True))


def downgrade() -> None:
    for table_name in PURGED:
        with op.batch_alter_table(table_name) as table:
            table.drop_column("purged_at")
    op.drop_table("periodic_job")
