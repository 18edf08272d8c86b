"""Application drafts a citizen saves and resumes (across sign-ins, for a limited time):
`application_draft`, one per citizen and matter.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "application_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("saved_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_application_draft_owner", "application_draft", ["user_id", "matter"], unique=True
    )
    op.create_index("ix_application_draft_expires_at", "application_draft", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_application_draft_expires_at", table_name="application_draft")
    op.drop_index("ux_application_draft_owner", table_name="application_draft")
    op.drop_table("application_draft")
