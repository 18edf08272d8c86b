"""Webhook deliveries are claimed by one sender at a time (lock owner and expiry), as timer jobs
are: with several workers or hosts each delivery is sent once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as table:
        table.add_column(
            sa.Column("locked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        table.add_column(
            sa.Column("lock_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery") as table:
        table.drop_column("lock_expires_at")
        table.drop_column("locked_by")
