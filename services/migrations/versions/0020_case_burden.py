"""The burden each case measured: fields typed, materials uploaded, trips (issue 22):
`case_burden`, one row per case (services/cases/burden_measured.py).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_burden",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("fields_typed", sa.Integer(), nullable=False),
        sa.Column("fields_prefilled", sa.Integer(), nullable=False),
        sa.Column("materials_uploaded", sa.Integer(), nullable=False),
        sa.Column("materials_fetched", sa.Integer(), nullable=False),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("started_from_offer", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )


def downgrade() -> None:
    op.drop_table("case_burden")
