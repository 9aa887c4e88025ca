"""What the reconciliation API takes and returns: statements, their lines, daily reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from choso.text import NoControlCharacters
from payments.statement_models import BankStatement, CardSettlementLine, ReconciliationReport, StatementLine
from payments.statements import Review

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoControlCharacters]


class StatementOut(BaseModel):
    id: int
    bank_account_id: int
    filename: str
    format: str
    requested_format: str
    source: str
    sha256: str
    status: str
    error: str
    created_at: datetime
    imported_at: datetime | None
    period_start: date | None
    period_end: date | None
    opening_balance_vnd: int | None
    closing_balance_vnd: int | None
    ledger_balance_vnd: int | None
    balance_difference_vnd: int | None
    counts: dict[str, int]
    new: bool = False  # this call stored the file (False: the same file was stored before)

    @classmethod
    def of(cls, statement: BankStatement, *, new: bool = False) -> StatementOut:
        fields = {name: getattr(statement, name) for name in cls.model_fields if name not in ("id", "new")}
        return cls(id=statement.id or 0, new=new, **fields)


class StatementLineOut(BaseModel):
    id: int
    position: int
    booked_on: date
    booked_time: str | None
    amount_vnd: int
    memo: str
    bank_reference: str
    counterparty_name: str
    category: str
    rule: str
    confidence: float
    reference: str | None
    candidates: list[str]
    suggested_request_id: int | None
    duplicate_of_id: int | None
    payment_id: int | None
    suspense_item_id: int | None
    suspense_status: str | None
    processed: bool
    outcome: str

    @classmethod
    def of(cls, line: StatementLine, review: Review | None) -> StatementLineOut:
        names = set(cls.model_fields) - {"id", "suspense_item_id", "suspense_status", "processed"}
        item = review.item if review else None
        return cls(
            id=line.id or 0,
            suspense_item_id=item.id if item else None,
            suspense_status=item.status if item else None,
            processed=line.processed_at is not None,
            **{name: getattr(line, name) for name in names},
        )


class StatementDetailOut(StatementOut):
    lines: list[StatementLineOut]
    lines_total: int


class ConfirmSuggestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = ""


class ReportOut(BaseModel):
    id: int
    account_code: str
    bank_account_id: int | None
    day: date
    matched: int
    exceptions: int
    received_vnd: int
    balance_difference_vnd: int | None
    details: dict[str, Any]
    updated_at: datetime

    @classmethod
    def of(cls, report: ReconciliationReport) -> ReportOut:
        return cls(id=report.id or 0, **{n: getattr(report, n) for n in cls.model_fields if n != "id"})


class CardSettlementOut(BaseModel):
    id: int
    transaction_id: str
    type: str
    source_id: str
    intent_id: str
    amount_vnd: int
    fee_vnd: int
    net_vnd: int
    occurred_at: datetime
    category: str
    payment_id: int | None
    outcome: str

    @classmethod
    def of(cls, line: CardSettlementLine) -> CardSettlementOut:
        return cls(id=line.id or 0, **{n: getattr(line, n) for n in cls.model_fields if n != "id"})
