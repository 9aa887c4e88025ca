"""POST /webhooks/stripe: the SDK's signature check (forged, stale, tampered → 400 and nothing
stored), and events delivered many times, concurrently, and in any order acting once."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from payments import ledger
from payments.models import CardAttempt, Payment, PaymentRequest, Receipt, Refund, WebhookEvent
from tests.conftest import eventually, wait_for_jobs
from tests.payments import card_support as cs

pytestmark = pytest.mark.usefixtures("localstripe", "ledger_clean")


def count(db: Session, model: type[Any]) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).select_from(model)).one())


def confirmed_in_the_browser(client: TestClient, scene: cs.Scene) -> dict[str, Any]:
    """Stripe.js confirms the intent itself: Choso hears of it only from Stripe."""
    attempt = cs.start(client, scene)
    stripe = cs.stripe_client()
    stripe.v1.payment_intents.update(attempt["intent_id"], params={"payment_method": cs.payment_method()})
    assert stripe.v1.payment_intents.confirm(attempt["intent_id"]).status == "succeeded"
    (event,) = cs.events_about(attempt["intent_id"], "payment_intent.succeeded")
    return event


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param({"secret": "whsec_someone_else"}, id="forged"),
        pytest.param({"timestamp": int(time.time()) - 600}, id="stale"),
    ],
)
def test_a_forged_or_stale_signature_is_refused_and_nothing_changes(
    client: TestClient, db: Session, spoil: dict[str, Any]
) -> None:
    event = confirmed_in_the_browser(client, cs.scene(50_000))
    answer = cs.deliver(client, event, **spoil)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "webhook_rejected"
    wait_for_jobs()
    assert count(db, WebhookEvent) == 0 and count(db, Payment) == 0


def test_a_missing_signature_or_a_tampered_body_is_refused(client: TestClient, db: Session) -> None:
    event = confirmed_in_the_browser(client, cs.scene(50_000))
    body, headers = cs.signed(event)
    assert (
        client.post(
            "/webhooks/stripe", content=body, headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    tampered = body.replace(b'"amount": 50000', b'"amount": 5000000')
    assert tampered != body
    assert client.post("/webhooks/stripe", content=tampered, headers=headers).status_code == 400
    assert client.post("/webhooks/stripe", content=b"{not json", headers=headers).status_code == 400
    wait_for_jobs()
    assert count(db, WebhookEvent) == 0 and count(db, Payment) == 0


def test_the_same_event_delivered_twenty_times_at_once_pays_once(client: TestClient, db: Session) -> None:
    scene = cs.scene(175_000)
    event = confirmed_in_the_browser(client, scene)
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: cs.deliver(client, event).status_code, range(20)))
    assert statuses == [200] * 20
    wait_for_jobs()
    assert count(db, WebhookEvent) == 1
    (payment,) = db.exec(select(Payment)).all()
    assert (payment.provider_txn_id, payment.amount_vnd, payment.status) == (
        event["data"]["object"]["id"],
        175_000,
        "settled",
    )
    assert db.get_one(PaymentRequest, scene.request.id).status == "paid"
    assert db.exec(select(CardAttempt)).one().status == "succeeded"
    assert ledger.balance(db, ledger.CARD_CLEARING) == 175_000
    # Later deliveries of the processed event are acknowledged and change nothing.
    assert cs.deliver(client, event).status_code == 200
    wait_for_jobs()
    assert count(db, Payment) == 1


def refund_by_staff(client: TestClient, scene: cs.Scene, payment_id: int, amount_vnd: int) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"amount_vnd": amount_vnd, "reason": "Hàng bị hỏng một phần"},
        headers={**scene.staff, "Idempotency-Key": f"refund-{payment_id}-{amount_vnd}"},
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_events_in_any_order_and_repeated_give_one_payment_and_one_of_each_refund(
    client: TestClient, db: Session, seed: int
) -> None:
    scene = cs.scene(300_000)
    paid = cs.pay_by_card(client, scene)  # recorded at once from the confirmation's answer
    payment_id = db.exec(select(Payment.id)).one() or 0
    refunds = [refund_by_staff(client, scene, payment_id, amount) for amount in (50_000, 70_000)]
    for refund in refunds:  # both submitted to Stripe (by jobs); neither posted yet
        eventually(lambda r=refund: db.rollback() or db.get_one(Refund, r["id"]).status != "pending")
    db.rollback()
    stripe_ids = [db.get_one(Refund, r["id"]).provider_refund_id for r in refunds]
    assert all(stripe_ids) and {db.get_one(Refund, r["id"]).status for r in refunds} == {"submitted"}
    assert ledger.balance(db, ledger.CARD_CLEARING) == 300_000  # not before Stripe confirms

    succeeded = cs.events_about(paid["intent_id"], "payment_intent.succeeded")
    intent = succeeded[0]["data"]["object"]
    charge = cs.intent(paid["intent_id"])["latest_charge"]  # localstripe expands it, refunds listed
    assert len(charge["refunds"]["data"]) == 2
    events = [
        *succeeded,
        cs.event_of("payment_intent.payment_failed", {**intent, "status": "requires_payment_method"}),
        *(cs.event_of("refund.created", {**cs.refund_object(i), "status": "pending"}) for i in stripe_ids),
        *(cs.event_of("refund.updated", cs.refund_object(i)) for i in stripe_ids),
        cs.event_of("charge.refunded", charge),
    ]
    deliveries = events * 3
    random.Random(seed).shuffle(deliveries)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda event: cs.deliver(client, event).status_code, deliveries))
    assert set(statuses) == {200}
    wait_for_jobs()
    db.rollback()

    assert count(db, WebhookEvent) == len(events)
    assert db.exec(select(func.count()).where(col(WebhookEvent.processed_at).is_(None))).one() == 0
    assert count(db, Payment) == 1
    assert [db.get_one(Refund, r["id"]).status for r in refunds] == ["succeeded", "succeeded"]
    notes = db.exec(select(Receipt).where(Receipt.kind == "credit_note").order_by(col(Receipt.number))).all()
    assert [n.amount_vnd for n in notes] == [50_000, 70_000] or [n.amount_vnd for n in notes] == [
        70_000,
        50_000,
    ]
    assert ledger.balance(db, ledger.CARD_CLEARING) == 300_000 - 120_000
    assert ledger.balance(db, ledger.REFUNDS_DUE) == 0
    assert ledger.balance(db, ledger.payable(scene.organisation_id)) == -(300_000 - 120_000)
    assert db.get_one(PaymentRequest, scene.request.id).status == "paid"
    payment = db.get_one(Payment, payment_id)
    assert (payment.status, payment.refunded_vnd) == ("settled", 120_000)


def test_events_about_others_are_acknowledged_and_ignored(client: TestClient, db: Session) -> None:
    scene = cs.scene(40_000)
    stranger_intent = (
        cs.stripe_client().v1.payment_intents.create(params={"amount": 40_000, "currency": "vnd"}).to_dict()
    )
    for event in (
        cs.event_of("customer.created", {"id": "cus_123", "object": "customer"}),
        cs.event_of("payment_intent.payment_failed", stranger_intent),
        cs.event_of(
            "refund.updated", {"id": "re_unknown", "object": "refund", "status": "succeeded", "amount": 1}
        ),
    ):
        assert cs.deliver(client, event).status_code == 200
    wait_for_jobs()
    db.rollback()
    outcomes = sorted(e.outcome for e in db.exec(select(WebhookEvent)))
    assert outcomes == sorted(
        [
            "customer.created: ignored",
            f"intent {stranger_intent['id']} is not ours",
            "refund re_unknown is not ours",
        ]
    )
    assert count(db, Payment) == 0 and count(db, Refund) == 0
    assert db.get_one(PaymentRequest, scene.request.id).status == "open"


def test_a_success_for_an_intent_nobody_claims_goes_to_suspense(client: TestClient, db: Session) -> None:
    """Money that arrived is never dropped: an intent whose metadata names no request of ours."""
    stripe = cs.stripe_client()
    created = stripe.v1.payment_intents.create(
        params={
            "amount": 25_000,
            "currency": "vnd",
            "payment_method": cs.payment_method(),
            "metadata": {"choso_request_id": "999999", "choso_reference": "CSNOTOURS"},
        }
    )
    stripe.v1.payment_intents.confirm(created.id)
    (event,) = cs.events_about(created.id, "payment_intent.succeeded")
    assert cs.deliver(client, event).status_code == 200
    wait_for_jobs()
    (payment,) = db.exec(select(Payment)).all()
    assert (payment.status, payment.request_id, payment.amount_vnd) == ("suspense", None, 25_000)
    assert ledger.balance(db, ledger.SUSPENSE) == -25_000
