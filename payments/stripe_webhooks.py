"""Stripe webhooks: verify the signature → store the raw event once → process it in a job.

The route calls :func:`accept`: the ``Stripe-Signature`` header is checked by the SDK
(``stripe.Webhook.construct_event``) against CHOSO_STRIPE_WEBHOOK_SECRET, with
CHOSO_STRIPE_WEBHOOK_TOLERANCE_SECONDS for its timestamp; a forged, stale or missing
signature is a 400 and nothing is stored. The event goes into the same inbox as the bank
feeds (``webhook_event``, source "stripe", UNIQUE on the event id), and the inbox job
(payments.webhooks.process_event) hands it to :func:`apply_event`.

Events come late, twice, or in another order than they happened (a refund's before its
payment's success, a failure after a success): every handler is idempotent and moves our
rows forward only (see payments.cards and payments.refunds), so the ledger posts once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe
from sqlmodel import Session

from choso.db import insert_ignore, utcnow
from choso.errors import DomainError
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from payments import cards, refunds
from payments.models import WebhookEvent
from payments.webhooks import PROCESS_TASK

SOURCE = "stripe"
INTENT_REPORTS = frozenset(
    {
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
        "payment_intent.requires_action",
    }
)
REFUND_REPORTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


class StripeWebhookRejected(DomainError):
    status_code = 400
    code = "webhook_rejected"


def accept(session: Session, headers: Mapping[str, str], body: bytes) -> bool:
    """Verify and store one delivery; True if it was queued for processing. Commits."""
    secret = get_settings().stripe_webhook_secret
    if not secret:
        raise StripeWebhookRejected(N_("This webhook is not configured."))
    try:
        stripe.Webhook.construct_event(
            body,
            headers.get("stripe-signature"),
            secret,
            tolerance=get_settings().stripe_webhook_tolerance_seconds,
        )
        event = json.loads(body)
    except (stripe.SignatureVerificationError, ValueError):
        raise StripeWebhookRejected(N_("The Stripe signature is missing, wrong or too old.")) from None
    event_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 100:
        raise StripeWebhookRejected(N_("This is not a Stripe event."))
    queued = _store(session, event_id, event)
    session.commit()
    return queued


def _store(session: Session, event_id: str, event: dict[str, Any]) -> bool:
    """The event once; only its first delivery queues the job. (A job lost after that first
    commit is published by the outbox relay, and an event left unprocessed is queued again
    by the periodic requeue job: redeliveries, often many at once, need not add jobs.)"""
    new_id = insert_ignore(
        session,
        WebhookEvent,
        {"source": SOURCE, "external_id": event_id, "payload": event, "received_at": utcnow(), "outcome": ""},
        conflict_columns=["source", "external_id"],
        returning="id",
    )
    if new_id is None:
        return False
    enqueue_after_commit(session, PROCESS_TASK, event_id=new_id)
    return True


def apply_event(session: Session, event: Mapping[str, Any]) -> str:
    """Act on one stored event (inside the inbox job's transaction; flush only); the outcome."""
    kind = str(event.get("type") or "")
    data = (event.get("data") or {}).get("object") or {}
    if not isinstance(data, Mapping) or "id" not in data:
        return f"{kind}: no object"
    if kind == "payment_intent.succeeded":
        intent = cards.intent_from(data)
        payment = cards.record_success(session, intent)
        return f"payment {payment.id} {payment.status}"
    if kind in INTENT_REPORTS:
        return cards.record_intent_status(session, cards.intent_from(data))
    if kind in REFUND_REPORTS:
        return refunds.apply_provider_refund(session, cards.refund_from(data))
    if kind == "charge.refunded":
        return _charge_refunded(session, data)
    return f"{kind}: ignored"


def _charge_refunded(session: Session, charge: Mapping[str, Any]) -> str:
    """A charge with refunds: each refund listed in it, or (not listed, as in recent API
    versions) a look at our submitted refunds by the sync job."""
    listed = (charge.get("refunds") or {}).get("data") or []
    outcomes = [refunds.apply_provider_refund(session, cards.refund_from(item)) for item in listed]
    if not listed:
        enqueue_after_commit(session, refunds.SYNC_TASK)
        outcomes.append("refunds to be looked up")
    return "; ".join(outcomes)[:200]
