"""Bank-transaction webhooks: verify → store raw (deduplicated) → enqueue → answer fast.

The route calls :func:`accept`; a job calls :func:`process_event` by the stored event's id.
A replay of the same provider transaction is acknowledged and changes nothing: the inbox is
UNIQUE on (source, external id), the payment on (provider, provider transaction id), and the
ledger transaction on its idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from choso.db import insert_ignore, lock_rows, utcnow
from choso.errors import InvalidInput, NotAuthenticated
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from payments import requests, transfer_twins
from payments.bank_feeds import BankFeed, BankNotification, CassoFeed, FeedRejected, SePayFeed
from payments.models import BankAccount, WebhookEvent
from payments.reference import find_references

PROCESS_TASK = "payments.process_webhook_event"


def _sandbox_secret() -> str:
    # A sandbox without a configured SePay secret signs its simulated transfers with one
    # derived from the site key, so that they still pass the real verification.
    return hmac.new(
        get_settings().effective_secret_key.encode(), b"sandbox-sepay", hashlib.sha256
    ).hexdigest()


def feed(source: str) -> BankFeed:
    """The configured adapter for ``source``; an unconfigured one refuses everything."""
    settings = get_settings()
    if source == "sepay" and settings.sepay_webhook_secret:
        return SePayFeed(mode=settings.sepay_auth, secret=settings.sepay_webhook_secret)
    if source == "sepay" and settings.sandbox:
        return SePayFeed(mode="hmac", secret=_sandbox_secret())
    if source == "casso" and settings.casso_webhook_secret:
        return CassoFeed(secret=settings.casso_webhook_secret)
    raise NotAuthenticated(N_("This webhook is not configured."))


def _receiving_account(session: Session, notice: BankNotification) -> BankAccount | None:
    return session.exec(
        select(BankAccount).where(
            BankAccount.account_number == notice.account_number, col(BankAccount.is_active).is_(True)
        )
    ).first()


def accept(session: Session, source: str, headers: Mapping[str, str], body: bytes) -> int:
    """Verify and store a webhook delivery; returns how many new events were queued."""
    adapter = feed(source)
    try:
        adapter.authenticate(headers, body, datetime.now(UTC))
        notices = adapter.parse(body)
    except FeedRejected as rejected:
        error = NotAuthenticated if rejected.status == 401 else InvalidInput
        raise error(rejected.message, field=rejected.field) from None
    queued = 0
    for notice in notices:
        if notice.direction == "in" and _receiving_account(session, notice) is None:
            raise InvalidInput(
                N_("This account number is not registered with Chợ Số."), field="accountNumber"
            )
    raw = json.loads(body)  # the adapter has parsed it already: it is JSON
    for notice in notices:
        queued += _store(session, source, notice, raw)
    session.commit()
    return queued


def _store(session: Session, source: str, notice: BankNotification, raw: object) -> int:
    # The raw delivery as received, and what the adapter read from it (the job works on that).
    payload = {"raw": raw, "notice": {**asdict(notice), "occurred_at": notice.occurred_at.isoformat()}}
    insert_ignore(
        session,
        WebhookEvent,
        {
            "source": source,
            "external_id": notice.external_id,
            "payload": payload,
            "received_at": utcnow(),
            "outcome": "",
        },
        conflict_columns=["source", "external_id"],
    )
    event = session.exec(
        select(WebhookEvent).where(
            WebhookEvent.source == source, WebhookEvent.external_id == notice.external_id
        )
    ).one()
    if event.processed_at is not None or session.info.get(("queued", event.id)):
        return 0
    # A redelivery of an event not yet processed is queued again: harmless (the job skips
    # processed events) and it recovers a delivery whose first job was lost.
    session.info[("queued", event.id)] = True
    enqueue_after_commit(session, PROCESS_TASK, event_id=event.id)
    return 1


def process_event(session: Session, event_id: int) -> str:
    """Handle one stored event (a job); skips events already handled. Commits."""
    lock_rows(session, WebhookEvent, [event_id])
    event = session.get(WebhookEvent, event_id, populate_existing=True)
    if event is None:
        return "missing"
    if event.processed_at is not None:
        return "already processed"
    if event.source == "stripe":  # card events have their own reader
        from payments import stripe_webhooks

        event.outcome = stripe_webhooks.apply_event(session, event.payload)[:200]
    else:
        fields = dict(event.payload["notice"])
        fields["occurred_at"] = datetime.fromisoformat(fields["occurred_at"])
        event.outcome = _apply(session, BankNotification(**fields))
    event.processed_at = utcnow()
    session.add(event)
    session.commit()
    return event.outcome


def _apply(session: Session, notice: BankNotification) -> str:
    account = _receiving_account(session, notice)
    if notice.direction != "in":  # a transfer out may confirm a payout line
        from payments import payouts

        return payouts.apply_outgoing(session, notice, account) if account else "outgoing transfer recorded"
    if account is None:
        return "account no longer registered"
    codes = find_references(notice.memo)
    twin = transfer_twins.Twin()
    if requests.find_payment(session, notice.source, notice.external_id) is None:
        report = transfer_twins.Report(
            account.id or 0,
            notice.amount_vnd,
            transfer_twins.local_day(notice.occurred_at),
            notice.memo,
            notice.bank_reference,
        )
        twin = transfer_twins.twin_of_feed_report(session, report)
    if twin.payment is not None:  # a statement line recorded this transfer first: one payment
        return transfer_twins.paired_outcome(twin.payment.id)
    incoming = requests.IncomingPayment(
        provider=notice.source,
        provider_txn_id=notice.external_id,
        amount_vnd=notice.amount_vnd,
        received_at=notice.occurred_at,
        bank_account_id=account.id,
        reference_code=codes[0] if len(codes) == 1 else None,
        memo=notice.memo,
        payer_name=notice.payer_name,
        bank_reference=notice.bank_reference,
    )
    if twin.ambiguous:  # a person decides; nobody is credited twice
        payment = transfer_twins.hold(session, incoming, twin)
    else:
        payment = requests.apply_incoming_payment(session, incoming)
    if payment.provider == transfer_twins.STATEMENT:
        return transfer_twins.paired_outcome(payment.id)
    return f"payment {payment.id} {payment.status}"


def requeue_stale_events(session: Session, *, older_than_seconds: float = 120, batch: int = 500) -> int:
    """Queue again the events still unprocessed after a while (a job lost with a killed
    worker, a broker that dropped it). Harmless when the first job is merely slow: the job
    skips events already processed. Commits."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    stale = session.exec(
        select(WebhookEvent.id)
        .where(col(WebhookEvent.processed_at).is_(None), col(WebhookEvent.received_at) <= cutoff)
        .order_by(col(WebhookEvent.id))
        .limit(batch)
    ).all()
    for event_id in stale:
        enqueue_after_commit(session, PROCESS_TASK, event_id=event_id)
    session.commit()
    return len(stale)
