"""payments core

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db
from choso.immutable import create_guards, drop_guards

IMMUTABLE_TABLES = ("ledger_transaction", "ledger_posting", "audit_log")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("object_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.Column("ip_address", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "ledger_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("memo", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("cause_type", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_ledger_transaction_reverses_id_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transaction")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_ledger_transaction_idempotency_key")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_ledger_transaction_reverses_id")),
    )
    with op.batch_alter_table("ledger_transaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_transaction_cause_id"), ["cause_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_transaction_kind"), ["kind"], unique=False)

    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_event")),
        sa.UniqueConstraint("source", "external_id", name="uq_webhook_event_source"),
    )
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_event_processed_at"), ["processed_at"], unique=False)

    op.create_table(
        "bank_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("bank_bin", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("account_number", sqlmodel.sql.sqltypes.AutoString(length=19), nullable=False),
        sa.Column("holder_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_bank_account_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_account")),
        sa.UniqueConstraint("bank_bin", "account_number", name="uq_bank_account_number"),
    )
    with op.batch_alter_table("bank_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_account_account_number"), ["account_number"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_bank_account_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "ledger_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("no_overdraft", sa.Boolean(), nullable=False),
        sa.Column("balance_vnd", sa.BigInteger(), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "NOT no_overdraft OR (kind IN ('asset', 'expense') AND balance_vnd >= 0) OR (kind IN ('liability', 'revenue') AND balance_vnd <= 0)",
            name=op.f("ck_ledger_account_no_overdraft"),
        ),
        sa.CheckConstraint(
            "kind IN ('asset', 'liability', 'revenue', 'expense')", name=op.f("ck_ledger_account_kind")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_ledger_account_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_account")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_account_code")),
    )
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_account_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "receipt_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_receipt_series_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt_series")),
        sa.UniqueConstraint("organisation_id", "kind", "year", name="uq_receipt_series"),
    )
    op.create_table(
        "ledger_posting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_vnd <> 0", name=op.f("ck_ledger_posting_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_account.id"], name=op.f("fk_ledger_posting_account_id_ledger_account")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_ledger_posting_transaction_id_ledger_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_posting")),
    )
    with op.batch_alter_table("ledger_posting", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_posting_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_posting_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "payment_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference_code", sqlmodel.sql.sqltypes.AutoString(length=11), nullable=False),
        sa.Column("payee_organisation_id", sa.Integer(), nullable=False),
        sa.Column("bank_account_id", sa.Integer(), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("received_vnd", sa.BigInteger(), nullable=False),
        sa.Column("payer_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("payer_user_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("cause_type", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("cause_id", sa.Integer(), nullable=True),
        sa.Column("access_token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("expires_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'expired', 'cancelled')", name=op.f("ck_payment_request_status")
        ),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_payment_request_amount_positive")),
        sa.CheckConstraint("received_vnd >= 0", name=op.f("ck_payment_request_received_non_negative")),
        sa.ForeignKeyConstraint(
            ["bank_account_id"],
            ["bank_account.id"],
            name=op.f("fk_payment_request_bank_account_id_bank_account"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_payment_request_created_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["payee_organisation_id"],
            ["organisation.id"],
            name=op.f("fk_payment_request_payee_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_user_id"], ["user_account.id"], name=op.f("fk_payment_request_payer_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_request")),
        sa.UniqueConstraint("access_token_hash", name=op.f("uq_payment_request_access_token_hash")),
        sa.UniqueConstraint("created_by_id", "idempotency_key", name="uq_payment_request_idempotency"),
        sa.UniqueConstraint("reference_code", name=op.f("uq_payment_request_reference_code")),
    )
    with op.batch_alter_table("payment_request", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payment_request_bank_account_id"), ["bank_account_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payment_request_cause_id"), ["cause_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_request_created_by_id"), ["created_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_request_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_payment_request_payee_organisation_id"), ["payee_organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payment_request_payer_user_id"), ["payer_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_request_status"), ["status"], unique=False)

    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("provider_txn_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("bank_account_id", sa.Integer(), nullable=True),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("excess_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("memo", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("payer_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("bank_reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("received_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ledger_transaction_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount_vnd > 0", name=op.f("ck_payment_amount_positive")),
        sa.CheckConstraint(
            "excess_vnd >= 0 AND excess_vnd <= amount_vnd", name=op.f("ck_payment_excess_range")
        ),
        sa.ForeignKeyConstraint(
            ["bank_account_id"], ["bank_account.id"], name=op.f("fk_payment_bank_account_id_bank_account")
        ),
        sa.ForeignKeyConstraint(
            ["ledger_transaction_id"],
            ["ledger_transaction.id"],
            name=op.f("fk_payment_ledger_transaction_id_ledger_transaction"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["payment_request.id"], name=op.f("fk_payment_request_id_payment_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
        sa.UniqueConstraint("provider", "provider_txn_id", name="uq_payment_provider_txn"),
    )
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_bank_account_id"), ["bank_account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_request_id"), ["request_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_payment_bank_transaction", ["bank_account_id", "bank_reference"], unique=False
        )

    op.create_table(
        "receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("verification_code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payer_name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("amount_vnd", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("issued_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisation.id"], name=op.f("fk_receipt_organisation_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["payment_request.id"], name=op.f("fk_receipt_request_id_payment_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt")),
        sa.UniqueConstraint("organisation_id", "kind", "year", "number", name="uq_receipt_number"),
        sa.UniqueConstraint("verification_code", name=op.f("uq_receipt_verification_code")),
    )
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipt_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_receipt_request_id"), ["request_id"], unique=False)

    op.create_table(
        "suspense_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payment.id"], name=op.f("fk_suspense_item_payment_id_payment")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["user_account.id"], name=op.f("fk_suspense_item_resolved_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspense_item")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_suspense_item_payment_id")),
    )
    with op.batch_alter_table("suspense_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suspense_item_status"), ["status"], unique=False)

    for table in IMMUTABLE_TABLES:
        create_guards(table)


def downgrade() -> None:
    for table in IMMUTABLE_TABLES:
        drop_guards(table)
    with op.batch_alter_table("suspense_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suspense_item_status"))

    op.drop_table("suspense_item")
    with op.batch_alter_table("receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipt_request_id"))
        batch_op.drop_index(batch_op.f("ix_receipt_organisation_id"))

    op.drop_table("receipt")
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_status"))
        batch_op.drop_index("ix_payment_bank_transaction")
        batch_op.drop_index(batch_op.f("ix_payment_request_id"))
        batch_op.drop_index(batch_op.f("ix_payment_bank_account_id"))

    op.drop_table("payment")
    with op.batch_alter_table("payment_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_request_status"))
        batch_op.drop_index(batch_op.f("ix_payment_request_payer_user_id"))
        batch_op.drop_index(batch_op.f("ix_payment_request_payee_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_payment_request_expires_at"))
        batch_op.drop_index(batch_op.f("ix_payment_request_created_by_id"))
        batch_op.drop_index(batch_op.f("ix_payment_request_cause_id"))
        batch_op.drop_index(batch_op.f("ix_payment_request_bank_account_id"))

    op.drop_table("payment_request")
    with op.batch_alter_table("ledger_posting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_posting_transaction_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_posting_account_id"))

    op.drop_table("ledger_posting")
    op.drop_table("receipt_series")
    with op.batch_alter_table("ledger_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_account_organisation_id"))

    op.drop_table("ledger_account")
    with op.batch_alter_table("bank_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_account_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_bank_account_account_number"))

    op.drop_table("bank_account")
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_event_processed_at"))

    op.drop_table("webhook_event")
    with op.batch_alter_table("ledger_transaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transaction_kind"))
        batch_op.drop_index(batch_op.f("ix_ledger_transaction_cause_id"))

    op.drop_table("ledger_transaction")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))

    op.drop_table("audit_log")
