"""Tables of bank reconciliation: imported statements, their lines, card settlements, daily reports.

Rules the schema holds:

* a file is stored once per bank account (UNIQUE sha256): the same file uploaded twice is the
  same statement;
* a bank transaction is stored once per bank account: the first line that reports it carries
  its dedupe key (UNIQUE per account); a later report of it (the same statement repeating it,
  or an overlapping statement) is a line of category ``duplicate`` with no key, pointing at
  the first;
* a payment is linked to at most one statement line (UNIQUE payment_id): a transfer the
  webhook reported and the statement confirms is one payment with two sources;
* a Stripe balance transaction is stored once (UNIQUE id);
* one report per ledger account and day.

Amounts are whole đồng; statement line amounts are signed (negative: money out).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.columns import created_at_field, money_field
from choso.db import UTCDateTime

MAX_STATEMENT_BYTES = 10 * 1024 * 1024  # the largest statement file kept (and uploaded)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


class StatementStatus(StrEnum):
    QUEUED = "queued"  # stored, waiting for the import job
    APPLYING = "applying"  # lines stored and decided; payments being applied line by line
    IMPORTED = "imported"  # every line applied, balance compared
    FAILED = "failed"  # the file could not be read (``error`` says why)


class BankStatement(SQLModel, table=True):
    """One statement file of one bank account, as received, and what its import found."""

    __tablename__ = "bank_statement"
    __table_args__ = (
        sa.UniqueConstraint("bank_account_id", "sha256", name="uq_bank_statement_file"),
        sa.CheckConstraint("status IN ('queued', 'applying', 'imported', 'failed')", name="status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_account_id: int = Field(foreign_key="bank_account.id", index=True)
    sha256: str = Field(max_length=64)
    filename: str = Field(max_length=200)
    requested_format: str = Field(default="auto", max_length=20)
    format: str = Field(default="", max_length=20)  # what the reader found
    source: str = Field(max_length=10)  # upload | api | cli | inbox
    content: bytes = Field(sa_type=sa.LargeBinary, nullable=False)  # at most MAX_STATEMENT_BYTES
    status: StatementStatus = Field(default=StatementStatus.QUEUED, sa_type=sa.String(10), index=True)
    error: str = Field(default="", max_length=500)
    uploaded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()  # every phase touches it: a stale import is re-queued
    imported_at: datetime | None = _when()
    period_start: date | None = None
    period_end: date | None = None
    opening_balance_vnd: int | None = money_field(default=None)
    closing_balance_vnd: int | None = money_field(default=None)
    # The ledger's balance of the bank account at the end of the statement's last day, and
    # closing balance minus it: what the bank holds that the ledger does not know (or owes).
    ledger_balance_vnd: int | None = money_field(default=None)
    balance_difference_vnd: int | None = money_field(default=None)
    counts: dict[str, int] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class StatementLine(SQLModel, table=True):
    """One line of a statement, with the matcher's decision and what was done with it."""

    __tablename__ = "bank_statement_line"
    __table_args__ = (
        sa.UniqueConstraint("bank_account_id", "dedupe_key", name="uq_bank_statement_line_transaction"),
        sa.UniqueConstraint("statement_id", "position", name="uq_bank_statement_line_position"),
    )

    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="bank_statement.id", index=True)
    bank_account_id: int = Field(foreign_key="bank_account.id")
    position: int  # 1-based, in the file
    booked_on: date
    booked_time: str | None = Field(default=None, max_length=8)
    amount_vnd: int = money_field()  # negative: money out
    memo: str = Field(default="", max_length=500)
    bank_reference: str = Field(default="", max_length=100)
    counterparty_name: str = Field(default="", max_length=200)
    counterparty_account: str = Field(default="", max_length=40)
    # SHA-256 of the bank transaction's identity; None on a line repeating an earlier one.
    dedupe_key: str | None = Field(default=None, max_length=64)
    # Indexed: without it every deleted line would scan the table for lines naming it.
    duplicate_of_id: int | None = Field(default=None, foreign_key="bank_statement_line.id", index=True)
    category: str = Field(max_length=12, index=True)
    rule: str = Field(max_length=20)
    confidence: float = 0.0
    reference: str | None = Field(default=None, max_length=11)
    candidates: list[str] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    suggested_request_id: int | None = Field(default=None, foreign_key="payment_request.id")
    payment_id: int | None = Field(default=None, foreign_key="payment.id", unique=True)
    processed_at: datetime | None = _when()
    outcome: str = Field(default="", max_length=200)


class CardSettlementLine(SQLModel, table=True):
    """One balance transaction of the card processor (Stripe) and the payment it settles."""

    __tablename__ = "card_settlement_line"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(default="stripe", max_length=20)
    transaction_id: str = Field(max_length=100, unique=True)  # txn_...
    type: str = Field(max_length=30)  # charge, payment, refund, payout, stripe_fee, adjustment...
    source_id: str = Field(default="", max_length=100)  # ch_..., re_..., po_...
    intent_id: str = Field(default="", max_length=100)  # the PaymentIntent of a charge
    amount_vnd: int = money_field()  # signed, as Stripe gives it (VND has no minor unit)
    fee_vnd: int = money_field(default=0)
    net_vnd: int = money_field()
    currency: str = Field(default="vnd", max_length=3)
    occurred_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    available_on: datetime | None = _when()
    status: str = Field(default="", max_length=20)  # pending | available
    category: str = Field(max_length=20, index=True)  # matched, mismatch, unknown, payout, fee, ...
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    refund_id: int | None = Field(default=None, foreign_key="refund.id")
    outcome: str = Field(default="", max_length=200)
    created_at: datetime = created_at_field()


class ReconciliationReport(SQLModel, table=True):
    """What one day's reconciliation of one ledger account (a bank account, or card clearing)
    found: written by the nightly job, shown to operators and to the account's organisation."""

    __tablename__ = "reconciliation_report"
    __table_args__ = (sa.UniqueConstraint("account_code", "day", name="uq_reconciliation_report_day"),)

    id: int | None = Field(default=None, primary_key=True)
    account_code: str = Field(max_length=80)  # ledger code: "bank:3" or "card_clearing"
    bank_account_id: int | None = Field(default=None, foreign_key="bank_account.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    day: date = Field(index=True)
    matched: int = 0
    exceptions: int = 0
    received_vnd: int = money_field(default=0)
    balance_difference_vnd: int | None = money_field(default=None)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
