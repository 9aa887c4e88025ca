"""fees: catalogues, notices, bulk uploads, schedules, reminders; receipt cancellations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 13:22:23.682980
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db
from choso.immutable import create_guards, drop_guards

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fee_agency_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("receipt_form", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("receipt_series", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("notice_days", sa.Integer(), nullable=False),
        sa.Column("reminder_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisation.id"], name=op.f("fk_fee_agency_settings_agency_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_agency_settings")),
        sa.UniqueConstraint("agency_id", name=op.f("uq_fee_agency_settings_agency_id")),
    )
    op.create_table(
        "fee_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("encoding", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("valid_count", sa.Integer(), nullable=False),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisation.id"], name=op.f("fk_fee_batch_agency_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user_account.id"], name=op.f("fk_fee_batch_uploaded_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_batch")),
    )
    with op.batch_alter_table("fee_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_batch_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_batch_file_sha256"), ["file_sha256"], unique=False)

    op.create_table(
        "fee_service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("name_vi", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("legal_basis", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("rule", sa.String(length=10), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("unit_name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("cap_vnd", sa.BigInteger(), nullable=True),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("active_from", sa.Date(), nullable=False),
        sa.Column("active_to", sa.Date(), nullable=True),
        sa.Column("bank_account_id", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('phi', 'le_phi')", name=op.f("ck_fee_service_kind")),
        sa.CheckConstraint("rule IN ('fixed', 'per_unit', 'tiered')", name=op.f("ck_fee_service_rule")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_fee_service_amount_positive")),
        sa.CheckConstraint(
            "min_quantity >= 1 AND max_quantity >= min_quantity", name=op.f("ck_fee_service_quantity_range")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisation.id"], name=op.f("fk_fee_service_agency_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["bank_account_id"], ["bank_account.id"], name=op.f("fk_fee_service_bank_account_id_bank_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_service")),
        sa.UniqueConstraint("agency_id", "code", name="uq_fee_service_code"),
    )
    with op.batch_alter_table("fee_service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_service_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_service_bank_account_id"), ["bank_account_id"], unique=False)

    op.create_table(
        "fee_schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("payer_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("payer_id_number", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("payer_tax_code", sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
        sa.Column("payer_phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payer_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("dossier_prefix", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("day_of_month", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("day_of_month BETWEEN 1 AND 28", name=op.f("ck_fee_schedule_day_of_month")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisation.id"], name=op.f("fk_fee_schedule_agency_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_fee_schedule_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["fee_service.id"], name=op.f("fk_fee_schedule_service_id_fee_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_schedule")),
    )
    with op.batch_alter_table("fee_schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_schedule_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "fee_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_salt", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("issue_key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("dossier_number", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("dossier_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("payer_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("payer_id_number", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("payer_tax_code", sqlmodel.sql.sqltypes.AutoString(length=13), nullable=False),
        sa.Column("payer_phone", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payer_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("payer_address", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'expired', 'cancelled')", name=op.f("ck_fee_notice_status")
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_fee_notice_amount_positive")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["organisation.id"], name=op.f("fk_fee_notice_agency_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["fee_batch.id"], name=op.f("fk_fee_notice_batch_id_fee_batch")
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"], ["user_account.id"], name=op.f("fk_fee_notice_cancelled_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_fee_notice_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["payment_request.id"], name=op.f("fk_fee_notice_request_id_payment_request")
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["fee_schedule.id"], name=op.f("fk_fee_notice_schedule_id_fee_schedule")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_notice")),
        sa.UniqueConstraint("agency_id", "dossier_key", name="uq_fee_notice_dossier_key"),
        sa.UniqueConstraint("agency_id", "issue_key", name="uq_fee_notice_issue_key"),
        sa.UniqueConstraint("number", name=op.f("uq_fee_notice_number")),
        sa.UniqueConstraint("request_id", name=op.f("uq_fee_notice_request_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_fee_notice_token_hash")),
    )
    with op.batch_alter_table("fee_notice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_notice_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_notice_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_notice_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_notice_schedule_id"), ["schedule_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_notice_status"), ["status"], unique=False)

    op.create_table(
        "receipt_cancellation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("replacement_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"],
            ["user_account.id"],
            name=op.f("fk_receipt_cancellation_cancelled_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipt.id"], name=op.f("fk_receipt_cancellation_receipt_id_receipt")
        ),
        sa.ForeignKeyConstraint(
            ["replacement_id"], ["receipt.id"], name=op.f("fk_receipt_cancellation_replacement_id_receipt")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_cancellation")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_receipt_cancellation_receipt_id")),
        sa.UniqueConstraint("replacement_id", name=op.f("uq_receipt_cancellation_replacement_id")),
    )
    op.create_table(
        "fee_notice_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("service_code", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("name_vi", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("legal_basis", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("unit_name", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_fee_notice_line_amount_positive")),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["fee_notice.id"], name=op.f("fk_fee_notice_line_notice_id_fee_notice")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["fee_service.id"], name=op.f("fk_fee_notice_line_service_id_fee_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_notice_line")),
    )
    with op.batch_alter_table("fee_notice_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_notice_line_notice_id"), ["notice_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fee_notice_line_service_id"), ["service_id"], unique=False)

    op.create_table(
        "fee_reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["fee_notice.id"], name=op.f("fk_fee_reminder_notice_id_fee_notice")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_reminder")),
        sa.UniqueConstraint("notice_id", "kind", name="uq_fee_reminder_kind"),
    )
    with op.batch_alter_table("fee_reminder", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fee_reminder_notice_id"), ["notice_id"], unique=False)

    create_guards("receipt_cancellation")  # append-only, like the receipts it links


def downgrade() -> None:
    drop_guards("receipt_cancellation")
    with op.batch_alter_table("fee_reminder", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_reminder_notice_id"))

    op.drop_table("fee_reminder")
    with op.batch_alter_table("fee_notice_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_notice_line_service_id"))
        batch_op.drop_index(batch_op.f("ix_fee_notice_line_notice_id"))

    op.drop_table("fee_notice_line")
    op.drop_table("receipt_cancellation")
    with op.batch_alter_table("fee_notice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_notice_status"))
        batch_op.drop_index(batch_op.f("ix_fee_notice_schedule_id"))
        batch_op.drop_index(batch_op.f("ix_fee_notice_created_at"))
        batch_op.drop_index(batch_op.f("ix_fee_notice_batch_id"))
        batch_op.drop_index(batch_op.f("ix_fee_notice_agency_id"))

    op.drop_table("fee_notice")
    with op.batch_alter_table("fee_schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_schedule_agency_id"))

    op.drop_table("fee_schedule")
    with op.batch_alter_table("fee_service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_service_bank_account_id"))
        batch_op.drop_index(batch_op.f("ix_fee_service_agency_id"))

    op.drop_table("fee_service")
    with op.batch_alter_table("fee_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fee_batch_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_fee_batch_agency_id"))

    op.drop_table("fee_batch")
    op.drop_table("fee_agency_settings")
