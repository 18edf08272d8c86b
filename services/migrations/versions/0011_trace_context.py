"""The W3C trace context a case carries from its submission to registry calls, external tasks and
webhooks: the case's `traceparent`, and each webhook delivery's (sent as its header).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TRACED = ("case_file", "webhook_delivery")


def upgrade() -> None:
    for table_name in TRACED:
        with op.batch_alter_table(table_name) as table:
            table.add_column(
                sa.Column("traceparent", sqlmodel.sql.sqltypes.AutoString(length=55), nullable=True)
            )


def downgrade() -> None:
    for table_name in TRACED:
        with op.batch_alter_table(table_name) as table:
            table.drop_column("traceparent")
