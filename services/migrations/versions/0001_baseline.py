"""Baseline: the schema as it stood before migrations were introduced (created by create_all).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("subject_id_number", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("source_registry", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_data_access_actor_user_id"), "data_access", ["actor_user_id"], unique=False
    )
    op.create_index(op.f("ix_data_access_at"), "data_access", ["at"], unique=False)
    op.create_index(op.f("ix_data_access_case_id"), "data_access", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_data_access_subject_id_number"), "data_access", ["subject_id_number"], unique=False
    )
    op.create_table(
        "process_definition",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("process_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("decisions", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "process_id"),
    )
    op.create_table(
        "process_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("process_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_process_instance_completed"), "process_instance", ["completed"], unique=False
    )
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("supervisor", sa.Boolean(), nullable=False),
        sa.Column("id_number", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_index(op.f("ix_user_account_id_number"), "user_account", ["id_number"], unique=False)
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_due", "webhook_delivery", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "case_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("matter", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column(
            "applicant_id_number", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False
        ),
        sa.Column("applicant_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["applicant_user_id"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(
        op.f("ix_case_file_applicant_id_number"), "case_file", ["applicant_id_number"], unique=False
    )
    op.create_index(
        op.f("ix_case_file_applicant_user_id"), "case_file", ["applicant_user_id"], unique=False
    )
    op.create_index(op.f("ix_case_file_created_at"), "case_file", ["created_at"], unique=False)
    op.create_index(op.f("ix_case_file_matter"), "case_file", ["matter"], unique=False)
    op.create_index(op.f("ix_case_file_status"), "case_file", ["status"], unique=False)
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("matter", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("registries", sa.JSON(), nullable=False),
        sa.Column("granted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_consent_user_id"), "consent", ["user_id"], unique=False)
    op.create_table(
        "human_task",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("bpmn_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("lane", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("item", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("finding", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_human_task_instance_id"), "human_task", ["instance_id"], unique=False)
    op.create_index(op.f("ix_human_task_lane"), "human_task", ["lane"], unique=False)
    op.create_index(op.f("ix_human_task_state"), "human_task", ["state"], unique=False)
    op.create_table(
        "login_session",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_login_session_user_id"), "login_session", ["user_id"], unique=False)
    op.create_table(
        "process_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("matter", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("process_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("matter", "version", name="uq_process_version_matter"),
    )
    op.create_index(op.f("ix_process_version_matter"), "process_version", ["matter"], unique=False)
    op.create_table(
        "timer_job",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("item", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("deadline", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("locked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lock_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["process_instance.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_timer_job_due", "timer_job", ["status", "due_at"], unique=False)
    op.create_index(op.f("ix_timer_job_instance_id"), "timer_job", ["instance_id"], unique=False)
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_case_event_case_id"), "case_event", ["case_id"], unique=False)
    op.create_table(
        "case_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("clerk_user_id", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("finding", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("locked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("lock_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("incident", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("correction", sa.JSON(), nullable=False),
        sa.Column("corrections", sa.Integer(), nullable=False),
        sa.Column("deadline_flag", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("escalated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("result_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["claimed_by"],
            ["user_account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["clerk_user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_case_item_case_id"), "case_item", ["case_id"], unique=False)
    op.create_index(op.f("ix_case_item_claimed_by"), "case_item", ["claimed_by"], unique=False)
    op.create_index(
        "ix_case_item_item", "case_item", ["department", "item_code", "status"], unique=False
    )
    op.create_index(
        "ix_case_item_queue", "case_item", ["department", "status", "due_date"], unique=False
    )
    op.create_index(
        "ix_case_item_received", "case_item", ["department", "status", "created_at"], unique=False
    )
    op.create_index(op.f("ix_case_item_task_id"), "case_item", ["task_id"], unique=False)
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tracking_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index(op.f("ix_delivery_status"), "delivery", ["status"], unique=False)
    op.create_table(
        "evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name="ck_evaluation_level"),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index(op.f("ix_evaluation_user_id"), "evaluation", ["user_id"], unique=False)
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("read_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_inbox", "notification", ["user_id", "id"], unique=False)
    op.create_index(
        "ix_notification_unread",
        "notification",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
        sqlite_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("material_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("stored_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_upload_case_id"), "upload", ["case_id"], unique=False)
    op.create_table(
        "certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_item_id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("item_code", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("item_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("holder_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder_id_number", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("issuer_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["case_item_id"],
            ["case_item.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_item_id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index(op.f("ix_certificate_case_id"), "certificate", ["case_id"], unique=False)
    op.create_table(
        "evaluation_follow_up",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("callback_done", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["user_account.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evaluation_id", "department", name="uq_follow_up_department"),
    )
    op.create_index(
        "ix_follow_up_queue",
        "evaluation_follow_up",
        ["department", "status", "due_date"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_follow_up_queue", table_name="evaluation_follow_up")
    op.drop_table("evaluation_follow_up")
    op.drop_index(op.f("ix_certificate_case_id"), table_name="certificate")
    op.drop_table("certificate")
    op.drop_index(op.f("ix_upload_case_id"), table_name="upload")
    op.drop_table("upload")
    op.drop_index(
        "ix_notification_unread",
        table_name="notification",
        postgresql_where=sa.text("read_at IS NULL"),
        sqlite_where=sa.text("read_at IS NULL"),
    )
    op.drop_index("ix_notification_inbox", table_name="notification")
    op.drop_table("notification")
    op.drop_index(op.f("ix_evaluation_user_id"), table_name="evaluation")
    op.drop_table("evaluation")
    op.drop_index(op.f("ix_delivery_status"), table_name="delivery")
    op.drop_table("delivery")
    op.drop_index(op.f("ix_case_item_task_id"), table_name="case_item")
    op.drop_index("ix_case_item_received", table_name="case_item")
    op.drop_index("ix_case_item_queue", table_name="case_item")
    op.drop_index("ix_case_item_item", table_name="case_item")
    op.drop_index(op.f("ix_case_item_claimed_by"), table_name="case_item")
    op.drop_index(op.f("ix_case_item_case_id"), table_name="case_item")
    op.drop_table("case_item")
    op.drop_index(op.f("ix_case_event_case_id"), table_name="case_event")
    op.drop_table("case_event")
    op.drop_index(op.f("ix_timer_job_instance_id"), table_name="timer_job")
    op.drop_index("ix_timer_job_due", table_name="timer_job")
    op.drop_table("timer_job")
    op.drop_index(op.f("ix_process_version_matter"), table_name="process_version")
    op.drop_table("process_version")
    op.drop_index(op.f("ix_login_session_user_id"), table_name="login_session")
    op.drop_table("login_session")
    op.drop_index(op.f("ix_human_task_state"), table_name="human_task")
    op.drop_index(op.f("ix_human_task_lane"), table_name="human_task")
    op.drop_index(op.f("ix_human_task_instance_id"), table_name="human_task")
    op.drop_table("human_task")
    op.drop_index(op.f("ix_consent_user_id"), table_name="consent")
    op.drop_table("consent")
    op.drop_index(op.f("ix_case_file_status"), table_name="case_file")
    op.drop_index(op.f("ix_case_file_matter"), table_name="case_file")
    op.drop_index(op.f("ix_case_file_created_at"), table_name="case_file")
    op.drop_index(op.f("ix_case_file_applicant_user_id"), table_name="case_file")
    op.drop_index(op.f("ix_case_file_applicant_id_number"), table_name="case_file")
    op.drop_table("case_file")
    op.drop_index("ix_webhook_due", table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_index(op.f("ix_user_account_id_number"), table_name="user_account")
    op.drop_table("user_account")
    op.drop_index(op.f("ix_process_instance_completed"), table_name="process_instance")
    op.drop_table("process_instance")
    op.drop_table("process_definition")
    op.drop_index(op.f("ix_data_access_subject_id_number"), table_name="data_access")
    op.drop_index(op.f("ix_data_access_case_id"), table_name="data_access")
    op.drop_index(op.f("ix_data_access_at"), table_name="data_access")
    op.drop_index(op.f("ix_data_access_actor_user_id"), table_name="data_access")
    op.drop_table("data_access")
