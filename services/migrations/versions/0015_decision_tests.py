"""Test cases of decision tables (DMN) that an administrator saved: `decision_test_suite`, one per
matter and decision (services/decision_tests.py; without a row, the seed file's cases count).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_test_suite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("decision_id", _text(length=200), nullable=False),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["author_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("matter", "decision_id", name="uq_decision_test_suite_decision"),
    )


def downgrade() -> None:
    op.drop_table("decision_test_suite")
