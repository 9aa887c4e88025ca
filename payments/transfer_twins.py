"""One bank transfer reported by two sources: a bank feed's webhook (SePay, Casso) and a statement line.

The bank reference decides when both carry it (same account, reference and amount: one
transfer). When one of them has none, the rule is:

    same bank account, same amount, booked on the same local day, bank references that do not
    contradict (one is empty, or they are equal), and memos that name a common reference code
    (or, when neither names a code, the same text once folded and single-spaced);

and the other report must not be paired already (a feed payment is paired when a statement
line links it; a statement payment when a feed event was counted as it). Among several such
reports the oldest is taken when they all belong to the same request — they are then
interchangeable, and the statement, which lists every transfer, catches a real second transfer
later. Reports that belong to different requests are ambiguous: the newcomer is held in suspense
for a person, never credited a second time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from choso.db import lock_rows
from choso.settings import get_settings
from payments import requests
from payments.models import Payment, PaymentRequest, SuspenseItem, WebhookEvent
from payments.recon.text import fold_upper
from payments.reference import find_references

STATEMENT = "statement"  # Payment.provider of statement lines (payments.statement_import.PROVIDER)
_PAIRED_PREFIX = "same transfer as statement payment "


@dataclass(frozen=True)
class Report:
    """What a source says about a transfer, as far as the rule needs it."""

    bank_account_id: int
    amount_vnd: int
    day: date  # local booking day
    memo: str
    bank_reference: str = ""


@dataclass(frozen=True)
class Twin:
    """The outcome of a search: the payment already recorded for the transfer, or the payments it
    may be (ambiguous), or neither."""

    payment: Payment | None = None
    ambiguous: tuple[Payment, ...] = ()


def local_day(moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(get_settings().timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _folded(memo: str) -> str:
    return " ".join(fold_upper(memo).split())


def same_transfer(report: Report, payment: Payment) -> bool:
    """The rule of the module, for one pair (no database)."""
    if payment.bank_account_id != report.bank_account_id or payment.amount_vnd != report.amount_vnd:
        return False
    if payment.bank_reference and report.bank_reference and payment.bank_reference != report.bank_reference:
        return False
    if local_day(payment.received_at) != report.day:
        return False
    codes, theirs = set(find_references(report.memo)), set(find_references(payment.memo))
    if codes or theirs:
        return bool(codes & theirs)
    return _folded(report.memo) == _folded(payment.memo)


def choose(report: Report, candidates: Sequence[Payment], paired: set[int]) -> Twin:
    """The payment ``report`` repeats among ``candidates`` (oldest first), by the module's rule."""
    fitting = sorted(
        (p for p in candidates if p.id not in paired and same_transfer(report, p)), key=lambda p: p.id or 0
    )
    if not fitting:
        return Twin()
    if len({payment.request_id for payment in fitting}) > 1:
        return Twin(ambiguous=tuple(fitting))
    return Twin(payment=fitting[0])


def paired_outcome(payment_id: int | None) -> str:
    """The outcome a feed event records when it was counted as a statement payment (its mark)."""
    return f"{_PAIRED_PREFIX}{payment_id}"


def twin_of_feed_report(session: Session, report: Report) -> Twin:
    """A statement payment that a feed's report (webhook) repeats. Locks the requests its memo
    names first, so that a statement line applied at the same time waits for this decision."""
    lock_requests_named(session, report.memo)
    start, end = day_bounds(report.day)
    candidates = session.exec(
        select(Payment).where(
            Payment.bank_account_id == report.bank_account_id,
            Payment.provider == STATEMENT,
            Payment.amount_vnd == report.amount_vnd,
            col(Payment.received_at) >= start,
            col(Payment.received_at) < end,
        )
    ).all()
    if not candidates:
        return Twin()
    if report.bank_reference:  # the bank's own reference decides when both have one
        same = [p for p in candidates if p.bank_reference == report.bank_reference]
        if same:
            return Twin(payment=min(same, key=lambda p: p.id or 0))
    marks = {paired_outcome(p.id): p.id or 0 for p in candidates}
    paired = {
        marks[outcome]
        for outcome in session.exec(select(WebhookEvent.outcome).where(col(WebhookEvent.outcome).in_(marks)))
    }
    return choose(report, candidates, paired)


def hold(session: Session, incoming: requests.IncomingPayment, twin: Twin) -> Payment:
    """Record a report that may repeat one of ``twin.ambiguous`` in suspense, crediting nobody,
    with the candidates named for the person who decides (flushes)."""
    ids = ", ".join(str(p.id) for p in twin.ambiguous) or "a webhook recorded"
    payment = requests.apply_incoming_payment(
        session, dataclasses.replace(incoming, reference_code=None, request_id=None)
    )
    item = session.exec(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id)).first()
    if item is not None and payment.provider == incoming.provider:
        item.reason = f"may be the same transfer as payments {ids}"[:200]
        session.add(item)
        session.flush()
    return payment


def lock_requests_named(session: Session, memo: str) -> None:
    """Lock the payment requests a memo names (lowest id first): a statement line and a webhook
    reporting the same transfer then decide one after the other."""
    codes = find_references(memo)
    if not codes:
        return
    ids = session.exec(select(PaymentRequest.id).where(col(PaymentRequest.reference_code).in_(codes))).all()
    lock_rows(session, PaymentRequest, [i for i in ids if i])
