"""The department queue at a million cases (issue 23): the queue's indexes end with the task
id, so that a page ordered by due date (or receipt) and id is read in index order and picked
from the index alone; a clerk's claimed tasks are counted from the index alone; the open
unclaimed tasks have a partial index of their own (the queue's "unclaimed" count and filter
walked every open task of the department and read each row); a case's items are indexed with
the queue's columns, so that a search finding a few cases (a day's case numbers) finds and
sorts their tasks from the index alone.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

UNCLAIMED = sa.text("status = 'processing' AND claimed_by IS NULL")


def _replace(name: str, columns: list[str]) -> None:
    op.drop_index(name, table_name="case_item")
    op.create_index(name, "case_item", columns, unique=False)


def upgrade() -> None:
    _replace("ix_case_item_queue", ["department", "status", "due_date", "id"])
    _replace("ix_case_item_received", ["department", "status", "created_at", "id"])
    _replace("ix_case_item_claimed", ["claimed_by", "status", "department"])
    _replace("ix_case_item_case_id", ["case_id", "department", "status", "due_date", "id"])
    op.create_index(
        "ix_case_item_unclaimed",
        "case_item",
        ["department", "due_date", "id"],
        unique=False,
        postgresql_where=UNCLAIMED,
        sqlite_where=UNCLAIMED,
    )


def downgrade() -> None:
    op.drop_index("ix_case_item_unclaimed", table_name="case_item")
    _replace("ix_case_item_case_id", ["case_id"])
    _replace("ix_case_item_claimed", ["claimed_by", "status"])
    _replace("ix_case_item_received", ["department", "status", "created_at"])
    _replace("ix_case_item_queue", ["department", "status", "due_date"])
