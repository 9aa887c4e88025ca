"""Card settlements: the card processor's balance transactions, matched to card payments, card
refunds and the card clearing account.

Stripe records every movement of our Stripe balance as a *balance transaction*: a charge
(type ``charge`` or ``payment``) adds its amount, a refund (``refund``, ``payment_refund``)
takes it back, and fees (``stripe_fee``, or the ``fee`` of a charge) and payouts to our bank
(``payout``) take money out. Each one is stored once (UNIQUE id) with what it matched:

* a charge → the card payment of its PaymentIntent (Payment provider ``stripe``,
  provider_txn_id = intent id): ``matched`` when the amounts agree, ``mismatch`` when not.
  No such payment is the card form of a lost webhook: the intent is asked for and recorded as
  its webhook would have recorded it (``recovered``); money that cannot be tied to a request
  lands in suspense, the review queue (``unknown``). A charge not in đồng is ``currency``;
* a refund → our Refund with that processor id: ``matched``, else ``unknown_refund``;
* payouts, fees and the rest are recorded (``payout``, ``fee``, ``other``) for the report.

The card clearing account holds card money received less card refunds paid back; the
processor's charges less refunds must come to the same: the daily report shows the difference
and the card payments the processor does not show.

Balance transactions are listed with the official SDK (``/v1/balance_transactions``, newest
first, the charge expanded). A Stripe-compatible server that only serves the older path of the
same list (``/v1/balance/history``, e.g. localstripe) is read there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import stripe
from sqlmodel import Session, col, func, select

from choso.db import insert_ignore, utcnow
from choso.settings import get_settings
from payments import cards, ledger, requests
from payments.models import Payment, Refund
from payments.statement_import import ledger_balance_at, local_day_bounds
from payments.statement_models import CardSettlementLine

log = logging.getLogger(__name__)
CHARGE_TYPES = frozenset({"charge", "payment"})
REFUND_TYPES = frozenset({"refund", "payment_refund"})
FEE_TYPES = frozenset({"stripe_fee", "application_fee", "tax_fee"})
EXCEPTIONS = ("mismatch", "unknown", "unknown_refund", "currency")
RESYNC_OVERLAP = timedelta(days=2)  # each sync reads back this far past the newest one stored


@dataclass(frozen=True)
class BalanceTxn:
    """One balance transaction, as Stripe documents it (amounts in the currency's unit)."""

    id: str
    type: str
    amount: int
    fee: int
    net: int
    currency: str
    created: datetime
    available_on: datetime | None
    status: str
    source_id: str
    intent_id: str


def parse(data: Mapping[str, Any]) -> BalanceTxn:
    """A balance transaction from its JSON (the source expanded or not)."""
    source = data.get("source")
    if isinstance(source, Mapping):
        source_id, intent = str(source.get("id") or ""), str(source.get("payment_intent") or "")
    else:
        source_id, intent = str(source or ""), ""
    available = data.get("available_on")
    return BalanceTxn(
        id=str(data["id"]),
        type=str(data.get("type") or ""),
        amount=int(data.get("amount") or 0),
        fee=int(data.get("fee") or 0),
        net=int(data.get("net", int(data.get("amount") or 0) - int(data.get("fee") or 0))),
        currency=str(data.get("currency") or "").lower(),
        created=datetime.fromtimestamp(int(data.get("created") or 0), UTC),
        available_on=datetime.fromtimestamp(int(available), UTC) if available else None,
        status=str(data.get("status") or ""),
        source_id=source_id,
        intent_id=intent,
    )


def load_file(path: Path) -> list[BalanceTxn]:
    """Balance transactions from a saved list (Stripe's list object, or a bare array)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [parse(item) for item in (data["data"] if isinstance(data, dict) else data)]


# --- reading from the processor ---------------------------------------------------------------------


def _client() -> stripe.StripeClient:
    settings = get_settings()
    return stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": settings.stripe_api_base} if settings.stripe_api_base else None,
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def fetch(*, since: datetime | None = None, client: stripe.StripeClient | None = None) -> list[BalanceTxn]:
    """Balance transactions created at or after ``since`` (all of them without), newest first."""
    client = client or _client()
    found: list[BalanceTxn] = []
    params: dict[str, Any] = {"limit": 100, "expand": ["data.source"]}
    while True:
        page = _page(client, params)
        items = [parse(item) for item in page.get("data", [])]
        found.extend(txn for txn in items if since is None or txn.created >= since)
        if not page.get("has_more") or not items or (since is not None and items[-1].created < since):
            break
        params["starting_after"] = items[-1].id
    return [_with_intent(client, txn) for txn in found]


def _page(client: stripe.StripeClient, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return dict(client.v1.balance_transactions.list(params=params).to_dict())
    except stripe.InvalidRequestError as error:
        if error.http_status != 404:
            raise
    legacy = client.raw_request("get", "/v1/balance/history", **params)
    return dict(client.deserialize(legacy, api_mode="V1").to_dict())


def _with_intent(client: stripe.StripeClient, txn: BalanceTxn) -> BalanceTxn:
    """A charge whose source came unexpanded: its PaymentIntent, from the charge."""
    if txn.type not in CHARGE_TYPES or txn.intent_id or not txn.source_id.startswith(("ch_", "py_")):
        return txn
    charge = client.v1.charges.retrieve(txn.source_id).to_dict()
    intent = str(charge.get("payment_intent") or "")
    return BalanceTxn(**{**txn.__dict__, "intent_id": intent})


def sync_if_configured(session: Session) -> int:
    """Read the new balance transactions from the processor and record them; 0 when card
    payments are not configured or the processor cannot be reached (the next run catches up)."""
    if not cards.configured():
        return 0
    newest = session.exec(select(func.max(CardSettlementLine.occurred_at))).one()
    session.commit()
    since = newest - RESYNC_OVERLAP if newest else None
    try:
        txns = fetch(since=since)
        retrieve = cards.provider().retrieve_intent
    except (stripe.StripeError, cards.CardPaymentsUnavailable) as error:
        log.warning("card settlements: the processor could not be read: %s", error)
        return 0
    return sum(record(session, txns, retrieve_intent=retrieve).values())


# --- matching and recording ---------------------------------------------------------------------------


def record(
    session: Session,
    txns: Iterable[BalanceTxn],
    *,
    retrieve_intent: Callable[[str], cards.IntentInfo] | None = None,
) -> dict[str, int]:
    """Store each balance transaction not stored yet with its match, oldest first, one
    transaction each (commits); how many were stored, by category."""
    counts: dict[str, int] = {}
    for txn in sorted(txns, key=lambda t: (t.created, t.id)):
        if session.exec(
            select(CardSettlementLine.id).where(CardSettlementLine.transaction_id == txn.id)
        ).first():
            session.commit()
            continue
        category, payment_id, refund_id, outcome = _match(session, txn, retrieve_intent)
        stored = insert_ignore(
            session,
            CardSettlementLine,
            {
                "provider": "stripe",
                "transaction_id": txn.id,
                "type": txn.type[:30],
                "source_id": txn.source_id[:100],
                "intent_id": txn.intent_id[:100],
                "amount_vnd": txn.amount,
                "fee_vnd": txn.fee,
                "net_vnd": txn.net,
                "currency": txn.currency[:3],
                "occurred_at": txn.created,
                "available_on": txn.available_on,
                "status": txn.status[:20],
                "category": category,
                "payment_id": payment_id,
                "refund_id": refund_id,
                "outcome": outcome[:200],
                "created_at": utcnow(),
            },
            conflict_columns=["transaction_id"],
            returning="id",
        )
        session.commit()
        if stored is not None:
            counts[category] = counts.get(category, 0) + 1
    return counts


_Match = tuple[str, "int | None", "int | None", str]


def _match(
    session: Session, txn: BalanceTxn, retrieve_intent: Callable[[str], cards.IntentInfo] | None
) -> _Match:
    if txn.type in CHARGE_TYPES:
        return _match_charge(session, txn, retrieve_intent)
    if txn.type in REFUND_TYPES:
        refund = session.exec(select(Refund).where(Refund.provider_refund_id == txn.source_id)).first()
        if refund is None:
            return "unknown_refund", None, None, f"no card refund {txn.source_id} in Choso"
        if refund.amount_vnd != -txn.amount:
            return "mismatch", refund.payment_id, refund.id, f"refund {refund.id} is {refund.amount_vnd}"
        return "matched", refund.payment_id, refund.id, f"refund {refund.id}"
    if txn.type == "payout":
        return "payout", None, None, f"payout {txn.source_id}"
    if txn.type in FEE_TYPES:
        return "fee", None, None, txn.type
    return "other", None, None, txn.type


def _match_charge(
    session: Session, txn: BalanceTxn, retrieve_intent: Callable[[str], cards.IntentInfo] | None
) -> _Match:
    if txn.currency != "vnd":
        return "currency", None, None, f"charge in {txn.currency}, not VND"
    payment = requests.find_payment(session, cards.PROVIDER, txn.intent_id) if txn.intent_id else None
    if payment is not None:
        if payment.amount_vnd != txn.amount:
            return "mismatch", payment.id, None, f"payment {payment.id} is {payment.amount_vnd}"
        return "matched", payment.id, None, f"payment {payment.id}"
    payment = _record_missing_charge(session, txn, retrieve_intent)
    session.flush()
    if payment.request_id is not None:
        return "recovered", payment.id, None, f"payment {payment.id} {payment.status}: its webhook never came"
    return "unknown", payment.id, None, f"payment {payment.id} in suspense"


def _record_missing_charge(
    session: Session, txn: BalanceTxn, retrieve_intent: Callable[[str], cards.IntentInfo] | None
) -> Payment:
    """The card money Stripe holds and Choso never recorded: through the webhook's own path
    when the intent can be read, else into suspense for a person (flush only)."""
    if txn.intent_id and retrieve_intent is not None:
        try:
            return cards.record_success(session, retrieve_intent(txn.intent_id))
        except (cards.ProviderUnavailable, cards.ProviderRefused) as error:
            log.warning("card settlements: intent %s could not be read: %s", txn.intent_id, error)
    return requests.apply_incoming_payment(
        session,
        requests.IncomingPayment(
            provider=cards.PROVIDER,
            provider_txn_id=txn.intent_id or txn.source_id or txn.id,
            amount_vnd=txn.amount,
            received_at=txn.created,
            memo=f"card charge {txn.source_id} found in the processor's balance",
            channel="card",
        ),
    )


# --- what the report and the pages show --------------------------------------------------------------


def list_lines(
    session: Session, *, exceptions_only: bool = False, limit: int = 100, offset: int = 0
) -> tuple[list[CardSettlementLine], int]:
    where = [col(CardSettlementLine.category).in_(EXCEPTIONS)] if exceptions_only else []
    total = session.exec(select(func.count()).select_from(CardSettlementLine).where(*where)).one()
    rows = session.exec(
        select(CardSettlementLine)
        .where(*where)
        .order_by(col(CardSettlementLine.occurred_at).desc(), col(CardSettlementLine.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def clearing_difference(session: Session, end: datetime) -> int:
    """The card clearing account's balance less the processor's charges and refunds, both
    counted before ``end``: money Choso thinks the processor holds that it does not show."""
    processor = session.exec(
        select(func.coalesce(func.sum(CardSettlementLine.amount_vnd), 0)).where(
            col(CardSettlementLine.type).in_(CHARGE_TYPES | REFUND_TYPES),
            CardSettlementLine.currency == "vnd",
            col(CardSettlementLine.occurred_at) < end,
        )
    ).one()
    return ledger_balance_at(session, ledger.CARD_CLEARING, end) - int(processor)


def unsettled_payments(session: Session, start: datetime, end: datetime) -> list[Payment]:
    """Card payments received in [start, end) that no balance transaction matched."""
    matched = select(CardSettlementLine.payment_id).where(col(CardSettlementLine.payment_id).isnot(None))
    return list(
        session.exec(
            select(Payment).where(
                Payment.provider == cards.PROVIDER,
                col(Payment.received_at) >= start,
                col(Payment.received_at) < end,
                col(Payment.id).not_in(matched),
            )
        )
    )


def write_report(session: Session, day: date) -> None:
    """The card clearing account's report of ``day`` (commits). Card payments the processor
    does not show count only once a sync has read past the end of the day."""
    from payments import recon_reports

    start, end = local_day_bounds(day)
    lines = list(
        session.exec(
            select(CardSettlementLine).where(
                col(CardSettlementLine.occurred_at) >= start, col(CardSettlementLine.occurred_at) < end
            )
        )
    )
    newest = session.exec(select(func.max(CardSettlementLine.occurred_at))).one()
    synced = newest is not None and newest >= end
    missing = [p.id for p in unsettled_payments(session, start, end)] if synced else []
    exceptions = [line for line in lines if line.category in EXCEPTIONS]
    categories: dict[str, int] = {}
    for line in lines:
        categories[line.category] = categories.get(line.category, 0) + 1
    recon_reports.store_report(
        session,
        account_code=ledger.CARD_CLEARING,
        bank_account_id=None,
        organisation_id=None,
        day=day,
        matched=categories.get("matched", 0) + categories.get("recovered", 0),
        exceptions=len(exceptions) + len(missing),
        received_vnd=sum(line.amount_vnd for line in lines if line.type in CHARGE_TYPES),
        balance_difference_vnd=clearing_difference(session, end) if newest is not None else None,
        details={
            "lines": categories,
            "missing_payment_ids": missing[:50],
            "synced_past_day": synced,
            "fees_vnd": sum(line.fee_vnd for line in lines)
            - sum(line.amount_vnd for line in lines if line.type in FEE_TYPES),
            "payouts_vnd": -sum(line.amount_vnd for line in lines if line.type == "payout"),
        },
    )
    session.commit()
