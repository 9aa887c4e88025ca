"""Refunds: held at once, posted on Stripe's confirmation, never more than was paid (50 racing
requests), retried with a growing wait while Stripe is down, released when they fail; who may
refund; overpayments, late card payments and suspense items on the same path."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select, update

from choso.audit import SYSTEM, AuditEntry
from choso.db import make_engine, session_scope, utcnow
from choso.settings import get_settings
from market.models import ApiToken, Notification, Role, User
from payments import ledger, refunds, requests
from payments.localstripe import LocalStripe
from payments.models import Payment, PaymentRequest, Receipt, Refund, SuspenseItem
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.payments import card_support as cs
from tests.payments.helpers import bearer, post_sepay, sepay_body
from tests.payments.helpers import notice as bank_notice

pytestmark = pytest.mark.usefixtures("localstripe", "ledger_clean")
_keys = iter(range(10**6))


def ask_refund(
    client: TestClient, headers: dict[str, str], payment_id: int, key: str | None = None, **body: Any
) -> Any:
    return client.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"reason": "Khách trả lại hàng", **body},
        headers={**headers, "Idempotency-Key": key or f"refund-key-{next(_keys):06d}"},
    )


def card_payment(client: TestClient, db: Session, amount_vnd: int = 150_000) -> tuple[cs.Scene, Payment]:
    scene = cs.scene(amount_vnd)
    assert cs.pay_by_card(client, scene)["status"] == "succeeded"
    db.rollback()
    return scene, db.exec(select(Payment).where(Payment.request_id == scene.request.id)).one()


def submitted(db: Session, refund_id: int) -> Refund:
    """The refund once its job has handed it to Stripe (jobs run asynchronously)."""

    def look() -> Refund | None:
        db.rollback()
        refund = db.get_one(Refund, refund_id)
        return refund if refund.status != "pending" else None

    return eventually(look)


def confirm_at_stripe(client: TestClient, db: Session, refund_id: int, status: str = "succeeded") -> None:
    """Stripe's webhook about the refund (localstripe emits none; the object is its own)."""
    db.rollback()
    stripe_id = db.get_one(Refund, refund_id).provider_refund_id
    assert stripe_id
    event = cs.event_of("refund.updated", {**cs.refund_object(stripe_id), "status": status})
    assert cs.deliver(client, event).status_code == 200
    wait_for_jobs()
    db.rollback()


def test_a_card_refund_is_held_at_once_and_posted_when_stripe_confirms_it(
    client: TestClient, db: Session
) -> None:
    scene, payment = card_payment(client, db)
    answer = ask_refund(client, scene.staff, payment.id or 0, amount_vnd=40_000)
    assert answer.status_code == 201, answer.text
    refund_id = answer.json()["id"]
    assert answer.json()["status"] == "pending" and answer.json()["method"] == "card"
    refund = submitted(db, refund_id)  # the job hands it to Stripe
    assert refund.status == "submitted" and refund.provider_refund_id
    stripe_refund = cs.refund_object(refund.provider_refund_id)
    assert (stripe_refund["amount"], stripe_refund["payment_intent"]) == (40_000, payment.provider_txn_id)
    assert stripe_refund["metadata"]["choso_refund_id"] == str(refund_id)
    # Held for the payer, not paid back yet: the card clearing still has all of it.
    assert ledger.balance(db, ledger.payable(scene.organisation_id)) == -110_000
    assert ledger.balance(db, ledger.REFUNDS_DUE) == -40_000
    assert ledger.balance(db, ledger.CARD_CLEARING) == 150_000

    confirm_at_stripe(client, db, refund_id)
    refund = db.get_one(Refund, refund_id)
    assert refund.status == "succeeded" and refund.completed_at
    assert ledger.balance(db, ledger.REFUNDS_DUE) == 0
    assert ledger.balance(db, ledger.CARD_CLEARING) == 110_000
    note = db.get_one(Receipt, refund.credit_note_id)
    assert (note.kind, note.amount_vnd, note.content["title"]) == ("credit_note", 40_000, "PHIẾU HOÀN TIỀN")
    notices = eventually(
        lambda: db.exec(
            select(Notification).where(
                Notification.user_id == scene.payer_id, Notification.kind == "refund_completed"
            )
        ).all()
    )
    assert notices[0].params["reference"] == scene.request.reference_code
    actions = db.exec(
        select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.object_type == "refund")
    ).all()
    assert ("refund.create", scene.staff_id) in actions and ("refund.complete", None) in actions
    cs.run_ledger_check_cli()


def test_the_sync_job_confirms_a_refund_whose_webhook_was_lost(client: TestClient, db: Session) -> None:
    scene, payment = card_payment(client, db, 90_000)
    refund_id = ask_refund(client, scene.staff, payment.id or 0).json()["id"]
    submitted(db, refund_id)
    with session_scope() as session:
        assert refunds.sync_card_refunds(session) == 1
    db.rollback()
    assert db.get_one(Refund, refund_id).status == "succeeded"
    assert db.get_one(Payment, payment.id).status == "refunded"  # all of it went back
    assert ask_refund(client, scene.staff, payment.id or 0, amount_vnd=1_000).status_code == 409


def test_a_refund_stripe_fails_releases_the_money_where_it_was(client: TestClient, db: Session) -> None:
    scene, payment = card_payment(client, db, 100_000)
    refund_id = ask_refund(client, scene.staff, payment.id or 0, amount_vnd=100_000).json()["id"]
    submitted(db, refund_id)
    confirm_at_stripe(client, db, refund_id, status="failed")
    assert db.get_one(Refund, refund_id).status == "failed"
    assert db.get_one(Payment, payment.id).refunded_vnd == 0
    assert ledger.balance(db, ledger.payable(scene.organisation_id)) == -100_000
    assert ledger.balance(db, ledger.REFUNDS_DUE) == 0
    assert ledger.balance(db, ledger.CARD_CLEARING) == 100_000
    # A success reported afterwards (out of order) does not bring it back to life.
    confirm_at_stripe(client, db, refund_id, status="succeeded")
    assert db.get_one(Refund, refund_id).status == "failed"
    # And the amount can be refunded again.
    assert ask_refund(client, scene.staff, payment.id or 0, amount_vnd=100_000).status_code == 201


def race_refunds(user_id: int, payment_id: int, amount_vnd: int, count: int, **destination: str) -> list[str]:
    """``count`` refunds asked for at the same moment, each in its own transaction (the use
    case the API route calls), on connections of their own; what became of each.

    (With more sessions waiting on one row than the app's pool has connections, the pool itself
    would be the bottleneck, so the race gets a pool as large as it.)"""
    url = get_settings().effective_database_url
    engine = make_engine(url) if url.startswith("sqlite") else sa.create_engine(url, pool_size=count + 2)
    barrier = threading.Barrier(count)

    def one(index: int) -> str:
        data = refunds.RefundIn(amount_vnd=amount_vnd, reason="Trả lại một phần", **destination)
        barrier.wait()
        with Session(engine, expire_on_commit=False) as session:
            user = session.get_one(User, user_id)
            try:
                refunds.create_refund(
                    session, user, payment_id, data, idempotency_key=f"race-{index:03d}", actor=SYSTEM
                )
            except refunds.RefundExceedsPayment:
                return "409"
        return "201"

    try:
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(one, range(count)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("channel", ["card", "bank_transfer"])
def test_fifty_partial_refunds_racing_never_exceed_the_payment(
    client: TestClient, db: Session, channel: str
) -> None:
    if channel == "card":
        scene, payment = card_payment(client, db, 1_000_000)
        destination: dict[str, str] = {}
    else:
        scene = cs.scene(1_000_000)
        body = sepay_body(bank_notice(scene.account.account_number, 1_000_000, scene.request.reference_code))
        assert post_sepay(client, body).status_code == 200
        wait_for_jobs()
        db.rollback()
        payment = db.exec(select(Payment)).one()
        destination = {
            "bank_bin": "970436",
            "account_number": "0071000123456",
            "holder_name": "NGUYEN THI LAN",
        }
    outcomes = race_refunds(scene.staff_id, payment.id or 0, 30_000, 50, **destination)
    assert outcomes.count("201") == 33 and outcomes.count("409") == 17
    # Through the API, the next one gets the same clear 409.
    refused = ask_refund(client, scene.staff, payment.id or 0, amount_vnd=30_000, **destination)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "refund_exceeds_payment"
    assert "10.000" in refused.json()["error"]["message"]  # what is left, said plainly
    wait_for_jobs()
    db.rollback()
    accepted = db.exec(select(Refund).where(Refund.payment_id == payment.id)).all()
    assert sum(r.amount_vnd for r in accepted) == 990_000 == db.get_one(Payment, payment.id).refunded_vnd
    # Held for the payer until the money goes (Stripe's confirmation, or the payout line).
    assert ledger.balance(db, ledger.REFUNDS_DUE) == -990_000


def test_stripe_unreachable_keeps_the_refund_pending_and_retries_with_a_growing_wait(
    client: TestClient, db: Session, localstripe: LocalStripe
) -> None:
    scene, payment = card_payment(client, db, 60_000)
    localstripe.stop()
    try:
        answer = ask_refund(client, scene.staff, payment.id or 0)
        assert answer.status_code == 201

        def tried() -> Refund | None:  # the submission fails: nobody answers
            db.rollback()
            row = db.get_one(Refund, answer.json()["id"])
            return row if row.attempts and row.last_error else None

        refund = eventually(tried)
        assert (refund.status, refund.attempts, refund.provider_refund_id) == ("pending", 1, None)
        assert refund.last_error
        first_wait = (refund.next_attempt_at - utcnow()).total_seconds()
        assert 20 < first_wait <= 30
        with session_scope() as session:  # not due yet: nothing is tried
            assert refunds.retry_due_card_refunds(session) == 0
            assert refunds.retry_due_card_refunds(session, now=utcnow() + timedelta(seconds=31)) == 1
        db.rollback()
        refund = db.get_one(Refund, refund.id)
        assert refund.attempts == 2 and (refund.next_attempt_at - utcnow()).total_seconds() > 55  # doubled
    finally:
        localstripe.start()
    assert [refunds.retry_delay(n) for n in (1, 2, 3, 10, 30)] == [30, 60, 120, 3600, 3600]
    assert ledger.balance(db, ledger.CARD_CLEARING) == 60_000  # nothing left the card clearing
    with session_scope() as session:
        assert refunds.retry_due_card_refunds(session, now=utcnow() + timedelta(seconds=31 + 61)) == 1
    db.rollback()
    refund = db.get_one(Refund, refund.id)
    assert refund.status == "submitted" and refund.provider_refund_id
    confirm_at_stripe(client, db, refund.id or 0)
    assert db.get_one(Refund, refund.id).status == "succeeded"
    assert ledger.balance(db, ledger.CARD_CLEARING) == 0


def test_a_replayed_refund_request_returns_the_first_and_other_content_is_a_409(
    client: TestClient, db: Session
) -> None:
    scene, payment = card_payment(client, db)
    first = ask_refund(client, scene.staff, payment.id or 0, key="same-key-123", amount_vnd=10_000)
    again = ask_refund(client, scene.staff, payment.id or 0, key="same-key-123", amount_vnd=10_000)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    other = ask_refund(client, scene.staff, payment.id or 0, key="same-key-123", amount_vnd=20_000)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    db.rollback()
    assert db.get_one(Payment, payment.id).refunded_vnd == 10_000


def test_who_may_refund(client: TestClient, db: Session) -> None:
    scene, payment = card_payment(client, db)
    _org, other_staff = factories.staff()
    operator = factories.user(Role.OPERATOR)
    assert (
        ask_refund(client, scene.payer, payment.id or 0).status_code == 403
    )  # the payer sees, cannot refund
    assert ask_refund(client, bearer(other_staff), payment.id or 0).status_code == 404
    assert (
        ask_refund(client, bearer(factories.user()), payment.id or 0).status_code == 403
    )  # buyers never refund
    assert (
        client.get(f"/api/v1/payments/{payment.id}/refunds", headers=bearer(other_staff)).status_code == 404
    )
    assert ask_refund(client, bearer(operator), payment.id or 0, amount_vnd=5_000).status_code == 201
    assert len(client.get(f"/api/v1/payments/{payment.id}/refunds", headers=scene.payer).json()) == 1
    reason = ask_refund(client, scene.staff, payment.id or 0, reason="  ")
    assert reason.status_code == 422


def test_a_refund_needs_a_recent_password(client: TestClient, db: Session) -> None:
    scene, payment = card_payment(client, db)
    with session_scope() as session:
        session.exec(update(ApiToken).values(authenticated_at=utcnow() - timedelta(hours=2)))  # type: ignore[call-overload]
        session.commit()
    answer = ask_refund(client, scene.staff, payment.id or 0)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "reauthentication_required"
    db.rollback()
    assert db.get_one(Payment, payment.id).refunded_vnd == 0


def test_a_bank_transfer_refund_needs_the_payers_account(client: TestClient, db: Session) -> None:
    scene = cs.scene(50_000)
    post_sepay(
        client, sepay_body(bank_notice(scene.account.account_number, 50_000, scene.request.reference_code))
    )
    wait_for_jobs()
    payment = db.exec(select(Payment)).one()
    missing = ask_refund(client, scene.staff, payment.id or 0)
    assert missing.status_code == 422
    unknown_bank = ask_refund(
        client, scene.staff, payment.id or 0, bank_bin="999999", account_number="0123456", holder_name="AN"
    )
    assert unknown_bank.status_code == 422
    ok = ask_refund(
        client,
        scene.staff,
        payment.id or 0,
        bank_bin="970436",
        account_number="0071000123456",
        holder_name="NGUYEN VAN A",
    )
    assert (
        ok.status_code == 201 and ok.json()["method"] == "bank_transfer" and ok.json()["status"] == "pending"
    )
    db.rollback()
    # The payment went into the payee's own account: the hold comes out of its "direct" balance.
    assert ledger.balance(db, ledger.direct(scene.organisation_id)) == 0
    assert ledger.balance(db, ledger.REFUNDS_DUE) == -50_000


def test_a_second_card_payment_goes_back_by_itself(client: TestClient, db: Session) -> None:
    """The payer and the payee's clerk each start paying (two attempts, two intents) and both
    cards are charged: the second payment is not owed, and is refunded without anyone asking."""
    scene = cs.scene(45_000)
    first = cs.start(client, scene)
    second = client.post(
        f"/api/v1/payment-requests/{scene.request.id}/card-attempts", headers=scene.staff
    ).json()
    assert second["intent_id"] != first["intent_id"]
    stripe = cs.stripe_client()
    for number, attempt in enumerate((first, second), start=1):
        stripe.v1.payment_intents.update(attempt["intent_id"], params={"payment_method": cs.payment_method()})
        stripe.v1.payment_intents.confirm(attempt["intent_id"])
        (event,) = cs.events_about(attempt["intent_id"], "payment_intent.succeeded")
        assert cs.deliver(client, event).status_code == 200
        eventually(lambda n=number: db.rollback() or len(db.exec(select(Payment)).all()) == n)
    db.rollback()
    payments = db.exec(select(Payment).order_by(col(Payment.id))).all()
    assert [(p.status, p.excess_vnd) for p in payments] == [("settled", 0), ("refund_due", 45_000)]
    (automatic,) = db.exec(select(Refund)).all()
    assert (automatic.payment_id, automatic.amount_vnd, automatic.created_by_id) == (
        payments[1].id,
        45_000,
        None,
    )
    assert automatic.from_due_vnd == 45_000  # the excess was already held for the payer
    assert submitted(db, automatic.id or 0).status == "submitted"
    confirm_at_stripe(client, db, automatic.id or 0)
    assert db.get_one(Payment, payments[1].id).status == "refunded"
    assert db.get_one(PaymentRequest, scene.request.id).status == "paid"
    assert ledger.balance(db, ledger.CARD_CLEARING) == 45_000


def test_an_overpayment_and_a_suspense_item_are_refunded_from_what_is_held(
    client: TestClient, db: Session
) -> None:
    scene = cs.scene(100_000)
    post_sepay(
        client, sepay_body(bank_notice(scene.account.account_number, 130_000, scene.request.reference_code))
    )
    post_sepay(client, sepay_body(bank_notice(scene.account.account_number, 20_000, "CHUYEN TIEN KHONG MA")))
    wait_for_jobs()
    db.rollback()
    over, unknown = db.exec(select(Payment).order_by(col(Payment.id))).all()
    assert (over.excess_vnd, unknown.status) == (30_000, "suspense")
    destination = {"bank_bin": "970436", "account_number": "0071000999888", "holder_name": "TRAN VAN B"}
    # The excess first, from refunds due; more than that would come out of the payee's balance.
    answer = ask_refund(client, scene.staff, over.id or 0, amount_vnd=30_000, **destination)
    assert answer.status_code == 201
    db.rollback()
    refund = db.get_one(Refund, answer.json()["id"])
    assert (refund.from_due_vnd, refund.payee_account) == (30_000, "")
    # A suspense item: not refundable until an operator marks it for refund; then by operators only.
    operator = factories.user(Role.OPERATOR)
    assert ask_refund(client, bearer(operator), unknown.id or 0, **destination).status_code == 409
    item = db.exec(select(SuspenseItem)).one()
    with session_scope() as session:
        requests.refund_suspense(
            session, session.get_one(type(operator), operator.id), item.id or 0, note="", actor=SYSTEM
        )
    assert ask_refund(client, scene.staff, unknown.id or 0, **destination).status_code == 404
    answer = ask_refund(client, bearer(operator), unknown.id or 0, **destination)
    assert answer.status_code == 201 and answer.json()["amount_vnd"] == 20_000
    db.rollback()
    assert db.get_one(Refund, answer.json()["id"]).from_due_vnd == 20_000
    assert ledger.balance(db, ledger.REFUNDS_DUE) == -50_000  # both wait for their payout line
