"""Figures of the payments domain for dashboards and pilot reports, as plain rows.

Definitions (windows are ``[start, end)`` in UTC):

* payments by channel: money *received* in the window (``received_at``), by channel (vietqr,
  card) and by what became of it (settled, refund_due, suspense, refunded);
* request outcomes: payment requests *created* in the window, by state now; a paid request
  counts for the channel of the payment that settled it. The success rate of a channel is its
  paid requests over the closed ones (paid, expired, cancelled); the expiry rate is the
  expired ones over the closed ones; card attempts also have their own success rate
  (succeeded over finished attempts);
* waiting now (not windowed): unclaimed payments in suspense, reconciliation exceptions
  (card settlement lines to look at, statements that could not be read), refunds not yet
  done, webhook events not yet processed (``stale``: older than two minutes, which the
  requeue job should have picked up), and the balances of the suspense and refunds-due
  ledger accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from choso.db import utcnow
from market.models import Organisation
from payments import ledger
from payments.models import (
    CardAttempt,
    Payment,
    PaymentRequest,
    PayoutLine,
    Refund,
    SuspenseItem,
    WebhookEvent,
)
from payments.statement_models import BankStatement, CardSettlementLine, StatementLine

CLOSED = ("paid", "expired", "cancelled")
CARD_EXCEPTIONS = ("mismatch", "unknown", "unknown_refund", "currency")
STALE_WEBHOOK = timedelta(minutes=2)


def _window(column: Any, start: datetime, end: datetime) -> list[Any]:
    return [col(column) >= start, col(column) < end]


def payments_by_channel(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Payment.channel, Payment.status, func.count(), func.coalesce(func.sum(Payment.amount_vnd), 0))
        .where(*_window(Payment.received_at, start, end))
        .group_by(col(Payment.channel), col(Payment.status))
        .order_by(col(Payment.channel), col(Payment.status))
    ).all()
    return [{"channel": c, "status": str(s), "payments": int(n), "amount_vnd": int(a)} for c, s, n, a in rows]


def received(session: Session, start: datetime, end: datetime) -> list[tuple[datetime, str, int]]:
    """(received_at, channel, amount) of every payment of the window: the daily series."""
    rows = session.exec(
        select(Payment.received_at, Payment.channel, Payment.amount_vnd).where(
            *_window(Payment.received_at, start, end)
        )
    ).all()
    return [(at, channel, int(amount)) for at, channel, amount in rows]


def request_outcomes(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    created = _window(PaymentRequest.created_at, start, end)
    states = dict(
        session.exec(
            select(PaymentRequest.status, func.count()).where(*created).group_by(col(PaymentRequest.status))
        ).all()
    )
    paid_by = dict(
        session.exec(
            select(Payment.channel, func.count(func.distinct(Payment.request_id)))
            .join(PaymentRequest, col(PaymentRequest.id) == Payment.request_id)
            .where(*created, PaymentRequest.status == "paid", Payment.status == "settled")
            .group_by(col(Payment.channel))
        ).all()
    )
    closed = sum(int(states.get(s, 0)) for s in CLOSED)
    attempts = dict(
        session.exec(
            select(CardAttempt.status, func.count())
            .where(*_window(CardAttempt.created_at, start, end))
            .group_by(col(CardAttempt.status))
        ).all()
    )
    finished = sum(int(attempts.get(s, 0)) for s in ("succeeded", "failed", "canceled"))

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "by_state": {str(k): int(v) for k, v in states.items()},
        "closed": closed,
        "paid_by_channel": {str(k): int(v) for k, v in paid_by.items()},
        "success_rate": {ch: rate(int(paid_by.get(ch, 0)), closed) for ch in ("vietqr", "card")},
        "expiry_rate": rate(int(states.get("expired", 0)), closed),
        "card_attempts": {str(k): int(v) for k, v in attempts.items()},
        "card_attempt_success_rate": rate(int(attempts.get("succeeded", 0)), finished),
    }


def waiting(session: Session) -> dict[str, Any]:
    """What needs a person now (see the module's rule)."""
    suspense_open = session.exec(
        select(func.count(), func.coalesce(func.sum(Payment.amount_vnd), 0))
        .select_from(SuspenseItem)
        .join(Payment, col(Payment.id) == SuspenseItem.payment_id)
        .where(SuspenseItem.status == "open")
    ).one()
    from_statements = session.exec(
        select(func.count())
        .select_from(SuspenseItem)
        .join(StatementLine, col(StatementLine.payment_id) == SuspenseItem.payment_id)
        .where(SuspenseItem.status == "open")
    ).one()
    card_exceptions = session.exec(
        select(func.count())
        .select_from(CardSettlementLine)
        .where(col(CardSettlementLine.category).in_(CARD_EXCEPTIONS))
    ).one()
    failed_statements = session.exec(
        select(func.count()).select_from(BankStatement).where(BankStatement.status == "failed")
    ).one()
    refunds = dict(
        session.exec(
            select(Refund.status, func.count())
            .where(col(Refund.status).in_(("pending", "submitted")))
            .group_by(col(Refund.status))
        ).all()
    )
    return {
        "suspense_items": int(suspense_open[0]),
        "suspense_items_vnd": int(suspense_open[1]),
        "suspense_from_statements": int(from_statements),
        "card_settlement_exceptions": int(card_exceptions),
        "failed_statements": int(failed_statements),
        "reconciliation_exceptions": int(from_statements) + int(card_exceptions) + int(failed_statements),
        "refunds_pending": int(refunds.get("pending", 0)),
        "refunds_submitted": int(refunds.get("submitted", 0)),
        "suspense_balance_vnd": -ledger.balance(session, ledger.SUSPENSE),
        "refunds_due_balance_vnd": -ledger.balance(session, ledger.REFUNDS_DUE),
        **webhook_backlog(session),
    }


def webhook_backlog(session: Session) -> dict[str, int]:
    pending = col(WebhookEvent.processed_at).is_(None)
    total = session.exec(select(func.count()).select_from(WebhookEvent).where(pending)).one()
    stale = session.exec(
        select(func.count())
        .select_from(WebhookEvent)
        .where(pending, col(WebhookEvent.received_at) <= utcnow() - STALE_WEBHOOK)
    ).one()
    return {"webhooks_pending": int(total), "webhooks_stale": int(stale)}


def refunds_in(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Refund.status, Refund.method, func.count(), func.coalesce(func.sum(Refund.amount_vnd), 0))
        .where(*_window(Refund.created_at, start, end))
        .group_by(col(Refund.status), col(Refund.method))
        .order_by(col(Refund.status), col(Refund.method))
    ).all()
    return [
        {"status": str(s), "method": str(m), "refunds": int(n), "amount_vnd": int(a)} for s, m, n, a in rows
    ]


# --- drill-down lists: (rows, total), newest first ------------------------------------------


def _page(session: Session, query: Any, count: Any, limit: int, offset: int) -> tuple[list[Any], int]:
    return list(session.exec(query.limit(limit).offset(offset)).all()), int(session.exec(count).one())


def list_payments(
    session: Session, start: datetime, end: datetime, *, channel: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    conditions = _window(Payment.received_at, start, end)
    if channel:
        conditions.append(Payment.channel == channel)
    rows, total = _page(
        session,
        select(Payment).where(*conditions).order_by(col(Payment.id).desc()),
        select(func.count()).select_from(Payment).where(*conditions),
        limit,
        offset,
    )
    return [
        {
            "id": p.id,
            "received_at": p.received_at,
            "channel": p.channel,
            "provider": p.provider,
            "status": str(p.status),
            "amount_vnd": p.amount_vnd,
            "request_id": p.request_id,
        }
        for p in rows
    ], total


def list_refunds(
    session: Session, start: datetime, end: datetime, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    conditions = _window(Refund.created_at, start, end)
    if status:
        conditions.append(Refund.status == status)
    rows, total = _page(
        session,
        select(Refund).where(*conditions).order_by(col(Refund.id).desc()),
        select(func.count()).select_from(Refund).where(*conditions),
        limit,
        offset,
    )
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "method": str(r.method),
            "status": str(r.status),
            "amount_vnd": r.amount_vnd,
            "payment_id": r.payment_id,
            "last_error": r.last_error,
        }
        for r in rows
    ], total


def list_webhook_events(
    session: Session, start: datetime, end: datetime, *, pending_only: bool, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    conditions = (
        [col(WebhookEvent.processed_at).is_(None)]
        if pending_only
        else _window(WebhookEvent.received_at, start, end)
    )
    rows, total = _page(
        session,
        select(WebhookEvent).where(*conditions).order_by(col(WebhookEvent.id).desc()),
        select(func.count()).select_from(WebhookEvent).where(*conditions),
        limit,
        offset,
    )
    return [
        {
            "id": e.id,
            "received_at": e.received_at,
            "source": e.source,
            "external_id": e.external_id,
            "processed_at": e.processed_at,
            "outcome": e.outcome,
        }
        for e in rows
    ], total


# --- an organisation's money -----------------------------------------------------------------


def organisation_money(
    session: Session, organisation_id: int, start: datetime, end: datetime
) -> dict[str, int]:
    """What the platform owes the organisation now, and what was paid out to it in the window."""
    paid_out = session.exec(
        select(func.coalesce(func.sum(PayoutLine.amount_vnd), 0)).where(
            PayoutLine.organisation_id == organisation_id,
            PayoutLine.kind == "payout",
            PayoutLine.status == "settled",
            *_window(PayoutLine.settled_at, start, end),
        )
    ).one()
    return {
        "payable_balance_vnd": -ledger.balance(session, ledger.payable(organisation_id)),
        "direct_balance_vnd": -ledger.balance(session, ledger.direct(organisation_id)),
        "paid_out_vnd": int(paid_out),
    }


def card_usage(
    session: Session, start: datetime, end: datetime
) -> list[tuple[int | None, int | None, int, int]]:
    """Card payments received in the window per payee organisation and its ward (pilot reports)."""
    rows = session.exec(
        select(
            PaymentRequest.payee_organisation_id,
            Organisation.ward_code,
            func.count(),
            func.sum(Payment.amount_vnd),
        )
        .join(PaymentRequest, col(PaymentRequest.id) == Payment.request_id)
        .join(Organisation, col(Organisation.id) == PaymentRequest.payee_organisation_id)
        .where(Payment.channel == "card", *_window(Payment.received_at, start, end))
        .group_by(col(PaymentRequest.payee_organisation_id), col(Organisation.ward_code))
    ).all()
    return [(org, ward, int(n), int(amount or 0)) for org, ward, n, amount in rows]
