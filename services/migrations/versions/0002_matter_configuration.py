"""Matter configuration: publication and item conditions set by administrators, with their record.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "matter_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("old", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("new", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_matter_change_matter"), "matter_change", ["matter"], unique=False)
    op.create_table(
        "matter_setting",
        sa.Column("matter", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("matter"),
    )


def downgrade() -> None:
    op.drop_table("matter_setting")
    op.drop_index(op.f("ix_matter_change_matter"), table_name="matter_change")
    op.drop_table("matter_change")
