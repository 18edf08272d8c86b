"""An index for a clerk's own claimed tasks (the queue's "mine" count and filter).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_item_claimed", "case_item", ["claimed_by", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_item_claimed", table_name="case_item")
