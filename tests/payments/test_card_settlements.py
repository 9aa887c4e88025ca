"""Card settlements: the processor's balance transactions matched to card payments, refunds and
the card clearing account — live against localstripe for charges, and from a recorded list in
Stripe's documented shape (tests/payments/data) for what localstripe does not have (payouts,
fees, refunds Choso does not know, amounts that differ)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from choso.db import session_scope
from market.models import Role
from payments import card_settlements, cards, ledger, requests
from payments.models import Payment, PaymentRequest, Refund, RefundMethod, RefundStatus, SuspenseItem
from payments.statement_models import CardSettlementLine, ReconciliationReport
from tests import factories
from tests.payments import card_support as cs
from tests.payments.helpers import bearer
from tests.payments.statement_support import ledger_clean

RECORDED = Path(__file__).parent / "data" / "stripe_balance_transactions.json"
HANOI = timezone(timedelta(hours=7))
DAY = date(2026, 11, 20)


def lines_by_transaction(db: Session) -> dict[str, CardSettlementLine]:
    db.rollback()
    return {line.transaction_id: line for line in db.exec(select(CardSettlementLine))}


def card_payment(request: PaymentRequest, intent_id: str, amount_vnd: int, hour: int) -> Payment:
    with session_scope() as session:
        payment = requests.apply_incoming_payment(
            session,
            requests.IncomingPayment(
                provider=cards.PROVIDER,
                provider_txn_id=intent_id,
                amount_vnd=amount_vnd,
                received_at=datetime(2026, 11, 20, hour, tzinfo=HANOI),
                request_id=request.id,
                channel="card",
            ),
        )
        session.commit()
        session.expunge(payment)
    return payment


def test_recorded_balance_transactions_are_matched_and_exceptions_reported(db: Session) -> None:
    org, _staff = factories.staff()
    account = factories.bank_account(org.id)
    paid = factories.payment_request(org.id, account.id, 150_000)
    differs = factories.payment_request(org.id, account.id, 100_000)
    unseen = factories.payment_request(org.id, account.id, 20_000)
    first = card_payment(paid, "pi_1QfixtureIntent0001", 150_000, 10)
    card_payment(differs, "pi_1QfixtureIntent0003", 100_000, 12)
    missing = card_payment(unseen, "pi_1QfixtureIntent0004", 20_000, 14)  # Stripe never shows it
    with session_scope() as session:
        session.add(
            Refund(
                payment_id=first.id,
                request_id=paid.id,
                method=RefundMethod.CARD,
                status=RefundStatus.SUCCEEDED,
                amount_vnd=50_000,
                reason="trả lại một phần",
                provider_refund_id="re_1QfixtureRefund0001",
            )
        )
        session.commit()

    txns = card_settlements.load_file(RECORDED)
    with session_scope() as session:
        stored = card_settlements.record(session, txns)
    assert stored == {
        "matched": 2, "unknown": 1, "mismatch": 1, "unknown_refund": 1, "fee": 2, "payout": 1,
    }  # fmt: skip
    found = lines_by_transaction(db)
    assert (found["txn_1QfixtureCharge0001"].category, found["txn_1QfixtureCharge0001"].payment_id) == (
        "matched",
        first.id,
    )
    assert found["txn_1QfixtureCharge0001"].fee_vnd == 4650
    assert found["txn_1QfixtureRefund0001"].category == "matched"
    assert found["txn_1QfixtureCharge0003"].category == "mismatch"
    # Money at Stripe that Choso never recorded: into the review queue, not lost.
    unknown = found["txn_1QfixtureCharge0002"]
    assert unknown.category == "unknown"
    db.rollback()
    item = db.exec(select(SuspenseItem).where(SuspenseItem.payment_id == unknown.payment_id)).one()
    assert item.status == "open"

    with session_scope() as session:  # reading the same list again stores nothing new
        assert card_settlements.record(session, txns) == {}
    with session_scope() as session:
        card_settlements.write_report(session, DAY)
    db.rollback()
    report = db.exec(
        select(ReconciliationReport).where(ReconciliationReport.account_code == ledger.CARD_CLEARING)
    ).one()
    assert report.day == DAY and report.matched == 2
    assert report.details["missing_payment_ids"] == [missing.id]
    assert report.exceptions == 4  # mismatch, unknown charge, unknown refund, payment Stripe does not show
    # Clearing: 150k + 100k + 20k + 75k recorded; Stripe: 150k + 99k + 75k - 50k - 30k.
    assert report.balance_difference_vnd == (150_000 + 100_000 + 20_000 + 75_000) - (
        150_000 + 99_000 + 75_000 - 80_000
    )
    assert report.details["payouts_vnd"] == 2_000_000
    ledger_clean()


def test_the_operator_sees_card_settlements_and_others_do_not(client: TestClient) -> None:
    operator = factories.user(Role.OPERATOR)
    _org, staff = factories.staff()
    with session_scope() as session:
        card_settlements.record(session, card_settlements.load_file(RECORDED))
    seen = client.get("/api/v1/card-settlements?exceptions=true", headers=bearer(operator))
    assert seen.status_code == 200
    assert {row["category"] for row in seen.json()["items"]} == {"unknown", "unknown_refund"}
    assert client.get("/api/v1/card-settlements", headers=bearer(staff)).status_code == 403


@pytest.mark.usefixtures("localstripe")
def test_a_charge_whose_webhook_never_came_is_recorded_from_the_processor_s_balance(
    client: TestClient, db: Session
) -> None:
    normal = cs.scene(150_000)
    assert cs.pay_by_card(client, normal)["status"] == "succeeded"
    lost = cs.scene(90_000)
    attempt = cs.start(client, lost)
    # The payer's browser confirmed at Stripe, and then neither the answer nor the webhook came.
    stripe = cs.stripe_client()
    stripe.v1.payment_intents.update(attempt["intent_id"], params={"payment_method": cs.payment_method()})
    assert stripe.v1.payment_intents.confirm(attempt["intent_id"]).status == "succeeded"
    db.rollback()
    assert db.get_one(PaymentRequest, lost.request.id).status == "open"

    with session_scope() as session:
        assert card_settlements.sync_if_configured(session) >= 2
    found = {line.intent_id: line for line in lines_by_transaction(db).values()}
    normal_intent = db.exec(
        select(Payment.provider_txn_id).where(Payment.request_id == normal.request.id)
    ).one()
    assert found[normal_intent].category == "matched"
    assert found[attempt["intent_id"]].category == "recovered"
    db.rollback()
    assert db.get_one(PaymentRequest, lost.request.id, populate_existing=True).status == "paid"
    recovered = db.exec(select(Payment).where(Payment.request_id == lost.request.id)).all()
    assert [(p.provider, p.amount_vnd) for p in recovered] == [("stripe", 90_000)]

    with session_scope() as session:  # a second sync finds nothing new and records nothing twice
        assert card_settlements.sync_if_configured(session) == 0
    db.rollback()
    total = db.exec(
        select(Payment).where(col(Payment.request_id).in_([normal.request.id, lost.request.id]))
    ).all()
    assert len(total) == 2
    ledger_clean()
