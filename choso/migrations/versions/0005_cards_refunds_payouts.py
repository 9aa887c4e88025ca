"""cards, refunds and payouts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("bank_account_id", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_payout_account_bank_account_id_bank_account"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payout_account_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user_account.id"], name=op.f("fk_payout_account_updated_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_account")),
        sa.UniqueConstraint("organisation_id", name=op.f("uq_payout_account_organisation_id")),
    )
    op.create_table(
        "payout_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("source_bank_account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'sent', 'settled', 'cancelled')",
            name=op.f("ck_payout_batch_status"),
        ),
        sa.CheckConstraint(
            "approved_by_id IS NULL OR approved_by_id <> created_by_id",
            name=op.f("ck_payout_batch_four_eyes"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by_id"], ["user_account.id"], name=op.f("fk_payout_batch_approved_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_payout_batch_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payout_batch_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["source_bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_payout_batch_source_bank_account_id_bank_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_batch")),
    )
    with op.batch_alter_table("payout_batch", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_batch_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_payout_batch_source_bank_account_id"), ["source_bank_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payout_batch_status"), ["status"], unique=False)

    op.create_table(
        "card_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("intent_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('creating', 'requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'succeeded', 'canceled', 'failed')",
            name=op.f("ck_card_attempt_status"),
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_card_attempt_amount_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_card_attempt_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["payment_request.id"], name=op.f("fk_card_attempt_request_id_payment_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_attempt")),
        sa.UniqueConstraint("intent_id", name=op.f("uq_card_attempt_intent_id")),
    )
    with op.batch_alter_table("card_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_card_attempt_request_id"), ["request_id"], unique=False)

    op.create_table(
        "refund",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("from_due_vnd", sa.BigInteger(), nullable=False),
        sa.Column("payee_account", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider_refund_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("bank_bin", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("account_number", sqlmodel.sql.sqltypes.AutoString(length=19), nullable=False),
        sa.Column("holder_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("credit_note_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("method IN ('card', 'bank_transfer')", name=op.f("ck_refund_method")),
        sa.CheckConstraint(
            "status IN ('pending', 'submitted', 'succeeded', 'failed')", name=op.f("ck_refund_status")
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_refund_amount_positive")),
        sa.CheckConstraint(
            "from_due_vnd >= 0 AND from_due_vnd <= amount_vnd", name=op.f("ck_refund_from_due_range")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_refund_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["credit_note_id"], ["receipt.id"], name=op.f("fk_refund_credit_note_id_receipt")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payment.id"], name=op.f("fk_refund_payment_id_payment")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["payment_request.id"], name=op.f("fk_refund_request_id_payment_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
        sa.UniqueConstraint("created_by_id", "idempotency_key", name="uq_refund_idempotency"),
        sa.UniqueConstraint("provider_refund_id", name=op.f("uq_refund_provider_refund_id")),
    )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_created_by_id"), ["created_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_status"), ["status"], unique=False)

    op.create_table(
        "payout_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("debit_account", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("bank_bin", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("account_number", sqlmodel.sql.sqltypes.AutoString(length=19), nullable=False),
        sa.Column("holder_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("bank_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("settled_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('payout', 'refund')", name=op.f("ck_payout_line_kind")),
        sa.CheckConstraint("status IN ('pending', 'settled', 'failed')", name=op.f("ck_payout_line_status")),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_payout_line_amount_positive")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["payout_batch.id"], name=op.f("fk_payout_line_batch_id_payout_batch")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisation.id"], name=op.f("fk_payout_line_organisation_id_organisation")
        ),
        sa.ForeignKeyConstraint(["refund_id"], ["refund.id"], name=op.f("fk_payout_line_refund_id_refund")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_line")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_payout_line_refund_id")),
    )
    with op.batch_alter_table("payout_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_line_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payout_line_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payout_line_status"), ["status"], unique=False)

    _add_refunded_column()


def downgrade() -> None:
    _drop_refunded_column()

    with op.batch_alter_table("payout_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_line_status"))
        batch_op.drop_index(batch_op.f("ix_payout_line_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_payout_line_batch_id"))

    op.drop_table("payout_line")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_status"))
        batch_op.drop_index(batch_op.f("ix_refund_request_id"))
        batch_op.drop_index(batch_op.f("ix_refund_payment_id"))
        batch_op.drop_index(batch_op.f("ix_refund_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_refund_created_by_id"))

    op.drop_table("refund")
    with op.batch_alter_table("card_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_attempt_request_id"))

    op.drop_table("card_attempt")
    with op.batch_alter_table("payout_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_batch_status"))
        batch_op.drop_index(batch_op.f("ix_payout_batch_source_bank_account_id"))
        batch_op.drop_index(batch_op.f("ix_payout_batch_organisation_id"))

    op.drop_table("payout_batch")
    op.drop_table("payout_account")


REFUNDED_RANGE = "refunded_vnd >= 0 AND refunded_vnd <= amount_vnd"


def _add_refunded_column() -> None:
    # A plain ADD COLUMN on both backends: on SQLite a batch rebuild of ``payment`` would drop
    # and re-create a table that suspense items, refunds and receipts' payments refer to.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE payment ADD COLUMN refunded_vnd BIGINT NOT NULL DEFAULT 0 "
            f"CONSTRAINT ck_payment_refunded_range CHECK ({REFUNDED_RANGE})"
        )
        return
    op.add_column("payment", sa.Column("refunded_vnd", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_check_constraint(op.f("ck_payment_refunded_range"), "payment", REFUNDED_RANGE)


def _drop_refunded_column() -> None:
    # SQLite (>= 3.35) drops a column whose only CHECK is its own; PostgreSQL drops the CHECK with it.
    op.execute("ALTER TABLE payment DROP COLUMN refunded_vnd")
