"""Trust: a case item names its SpiffWorkflow task `engine_task_id` (a "task" elsewhere is the
item itself); one open or granted case per matter and subject (`case_file.subject_key`); files
kept for a refused submission (`draft_upload`); idempotency keys of the JSON API
(`idempotent_request`); the registries' facts kept for an application (`prefill_snapshot`), and
the data-access log's case numbers and prefill links; walk-in applicants recorded at the
front desk (`window_visit`); incidents of processes that could not run on (`incident`).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

_text = sqlmodel.sql.sqltypes.AutoString
_time = sqlmodel.sql.sqltypes.UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_case_item_task_id", table_name="case_item")
    op.execute("ALTER TABLE case_item RENAME COLUMN task_id TO engine_task_id")
    op.create_index("ix_case_item_engine_task_id", "case_item", ["engine_task_id"], unique=False)

    op.add_column("case_file", sa.Column("subject_key", _text(length=200), nullable=True))
    op.create_index("ux_case_file_subject", "case_file", ["matter", "subject_key"], unique=True)

    op.create_table(
        "draft_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", _text(length=64), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("material_code", _text(length=64), nullable=False),
        sa.Column("filename", _text(length=200), nullable=False),
        sa.Column("content_type", _text(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", _text(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["owner_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["applicant_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_draft_upload_owner_user_id", "draft_upload", ["owner_user_id"])
    op.create_index("ix_draft_upload_expires_at", "draft_upload", ["expires_at"])

    op.create_table(
        "idempotent_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", _text(length=200), nullable=False),
        sa.Column("fingerprint", _text(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ux_idempotent_request_key", "idempotent_request", ["user_id", "key"], unique=True
    )
    op.create_index("ix_idempotent_request_created_at", "idempotent_request", ["created_at"])

    op.create_table(
        "prefill_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("unavailable", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["applicant_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["actor_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_prefill_snapshot_applicant_user_id", "prefill_snapshot", ["applicant_user_id"]
    )
    op.create_index("ix_prefill_snapshot_expires_at", "prefill_snapshot", ["expires_at"])

    op.create_table(
        "window_visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clerk_user_id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["clerk_user_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["applicant_user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_window_visit_clerk_user_id", "window_visit", ["clerk_user_id"])

    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("matter", _text(length=64), nullable=False),
        sa.Column("step", _text(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_item_id", sa.Integer(), nullable=True),
        sa.Column("element_id", _text(length=200), nullable=False),
        sa.Column("element_name", _text(length=200), nullable=False),
        sa.Column("reason", _text(length=500), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_at", "incident", ["at"])
    op.create_index("ix_incident_case_id", "incident", ["case_id"])

    op.add_column("data_access", sa.Column("case_number", _text(length=32), nullable=True))
    op.add_column("data_access", sa.Column("lookup_id", sa.Integer(), nullable=True))
    op.create_index("ix_data_access_lookup_id", "data_access", ["lookup_id"])


def downgrade() -> None:
    op.drop_index("ix_data_access_lookup_id", table_name="data_access")
    with op.batch_alter_table("data_access") as batch:
        batch.drop_column("lookup_id")
        batch.drop_column("case_number")
    op.drop_table("incident")
    op.drop_table("window_visit")
    op.drop_table("prefill_snapshot")
    op.drop_table("idempotent_request")
    op.drop_table("draft_upload")
    op.drop_index("ux_case_file_subject", table_name="case_file")
    with op.batch_alter_table("case_file") as batch:
        batch.drop_column("subject_key")
    op.drop_index("ix_case_item_engine_task_id", table_name="case_item")
    op.execute("ALTER TABLE case_item RENAME COLUMN engine_task_id TO task_id")
    op.create_index("ix_case_item_task_id", "case_item", ["task_id"], unique=False)
