"""Authorizations to act for someone else, 代办 (issue 22, services/agency/):
`agency_authorization` and `agency_case` (the cases an agent filed under one).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agency_authorization",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("principal_user_id", sa.Integer(), nullable=False),
        sa.Column("principal_id_number", _text(length=18), nullable=False),
        sa.Column("principal_name", _text(length=64), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=False),
        sa.Column("agent_id_number", _text(length=18), nullable=False),
        sa.Column("agent_name", _text(length=64), nullable=False),
        sa.Column("matters", sa.JSON(), nullable=False),
        sa.Column("all_matters", sa.Boolean(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("recorded_via", _text(length=16), nullable=False),
        sa.Column("clerk_user_id", sa.Integer(), nullable=True),
        sa.Column("scan_stored_name", _text(length=64), nullable=True),
        sa.Column("scan_filename", _text(length=200), nullable=True),
        sa.Column("scan_content_type", _text(length=64), nullable=True),
        sa.Column("scan_sha256", _text(length=64), nullable=True),
        sa.Column("withdrawn_at", _time(), nullable=True),
        sa.Column("withdrawn_by", sa.Integer(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["principal_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["agent_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["clerk_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["withdrawn_by"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_agency_authorization_principal_user_id", "agency_authorization", ["principal_user_id"]
    )
    op.create_index(
        "ix_agency_authorization_agent_user_id", "agency_authorization", ["agent_user_id"]
    )
    op.create_table(
        "agency_case",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("authorization_id", sa.Integer(), nullable=False),
        sa.Column("agent_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"]),
        sa.ForeignKeyConstraint(["authorization_id"], ["agency_authorization.id"]),
        sa.ForeignKeyConstraint(["agent_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_agency_case_authorization_id", "agency_case", ["authorization_id"])
    op.create_index("ix_agency_case_agent_user_id", "agency_case", ["agent_user_id"])


def downgrade() -> None:
    op.drop_index("ix_agency_case_agent_user_id", table_name="agency_case")
    op.drop_index("ix_agency_case_authorization_id", table_name="agency_case")
    op.drop_table("agency_case")
    op.drop_index("ix_agency_authorization_agent_user_id", table_name="agency_authorization")
    op.drop_index("ix_agency_authorization_principal_user_id", table_name="agency_authorization")
    op.drop_table("agency_authorization")
