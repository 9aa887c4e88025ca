"""Tables of the payments domain: ledger, bank accounts, payment requests, payments, the
webhook inbox, suspense items and receipts.

Money columns are BigInteger whole đồng (see choso.money). Ledger rows are immutable
(triggers, see choso.immutable); balances are cached on the account (and, on PostgreSQL, in
balance slots for accounts that may go negative) and changed only by :mod:`payments.ledger`,
in the transaction that adds the postings.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.columns import created_at_field, money_field, one_of
from choso.db import UTCDateTime

# --- ledger ---------------------------------------------------------------------------------


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"


class LedgerAccount(SQLModel, table=True):
    """An account of the double-entry ledger. Its balance is debits minus credits: ``balance_vnd``
    plus its ``LedgerBalanceSlot`` rows (read it with ``payments.ledger.balance``).

    ``no_overdraft`` accounts may not go below zero on their normal side (debit for assets
    and expenses, credit for liabilities and revenue); a CHECK enforces it below the app.
    """

    __tablename__ = "ledger_account"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", AccountKind), name="kind"),
        sa.CheckConstraint(
            "NOT no_overdraft OR (kind IN ('asset', 'expense') AND balance_vnd >= 0)"
            " OR (kind IN ('liability', 'revenue') AND balance_vnd <= 0)",
            name="no_overdraft",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=80, unique=True)  # e.g. "bank:3", "payable:12", "suspense"
    name: str = Field(max_length=200)
    kind: AccountKind = Field(sa_type=sa.String(12))
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    no_overdraft: bool = False
    balance_vnd: int = money_field(default=0)
    created_at: datetime = created_at_field()


class LedgerTransaction(SQLModel, table=True):
    """A balanced set of postings. Immutable; corrections are reversing transactions."""

    __tablename__ = "ledger_transaction"

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    # SHA-256 of the canonical postings and kind: a replay must carry the same content.
    fingerprint: str = Field(max_length=64)
    kind: str = Field(max_length=30, index=True)
    memo: str = Field(max_length=300)
    cause_type: str = Field(max_length=30)
    cause_id: int | None = Field(default=None, index=True)
    reverses_id: int | None = Field(default=None, foreign_key="ledger_transaction.id", unique=True)
    created_at: datetime = created_at_field()


class LedgerPosting(SQLModel, table=True):
    __tablename__ = "ledger_posting"
    __table_args__ = (sa.CheckConstraint("amount_vnd <> 0", name="amount_non_zero"),)

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="ledger_transaction.id", index=True)
    account_id: int = Field(foreign_key="ledger_account.id", index=True)
    amount_vnd: int = money_field()  # debit > 0, credit < 0


class LedgerBalanceSlot(SQLModel, table=True):
    """Part of a cached balance, for accounts that may go negative (no ``no_overdraft``).

    On PostgreSQL a posting to such an account adds its amount to one of a few slot rows,
    chosen at random, instead of the account's row: a hot account (suspense, clearing) is then
    not one row that every writer must lock until its commit. The account's balance is its
    ``balance_vnd`` plus its slots (``payments.ledger.balance``); both change in the
    transaction that adds the postings. No-overdraft accounts never have slots: their check
    needs the whole balance in one locked row.
    """

    __tablename__ = "ledger_balance_slot"

    account_id: int = Field(foreign_key="ledger_account.id", primary_key=True)
    slot: int = Field(primary_key=True, sa_type=sa.SmallInteger, sa_column_kwargs={"autoincrement": False})
    balance_vnd: int = money_field(default=0)


# --- bank accounts --------------------------------------------------------------------------


class BankAccount(SQLModel, table=True):
    """A bank account that Choso receives VietQR transfers on (an organisation's own, or the
    platform's when ``organisation_id`` is None)."""

    __tablename__ = "bank_account"
    __table_args__ = (sa.UniqueConstraint("bank_bin", "account_number", name="uq_bank_account_number"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    bank_bin: str = Field(max_length=6)
    account_number: str = Field(max_length=19, index=True)
    holder_name: str = Field(max_length=100)
    is_active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


# --- payment requests and payments ----------------------------------------------------------


class RequestStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaymentRequest(SQLModel, table=True):
    """Something to be paid to an organisation, identified in bank memos by its reference."""

    __tablename__ = "payment_request"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", RequestStatus), name="status"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
        sa.CheckConstraint("received_vnd >= 0", name="received_non_negative"),
        sa.UniqueConstraint("created_by_id", "idempotency_key", name="uq_payment_request_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reference_code: str = Field(max_length=11, unique=True)
    payee_organisation_id: int = Field(foreign_key="organisation.id", index=True)
    bank_account_id: int = Field(foreign_key="bank_account.id", index=True)
    amount_vnd: int = money_field()
    currency: str = Field(default="VND", max_length=3)
    description: str = Field(max_length=200)
    status: RequestStatus = Field(default=RequestStatus.OPEN, sa_type=sa.String(10), index=True)
    received_vnd: int = money_field(default=0)  # settled payments towards this request
    payer_name: str = Field(default="", max_length=120)
    payer_user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    idempotency_key: str | None = Field(default=None, max_length=100)
    fingerprint: str = Field(default="", max_length=64)
    # What the request pays for (an order checkout, a fee notice, or "manual").
    cause_type: str = Field(default="manual", max_length=30)
    cause_id: int | None = Field(default=None, index=True)
    # Pay-page access for payers without an account: an unguessable token (its digest).
    access_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    created_at: datetime = created_at_field()
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def outstanding_vnd(self) -> int:
        return max(0, self.amount_vnd - self.received_vnd)

    @property
    def underpaid(self) -> bool:
        return self.status == RequestStatus.OPEN and 0 < self.received_vnd < self.amount_vnd


class PaymentStatus(StrEnum):
    SETTLED = "settled"  # counted towards its request
    REFUND_DUE = "refund_due"  # kept, to be refunded (late, cancelled, or the excess)
    SUSPENSE = "suspense"  # nobody claims it yet: an operator decides
    REFUNDED = "refunded"


class Payment(SQLModel, table=True):
    """Money that arrived, by bank transfer or card, once per provider transaction."""

    __tablename__ = "payment"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_txn_id", name="uq_payment_provider_txn"),
        # One bank transfer seen by a webhook and by a statement is found by these.
        sa.Index("ix_payment_bank_transaction", "bank_account_id", "bank_reference"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
        sa.CheckConstraint("excess_vnd >= 0 AND excess_vnd <= amount_vnd", name="excess_range"),
        # Refunds reserve their amount here first (payments.refunds): never more than was paid.
        sa.CheckConstraint("refunded_vnd >= 0 AND refunded_vnd <= amount_vnd", name="refunded_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)  # sepay, casso, sandbox, statement, stripe
    provider_txn_id: str = Field(max_length=100)
    channel: str = Field(default="vietqr", max_length=10)  # vietqr | card
    request_id: int | None = Field(default=None, foreign_key="payment_request.id", index=True)
    bank_account_id: int | None = Field(default=None, foreign_key="bank_account.id", index=True)
    amount_vnd: int = money_field()
    # The part not owed (overpayment, or all of a payment after expiry): to be refunded.
    excess_vnd: int = money_field(default=0)
    # Refunds not failed (pending, submitted or done): what is no longer available to refund.
    refunded_vnd: int = money_field(default=0)
    status: PaymentStatus = Field(sa_type=sa.String(12), index=True)
    memo: str = Field(default="", max_length=500)
    payer_name: str = Field(default="", max_length=120)
    bank_reference: str = Field(default="", max_length=100)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    created_at: datetime = created_at_field()
    ledger_transaction_id: int | None = Field(default=None, foreign_key="ledger_transaction.id")


class WebhookEvent(SQLModel, table=True):
    """The inbox: every verified webhook, stored raw before it is processed by a job."""

    __tablename__ = "webhook_event"
    __table_args__ = (sa.UniqueConstraint("source", "external_id", name="uq_webhook_event_source"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20)
    external_id: str = Field(max_length=100)
    payload: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    received_at: datetime = created_at_field()
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    outcome: str = Field(default="", max_length=200)


class SuspenseStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    REFUND = "refund"


class SuspenseItem(SQLModel, table=True):
    """A payment nobody claims (unknown or missing reference): an operator resolves it."""

    __tablename__ = "suspense_item"

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", unique=True)
    reason: str = Field(max_length=200)
    status: SuspenseStatus = Field(default=SuspenseStatus.OPEN, sa_type=sa.String(10), index=True)
    resolved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str = Field(default="", max_length=500)
    created_at: datetime = created_at_field()


# --- receipts -------------------------------------------------------------------------------


class ReceiptSeries(SQLModel, table=True):
    """The last number used in one gapless series (per payee organisation, kind and year)."""

    __tablename__ = "receipt_series"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "kind", "year", name="uq_receipt_series"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    kind: str = Field(max_length=12)  # receipt | credit_note
    year: int
    last_number: int = 0


class Receipt(SQLModel, table=True):
    """A receipt (or credit note) for a settled payment request. Never edited or deleted."""

    __tablename__ = "receipt"
    __table_args__ = (
        sa.UniqueConstraint("organisation_id", "kind", "year", "number", name="uq_receipt_number"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    kind: str = Field(default="receipt", max_length=12)
    year: int
    number: int
    request_id: int = Field(foreign_key="payment_request.id", index=True)
    verification_code: str = Field(max_length=32, unique=True)
    payer_name: str = Field(default="", max_length=120)
    amount_vnd: int = money_field()
    # Everything printed, frozen at issue: payee name/tax code/address, items, channel.
    content: dict[str, Any] = Field(sa_type=sa.JSON, nullable=False)
    signature: str = Field(max_length=64)
    issued_at: datetime = created_at_field()


class ReceiptCancellation(SQLModel, table=True):
    """A receipt cancelled by mistake, with its reason and the receipt that replaces it.

    Append-only (like the receipts): the cancelled receipt keeps its number in the series, and
    the replacement takes the next one, so both stay visible in the series."""

    __tablename__ = "receipt_cancellation"

    id: int | None = Field(default=None, primary_key=True)
    receipt_id: int = Field(foreign_key="receipt.id", unique=True)
    replacement_id: int = Field(foreign_key="receipt.id", unique=True)
    reason: str = Field(max_length=300)
    cancelled_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    cancelled_at: datetime = created_at_field()


# --- cards, refunds and payouts -------------------------------------------------------------


class CardAttemptStatus(StrEnum):
    """A card payment attempt, as the processor's PaymentIntent says (``creating`` until it
    answers). ``failed``: it never answered, or the card was declined (a new try gets a new
    attempt). ``succeeded``, ``canceled`` and ``failed`` are final, but a success reported
    later is always recorded."""

    CREATING = "creating"
    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    CANCELED = "canceled"
    FAILED = "failed"


class CardAttempt(SQLModel, table=True):
    """One attempt to pay a request by card: one PaymentIntent at the processor, created with
    an idempotency key derived from this row's id."""

    __tablename__ = "card_attempt"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", CardAttemptStatus), name="status"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="payment_request.id", index=True)
    provider: str = Field(default="stripe", max_length=20)
    intent_id: str | None = Field(default=None, max_length=100, unique=True)
    amount_vnd: int = money_field()
    status: CardAttemptStatus = Field(default=CardAttemptStatus.CREATING, sa_type=sa.String(24))
    last_error: str = Field(default="", max_length=300)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class RefundMethod(StrEnum):
    CARD = "card"  # through the card processor
    BANK_TRANSFER = "bank_transfer"  # a line of a payout batch


class RefundStatus(StrEnum):
    PENDING = "pending"  # reserved and held; not yet accepted by the processor or the bank
    SUBMITTED = "submitted"  # accepted (processor) or on an approved payout batch (bank)
    SUCCEEDED = "succeeded"  # the money went back: posted, credit note issued
    FAILED = "failed"  # it did not: the reservation and the hold were released


class Refund(SQLModel, table=True):
    """Money going back to whoever paid, in full or in part, once.

    ``from_due_vnd`` is the part taken from money already held as a refund due (overpayment,
    late payment, suspense); the rest was held from ``payee_account`` (the payee's ledger
    account) when the refund was asked for."""

    __tablename__ = "refund"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", RefundStatus), name="status"),
        sa.CheckConstraint(one_of("method", RefundMethod), name="method"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
        sa.CheckConstraint("from_due_vnd >= 0 AND from_due_vnd <= amount_vnd", name="from_due_range"),
        sa.UniqueConstraint("created_by_id", "idempotency_key", name="uq_refund_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payment.id", index=True)
    request_id: int | None = Field(default=None, foreign_key="payment_request.id", index=True)
    method: RefundMethod = Field(sa_type=sa.String(16))
    status: RefundStatus = Field(default=RefundStatus.PENDING, sa_type=sa.String(12), index=True)
    amount_vnd: int = money_field()
    from_due_vnd: int = money_field(default=0)
    payee_account: str = Field(default="", max_length=80)
    reason: str = Field(max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    idempotency_key: str | None = Field(default=None, max_length=100)
    fingerprint: str = Field(default="", max_length=64)
    provider_refund_id: str | None = Field(default=None, max_length=100, unique=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    last_error: str = Field(default="", max_length=300)
    # Where a bank-transfer refund goes (the payer's account).
    bank_bin: str = Field(default="", max_length=6)
    account_number: str = Field(default="", max_length=19)
    holder_name: str = Field(default="", max_length=100)
    credit_note_id: int | None = Field(default=None, foreign_key="receipt.id")
    created_at: datetime = created_at_field()
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PayoutAccount(SQLModel, table=True):
    """The bank account an organisation is paid out to (one of its own BankAccount rows)."""

    __tablename__ = "payout_account"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", unique=True)
    bank_account_id: int = Field(foreign_key="bank_account.id")
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = created_at_field()


class PayoutBatchStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"  # by a second person; the money is now in transit in the ledger
    SENT = "sent"  # handed to the bank (bulk upload, or paid line by line)
    SETTLED = "settled"  # every line confirmed by the bank (or failed back)
    CANCELLED = "cancelled"  # a draft given up


class PayoutBatch(SQLModel, table=True):
    """Transfers out of one bank account (the platform's, or an organisation's own for its
    refunds), approved by someone other than its creator (also checked by the database)."""

    __tablename__ = "payout_batch"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", PayoutBatchStatus), name="status"),
        sa.CheckConstraint("approved_by_id IS NULL OR approved_by_id <> created_by_id", name="four_eyes"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    source_bank_account_id: int = Field(foreign_key="bank_account.id", index=True)
    status: PayoutBatchStatus = Field(default=PayoutBatchStatus.DRAFT, sa_type=sa.String(10), index=True)
    total_vnd: int = money_field(default=0)
    created_by_id: int = Field(foreign_key="user_account.id")
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PayoutLineStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"


class PayoutLine(SQLModel, table=True):
    """One transfer of a batch: what an organisation is owed, or a refund to a payer."""

    __tablename__ = "payout_line"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", PayoutLineStatus), name="status"),
        sa.CheckConstraint("kind IN ('payout', 'refund')", name="kind"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payout_batch.id", index=True)
    kind: str = Field(max_length=10)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    refund_id: int | None = Field(default=None, foreign_key="refund.id", unique=True)
    debit_account: str = Field(max_length=80)  # the ledger account the money leaves
    bank_bin: str = Field(max_length=6)
    account_number: str = Field(max_length=19)
    holder_name: str = Field(max_length=100)
    amount_vnd: int = money_field()
    status: PayoutLineStatus = Field(default=PayoutLineStatus.PENDING, sa_type=sa.String(10), index=True)
    bank_reference: str = Field(default="", max_length=100)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    @property
    def reference(self) -> str:
        """The transfer memo that identifies this line in the bank's confirmation."""
        return f"CHOSOPO{self.id}"
