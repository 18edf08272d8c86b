"""Each approved item's result data (numbers assigned, dates, places) recorded by the clerk or the
department's system and printed on its certificate (`case_item.result_data`); a certificate's
holder is the item's subject, an enterprise's name and credit code too, so its columns widen.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_item") as table:
        table.add_column(sa.Column("result_data", sa.JSON(), nullable=True))
    with op.batch_alter_table("certificate") as table:
        table.alter_column(
            "holder_name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            type_=sqlmodel.sql.sqltypes.AutoString(length=200),
            existing_nullable=False,
        )
        table.alter_column(
            "holder_id_number",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=18),
            type_=sqlmodel.sql.sqltypes.AutoString(length=40),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("certificate") as table:
        table.alter_column(
            "holder_id_number",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
            type_=sqlmodel.sql.sqltypes.AutoString(length=18),
            existing_nullable=False,
        )
        table.alter_column(
            "holder_name",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=200),
            type_=sqlmodel.sql.sqltypes.AutoString(length=64),
            existing_nullable=False,
        )
    with op.batch_alter_table("case_item") as table:
        table.drop_column("result_data")
