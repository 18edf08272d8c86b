"""Trust: a case item names its SpiffWorkflow task `engine_task_id` (a "task" elsewhere is the
item itself).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_case_item_task_id", table_name="case_item")
    op.execute("ALTER TABLE case_item RENAME COLUMN task_id TO engine_task_id")
    op.create_index("ix_case_item_engine_task_id", "case_item", ["engine_task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_case_item_engine_task_id", table_name="case_item")
    op.execute("ALTER TABLE case_item RENAME COLUMN engine_task_id TO task_id")
    op.create_index("ix_case_item_task_id", "case_item", ["task_id"], unique=False)
