"""The service catalog as data administrators edit: `catalog_version`, each a numbered, immutable
copy of the whole catalog (facts, items, matters) with who saved it, when and why.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("what", _text(length=200), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("comment", _text(length=500), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["author_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_catalog_version_number"),
    )


def downgrade() -> None:
    op.drop_table("catalog_version")
