"""The nightly reconciliation report: per bank account (and the card clearing account) and day,
what was matched, what needs a person, and how far the bank's balance is from the ledger's.

The job ``payments.reconcile_previous_day`` runs every hour and rewrites the report of the
previous local day (statements and card settlements may arrive late; a report is one row per
account and day, UNIQUE, so a re-run updates it). Its exceptions:

* payments of that day still in suspense (no reference, unknown reference, suggestions);
* statement lines of that day whose application failed;
* for a day covered by an imported statement, payments a webhook reported that no statement
  line confirms (money the bank does not show: a forged or misdirected notification);
* for the card clearing account, balance transactions that match no card payment or refund
  (see payments.card_settlements) and card payments the processor does not show.

Operators and the account's organisation are told once per account and day when a report has
exceptions or a balance difference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from choso.db import insert_ignore, utcnow
from choso.i18n import format_vnd
from market.models import Organisation, Role, User
from payments import ledger
from payments.models import BankAccount, Payment, PaymentStatus, SuspenseItem, SuspenseStatus
from payments.statement_import import PROVIDER, local_day_bounds, local_today, notify
from payments.statement_models import (
    BankStatement,
    ReconciliationReport,
    StatementLine,
    StatementStatus,
)
from payments.statements import accounts_for, get_account_for

COUNTED = (PaymentStatus.SETTLED, PaymentStatus.REFUND_DUE, PaymentStatus.REFUNDED)


def reconcile_previous_day(session: Session, *, day: date | None = None) -> int:
    """Write the reports of ``day`` (default: yesterday, local time); how many were written."""
    day = day or local_today() - timedelta(days=1)
    account_ids = session.exec(select(BankAccount.id).order_by(col(BankAccount.id))).all()
    session.commit()
    for account_id in account_ids:
        write_bank_report(session, account_id or 0, day)
    from payments import card_settlements

    card_settlements.sync_if_configured(session)
    card_settlements.write_report(session, day)
    return len(account_ids) + 1


def write_bank_report(session: Session, account_id: int, day: date) -> ReconciliationReport:
    """Compute and store one bank account's report of one day (commits)."""
    account = session.get_one(BankAccount, account_id)
    start, end = local_day_bounds(day)
    payments = list(
        session.exec(
            select(Payment).where(
                Payment.bank_account_id == account_id,
                col(Payment.received_at) >= start,
                col(Payment.received_at) < end,
            )
        )
    )
    suspense = _open_suspense(session, [p.id or 0 for p in payments])
    lines = Counter(
        dict(
            session.exec(
                select(StatementLine.category, func.count())
                .where(StatementLine.bank_account_id == account_id, StatementLine.booked_on == day)
                .group_by(col(StatementLine.category))
            ).all()
        )
    )
    errors = _line_errors(session, account_id, day)
    covering = _covering_statements(session, account_id, day)
    unconfirmed = _unconfirmed(session, payments) if covering else 0
    closing = next((s for s in covering if s.period_end == day), None)
    details: dict[str, Any] = {
        "payments": len(payments),
        "by_provider": dict(Counter(p.provider for p in payments)),
        "suspense": suspense,
        "unconfirmed": unconfirmed,
        "line_errors": errors,
        "lines": dict(lines),
        "statement_ids": [s.id for s in covering],
        "refund_due": sum(1 for p in payments if p.status == PaymentStatus.REFUND_DUE),
    }
    report = store_report(
        session,
        account_code=ledger.bank(account_id),
        bank_account_id=account_id,
        organisation_id=account.organisation_id,
        day=day,
        matched=sum(1 for p in payments if p.request_id is not None and p.status in COUNTED),
        exceptions=suspense + errors + unconfirmed,
        received_vnd=sum(p.amount_vnd for p in payments),
        balance_difference_vnd=closing.balance_difference_vnd if closing else None,
        details=details,
    )
    _alert(session, account, report)
    session.commit()
    return report


def _open_suspense(session: Session, payment_ids: list[int]) -> int:
    if not payment_ids:
        return 0
    return int(
        session.exec(
            select(func.count()).where(
                col(SuspenseItem.payment_id).in_(payment_ids), SuspenseItem.status == SuspenseStatus.OPEN
            )
        ).one()
    )


def _line_errors(session: Session, account_id: int, day: date) -> int:
    return int(
        session.exec(
            select(func.count()).where(
                StatementLine.bank_account_id == account_id,
                StatementLine.booked_on == day,
                col(StatementLine.outcome).startswith("error"),
            )
        ).one()
    )


def _covering_statements(session: Session, account_id: int, day: date) -> list[BankStatement]:
    """Imported statements of the account whose period includes ``day``, latest first."""
    return list(
        session.exec(
            select(BankStatement)
            .where(
                BankStatement.bank_account_id == account_id,
                BankStatement.status == StatementStatus.IMPORTED,
                col(BankStatement.period_start) <= day,
                col(BankStatement.period_end) >= day,
            )
            .order_by(col(BankStatement.id).desc())
        )
    )


def _unconfirmed(session: Session, payments: list[Payment]) -> int:
    """Payments another source reported that no statement line is linked to."""
    others = [p.id or 0 for p in payments if p.provider != PROVIDER]
    if not others:
        return 0
    linked = session.exec(select(StatementLine.payment_id).where(col(StatementLine.payment_id).in_(others)))
    return len(set(others) - set(linked))


def store_report(session: Session, **values: Any) -> ReconciliationReport:
    """Insert or update the report of (``account_code``, ``day``); flush only."""
    now = utcnow()
    insert_ignore(
        session,
        ReconciliationReport,
        {**values, "created_at": now, "updated_at": now},
        conflict_columns=["account_code", "day"],
    )
    report = session.exec(
        select(ReconciliationReport).where(
            ReconciliationReport.account_code == values["account_code"],
            ReconciliationReport.day == values["day"],
        )
    ).one()
    for name, value in values.items():
        setattr(report, name, value)
    report.updated_at = now
    session.add(report)
    session.flush()
    return report


def _alert(session: Session, account: BankAccount, report: ReconciliationReport) -> None:
    if not report.exceptions and not report.balance_difference_vnd:
        return
    params = {
        "account": f"…{account.account_number[-4:]}",
        "day": report.day.strftime("%d/%m/%Y"),
        "exceptions": report.exceptions,
        "difference": format_vnd(report.balance_difference_vnd or 0),
    }
    notify(
        session,
        account,
        "reconciliation_report",
        params,
        f"reconciliation_report:{report.account_code}:{report.day}",
    )


# --- what the pages and the API show --------------------------------------------------------------


def reports_for_account(
    session: Session, user: User, account_id: int, *, limit: int = 31
) -> list[ReconciliationReport]:
    get_account_for(session, user, account_id)
    return list(
        session.exec(
            select(ReconciliationReport)
            .where(ReconciliationReport.bank_account_id == account_id)
            .order_by(col(ReconciliationReport.day).desc())
            .limit(limit)
        )
    )


def card_reports(session: Session, *, limit: int = 31) -> list[ReconciliationReport]:
    return list(
        session.exec(
            select(ReconciliationReport)
            .where(ReconciliationReport.account_code == ledger.CARD_CLEARING)
            .order_by(col(ReconciliationReport.day).desc())
            .limit(limit)
        )
    )


def latest_reports(session: Session, user: User, *, limit: int = 100) -> list[ReconciliationReport]:
    """The most recent reports the user may see (operators: all, including card clearing)."""
    query = select(ReconciliationReport).order_by(
        col(ReconciliationReport.day).desc(), col(ReconciliationReport.account_code)
    )
    if user.role != Role.OPERATOR:
        if user.organisation_id is None or user.role not in (Role.PRODUCER, Role.AGENCY_OFFICER):
            return []
        query = query.where(ReconciliationReport.organisation_id == user.organisation_id)
    return list(session.exec(query.limit(limit)))


@dataclass(frozen=True)
class AccountOverview:
    """One bank account on the reconciliation page: whose it is, its last statement and report."""

    account: BankAccount
    owner: str  # the organisation's name; "" for the platform's own accounts
    statement: BankStatement | None
    report: ReconciliationReport | None


def overview(session: Session, user: User) -> list[AccountOverview]:
    """The bank accounts ``user`` reconciles, each with its latest statement and daily report."""
    accounts = accounts_for(session, user)
    ids = [a.id or 0 for a in accounts]
    last_statement = (
        select(func.max(BankStatement.id))
        .where(col(BankStatement.bank_account_id).in_(ids))
        .group_by(col(BankStatement.bank_account_id))
    )
    statements = {
        s.bank_account_id: s
        for s in session.exec(select(BankStatement).where(col(BankStatement.id).in_(last_statement)))
    }
    last_report = (
        select(func.max(ReconciliationReport.id))
        .where(col(ReconciliationReport.bank_account_id).in_(ids))
        .group_by(col(ReconciliationReport.bank_account_id))
    )
    latest = select(ReconciliationReport).where(col(ReconciliationReport.id).in_(last_report))
    reports = {r.bank_account_id: r for r in session.exec(latest)}
    names = dict(
        session.exec(
            select(Organisation.id, Organisation.name).where(
                col(Organisation.id).in_({a.organisation_id for a in accounts if a.organisation_id})
            )
        ).all()
    )
    return [
        AccountOverview(a, names.get(a.organisation_id, ""), statements.get(a.id or 0), reports.get(a.id))
        for a in accounts
    ]
