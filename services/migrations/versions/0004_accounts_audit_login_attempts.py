"""Accounts: the record of administrators' changes to accounts, and sign-in attempts (for the
login rate limit).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("old_value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("new_value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_account_change_user_id"), "account_change", ["user_id"], unique=False)
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_login_attempt_address", "login_attempt", ["address", "created_at"], unique=False
    )
    op.create_index(op.f("ix_login_attempt_user_id"), "login_attempt", ["user_id"], unique=False)
    op.create_index(
        "ix_login_attempt_username", "login_attempt", ["username_key", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_login_attempt_username", table_name="login_attempt")
    op.drop_index(op.f("ix_login_attempt_user_id"), table_name="login_attempt")
    op.drop_index("ix_login_attempt_address", table_name="login_attempt")
    op.drop_table("login_attempt")
    op.drop_index(op.f("ix_account_change_user_id"), table_name="account_change")
    op.drop_table("account_change")
