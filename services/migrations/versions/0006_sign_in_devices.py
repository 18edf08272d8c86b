"""Sign-in throttling without lockouts: recognised devices (their own budget per account), the
device an attempt came from, and an index to prune old attempts by time.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "known_device",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_known_device_user_id"), "known_device", ["user_id"], unique=False)
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
    op.create_index("ix_login_attempt_created", "login_attempt", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_attempt_created", table_name="login_attempt")
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_column("device_id")
    op.drop_index(op.f("ix_known_device_user_id"), table_name="known_device")
    op.drop_table("known_device")
