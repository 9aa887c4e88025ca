"""reconciliation: bank statements and their lines, card settlement lines, daily reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 13:36:34.700202
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank_account_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("requested_format", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("opening_balance_vnd", sa.BigInteger(), nullable=True),
        sa.Column("closing_balance_vnd", sa.BigInteger(), nullable=True),
        sa.Column("ledger_balance_vnd", sa.BigInteger(), nullable=True),
        sa.Column("balance_difference_vnd", sa.BigInteger(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'applying', 'imported', 'failed')", name=op.f("ck_bank_statement_status")
        ),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_bank_statement_bank_account_id_bank_account"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["user_account.id"],
            name=op.f("fk_bank_statement_uploaded_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statement")),
        sa.UniqueConstraint("bank_account_id", "sha256", name="uq_bank_statement_file"),
    )
    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_statement_bank_account_id"), ["bank_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bank_statement_status"), ["status"], unique=False)

    op.create_table(
        "reconciliation_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_code", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("bank_account_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("exceptions", sa.Integer(), nullable=False),
        sa.Column("received_vnd", sa.BigInteger(), nullable=False),
        sa.Column("balance_difference_vnd", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_reconciliation_report_bank_account_id_bank_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_reconciliation_report_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_report")),
        sa.UniqueConstraint("account_code", "day", name="uq_reconciliation_report_day"),
    )
    with op.batch_alter_table("reconciliation_report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_report_bank_account_id"), ["bank_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reconciliation_report_day"), ["day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reconciliation_report_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "bank_statement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("bank_account_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("booked_time", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("memo", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("bank_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("counterparty_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("counterparty_account", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=11), nullable=True),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("suggested_request_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("processed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_bank_statement_line_bank_account_id_bank_account"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["bank_statement_line.id"],
            name=op.f("fk_bank_statement_line_duplicate_of_id_bank_statement_line"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_bank_statement_line_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["bank_statement.id"],
            name=op.f("fk_bank_statement_line_statement_id_bank_statement"),
        ),
        sa.ForeignKeyConstraint(
            ["suggested_request_id"],
            ["payment_request.id"],
            name=op.f("fk_bank_statement_line_suggested_request_id_payment_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statement_line")),
        sa.UniqueConstraint("bank_account_id", "dedupe_key", name="uq_bank_statement_line_transaction"),
        sa.UniqueConstraint("payment_id", name=op.f("uq_bank_statement_line_payment_id")),
        sa.UniqueConstraint("statement_id", "position", name="uq_bank_statement_line_position"),
    )
    with op.batch_alter_table("bank_statement_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_statement_line_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bank_statement_line_statement_id"), ["statement_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bank_statement_line_duplicate_of_id"), ["duplicate_of_id"], unique=False
        )

    op.create_table(
        "card_settlement_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("intent_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("fee_vnd", sa.BigInteger(), nullable=False),
        sa.Column("net_vnd", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("occurred_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_on", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_card_settlement_line_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refund.id"], name=op.f("fk_card_settlement_line_refund_id_refund")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_settlement_line")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_card_settlement_line_transaction_id")),
    )
    with op.batch_alter_table("card_settlement_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_settlement_line_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_card_settlement_line_occurred_at"), ["occurred_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_card_settlement_line_payment_id"), ["payment_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("card_settlement_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_settlement_line_payment_id"))
        batch_op.drop_index(batch_op.f("ix_card_settlement_line_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_card_settlement_line_category"))

    op.drop_table("card_settlement_line")
    with op.batch_alter_table("bank_statement_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_statement_line_duplicate_of_id"))
        batch_op.drop_index(batch_op.f("ix_bank_statement_line_statement_id"))
        batch_op.drop_index(batch_op.f("ix_bank_statement_line_category"))

    op.drop_table("bank_statement_line")
    with op.batch_alter_table("reconciliation_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_report_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_report_day"))
        batch_op.drop_index(batch_op.f("ix_reconciliation_report_bank_account_id"))

    op.drop_table("reconciliation_report")
    with op.batch_alter_table("bank_statement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_statement_status"))
        batch_op.drop_index(batch_op.f("ix_bank_statement_bank_account_id"))

    op.drop_table("bank_statement")
