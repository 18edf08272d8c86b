"""Configuration of departments (names and public service information) and of the holiday
calendar (day overrides over the published schedule), each with its record of changes; indexes
for the queue's every-status view by due date and its search by the citizen ID's last four.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("old", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("new", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_calendar_change_day"), "calendar_change", ["day"], unique=False)
    op.create_table(
        "calendar_override",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("is_working_day", sa.Boolean(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "department_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("what", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("old", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("new", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_department_change_department"), "department_change", ["department"], unique=False
    )
    op.create_table(
        "department_setting",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("opening_hours", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("supervisor_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_case_item_due", "case_item", ["department", "due_date", "id"], unique=False)
    op.create_index(
        "ix_case_file_id_last4",
        "case_file",
        [sa.text("substr(applicant_id_number, 15, 4)")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_case_file_id_last4", table_name="case_file")
    op.drop_index("ix_case_item_due", table_name="case_item")
    op.drop_table("department_setting")
    op.drop_index(op.f("ix_department_change_department"), table_name="department_change")
    op.drop_table("department_change")
    op.drop_table("calendar_override")
    op.drop_index(op.f("ix_calendar_change_day"), table_name="calendar_change")
    op.drop_table("calendar_change")
