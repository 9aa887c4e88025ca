"""Card payments end to end through the Stripe SDK against a real localstripe process: success,
decline and authentication, the return redirect and the webhook posting once, a processor
that is down, an answer lost on the way, and card details never reaching Choso."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from choso.settings import get_settings, reset_settings
from market.models import User
from payments import ledger
from payments.localstripe import LocalStripe
from payments.models import CardAttempt, Payment, PaymentRequest, Receipt
from tests.conftest import eventually, wait_for_jobs
from tests.payments import card_support as cs
from tests.support import csrf_from, page_login

pytestmark = pytest.mark.usefixtures("localstripe", "ledger_clean")


def payments_of(db: Session, request_id: int) -> list[Payment]:
    db.rollback()
    return list(db.exec(select(Payment).where(Payment.request_id == request_id)))


def test_a_card_that_succeeds_pays_the_request_once_by_confirmation_webhook_and_return(
    client: TestClient, db: Session
) -> None:
    scene = cs.scene(150_000)
    paid = cs.pay_by_card(client, scene)
    assert paid["status"] == "succeeded" and paid["client_secret"] is None
    intent = cs.intent(paid["intent_id"])
    assert (intent["amount"], intent["currency"]) == (150_000, "vnd")  # whole đồng, zero-decimal
    trace = intent["metadata"].pop("choso_http_request_id")
    assert intent["metadata"] == {
        "choso_request_id": str(scene.request.id),
        "choso_reference": scene.request.reference_code,
        "choso_attempt_id": str(paid["attempt_id"]),
    }
    assert trace and len(trace) <= 64  # the X-Request-ID of the API call that created it
    # The webhook (as localstripe sends it) and the payer's return report the same success.
    (event,) = cs.events_about(paid["intent_id"], "payment_intent.succeeded")
    assert cs.deliver(client, event).status_code == 200
    assert (
        client.post(f"/api/v1/card-attempts/{paid['attempt_id']}/complete", headers=scene.payer).json()[
            "status"
        ]
        == "succeeded"
    )
    cs.run_ledger_check_cli()

    (payment,) = payments_of(db, scene.request.id or 0)
    assert (payment.provider, payment.channel, payment.amount_vnd, payment.status) == (
        "stripe",
        "card",
        150_000,
        "settled",
    )
    request = db.get_one(PaymentRequest, scene.request.id)
    assert (request.status, request.received_vnd) == ("paid", 150_000)
    assert ledger.balance(db, ledger.CARD_CLEARING) == 150_000
    assert ledger.balance(db, ledger.payable(scene.organisation_id)) == -150_000
    assert len(db.exec(select(Receipt).where(Receipt.request_id == scene.request.id)).all()) == 1


def test_a_declined_card_charges_nothing_and_another_card_can_pay(client: TestClient, db: Session) -> None:
    scene = cs.scene(80_000)
    attempt = cs.start(client, scene)
    declined = client.post(
        f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
        json={"payment_method": cs.payment_method(cs.DECLINED)},
        headers=scene.payer,
    )
    assert declined.status_code == 402
    assert declined.json()["error"]["code"] == "card_declined"
    (failure,) = cs.events_about(attempt["intent_id"], "payment_intent.payment_failed")
    assert cs.deliver(client, failure).status_code == 200
    assert payments_of(db, scene.request.id or 0) == []
    row = db.get_one(CardAttempt, attempt["attempt_id"])
    assert row.status == "failed" and row.last_error  # over: its intent is cancelled
    assert cs.intent(attempt["intent_id"])["status"] == "canceled"

    again = cs.pay_by_card(client, scene, cs.SUCCEEDS)  # a new attempt, a new intent
    assert again["status"] == "succeeded" and again["intent_id"] != attempt["intent_id"]
    assert [p.amount_vnd for p in payments_of(db, scene.request.id or 0)] == [80_000]


def test_a_card_that_needs_authentication_pays_after_it_and_not_before(
    client: TestClient, db: Session
) -> None:
    scene = cs.scene(95_000)
    attempt = cs.pay_by_card(client, scene, cs.NEEDS_AUTHENTICATION)
    assert attempt["status"] == "requires_action" and attempt["client_secret"]
    assert payments_of(db, scene.request.id or 0) == []
    # The return before authentication changes nothing.
    client.post(f"/api/v1/card-attempts/{attempt['attempt_id']}/complete", headers=scene.payer)
    assert payments_of(db, scene.request.id or 0) == []

    assert cs.authenticate(attempt["intent_id"], attempt["client_secret"])["status"] == "succeeded"
    (event,) = cs.events_about(attempt["intent_id"], "payment_intent.succeeded")
    assert cs.deliver(client, event).status_code == 200
    eventually(lambda: payments_of(db, scene.request.id or 0))  # the webhook's job has run
    done = client.post(f"/api/v1/card-attempts/{attempt['attempt_id']}/complete", headers=scene.payer)
    assert done.json()["status"] == "succeeded"
    assert [p.amount_vnd for p in payments_of(db, scene.request.id or 0)] == [95_000]


def test_failed_authentication_leaves_the_request_open(client: TestClient, db: Session) -> None:
    scene = cs.scene(60_000)
    attempt = cs.pay_by_card(client, scene, cs.NEEDS_AUTHENTICATION)
    cs.authenticate(attempt["intent_id"], attempt["client_secret"], success=False)
    answer = client.post(f"/api/v1/card-attempts/{attempt['attempt_id']}/complete", headers=scene.payer)
    assert answer.json()["status"] == "requires_payment_method"
    assert db.get_one(PaymentRequest, scene.request.id).status == "open"
    assert payments_of(db, scene.request.id or 0) == []


def test_the_unfinished_intent_is_reused_and_an_amount_change_gets_a_new_one(
    client: TestClient, db: Session
) -> None:
    scene = cs.scene(70_000)
    first = cs.start(client, scene)
    assert cs.start(client, scene)["intent_id"] == first["intent_id"]
    assert len(db.exec(select(CardAttempt)).all()) == 1


def test_strangers_cannot_see_or_use_an_attempt(client: TestClient) -> None:
    scene = cs.scene(50_000)
    attempt = cs.start(client, scene)
    stranger = cs.bearer(cs.factories.user())
    for path in ("confirm", "complete"):
        body = {"payment_method": cs.payment_method()} if path == "confirm" else None
        answer = client.post(
            f"/api/v1/card-attempts/{attempt['attempt_id']}/{path}", json=body, headers=stranger
        )
        assert answer.status_code == 404
    assert (
        client.post(
            f"/api/v1/payment-requests/{scene.request.id}/card-attempts", headers=stranger
        ).status_code
        == 404
    )


def test_card_numbers_are_refused_by_choso(client: TestClient, db: Session) -> None:
    scene = cs.scene(50_000)
    attempt = cs.start(client, scene)
    for value in ("4242424242424242", "4242 4242 4242 4242", "pm_" + "x" * 3, "tok_visa"):
        answer = client.post(
            f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
            json={"payment_method": value},
            headers=scene.payer,
        )
        assert answer.status_code == 422
    assert payments_of(db, scene.request.id or 0) == []


def test_stripe_unreachable_at_checkout_is_a_clear_retryable_error_and_charges_nothing(
    client: TestClient, db: Session, localstripe: LocalStripe
) -> None:
    scene = cs.scene(120_000)
    localstripe.stop()
    try:
        answer = client.post(
            f"/api/v1/payment-requests/{scene.request.id}/card-attempts",
            headers={**scene.payer, "Accept-Language": "en"},
        )
    finally:
        localstripe.start()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"]
    assert answer.json()["error"]["code"] == "card_processor_unavailable"
    assert "Nothing was charged" in answer.json()["error"]["message"]
    db.rollback()
    assert [a.status for a in db.exec(select(CardAttempt))] == ["failed"]
    assert db.get_one(PaymentRequest, scene.request.id).status == "open"
    # Back up: the same payer simply tries again.
    paid = cs.pay_by_card(client, scene)
    assert paid["status"] == "succeeded"
    assert [p.amount_vnd for p in payments_of(db, scene.request.id or 0)] == [120_000]


def test_stripe_unreachable_when_confirming_leaves_the_intent_uncharged_and_retryable(
    client: TestClient, db: Session, localstripe: LocalStripe
) -> None:
    scene = cs.scene(40_000)
    attempt = cs.start(client, scene)
    method = cs.payment_method()
    localstripe.stop()
    try:
        answer = client.post(
            f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
            json={"payment_method": method},
            headers=scene.payer,
        )
    finally:
        localstripe.start()
    assert answer.status_code == 503
    assert cs.intent(attempt["intent_id"])["status"] == "requires_payment_method"
    assert payments_of(db, scene.request.id or 0) == []
    retried = client.post(
        f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
        json={"payment_method": method},
        headers=scene.payer,
    )
    assert retried.json()["status"] == "succeeded"


def test_a_create_whose_answer_is_lost_is_retried_with_the_same_key_and_charges_once(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localstripe ignores idempotency keys, so the lost intent exists twice there: Choso's own
    safety is that the retry carries the same key (Stripe would return the first intent) and
    that an intent whose answer was lost is never given to a browser, so never charged."""
    scene = cs.scene(88_000)
    proxy = cs.LosingProxy(get_settings().stripe_api_base, path="/v1/payment_intents", losses=1)
    with proxy.running():
        monkeypatch.setenv("CHOSO_STRIPE_API_BASE", proxy.url)
        reset_settings()
        try:
            attempt = cs.start(client, scene)
        finally:
            monkeypatch.undo()
            reset_settings()
    creates = [
        headers for method, path, headers in proxy.seen if (method, path) == ("POST", "/v1/payment_intents")
    ]
    assert len(creates) == 2  # the lost one and its retry
    assert creates[0]["Idempotency-Key"] == creates[1]["Idempotency-Key"]
    assert creates[0]["Idempotency-Key"].endswith(f":intent:{attempt['attempt_id']}")

    paid = client.post(
        f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
        json={"payment_method": cs.payment_method()},
        headers=scene.payer,
    )
    assert paid.json()["status"] == "succeeded"
    ours = [
        i
        for i in cs.stripe_client().v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
        if i.metadata.to_dict().get("choso_reference") == scene.request.reference_code
    ]
    assert sorted(i.status for i in ours) == ["requires_payment_method", "succeeded"]
    assert [p.amount_vnd for p in payments_of(db, scene.request.id or 0)] == [88_000]


def test_the_card_page_loads_stripe_js_from_settings_and_posts_no_card_fields(
    client: TestClient, db: Session
) -> None:
    scene = cs.scene(66_000)
    page_login(client, db.get_one(User, scene.payer_id).email)
    pay_page = client.get(f"/pay/{scene.request.id}")
    started = client.post(
        f"/pay/{scene.request.id}/card", data={"csrf_token": csrf_from(pay_page)}, follow_redirects=False
    )
    assert started.status_code == 303
    page = client.get(started.headers["location"])
    assert page.status_code == 200
    base = get_settings().stripe_api_base
    assert f'<script src="{base}/js.stripe.com/v3/"></script>' in page.text
    assert "https://js.stripe.com" not in page.text  # the sandbox's stand-in, no CDN
    policy = page.headers["Content-Security-Policy"]
    assert f"script-src 'self' {base};" in policy and f"connect-src 'self' {base};" in policy
    assert "4242 4242 4242 4242" in page.text  # the sandbox's test cards
    assert "<input" not in page.text.split('id="card-form"')[1].split("</form>")[0]  # Stripe.js fills it
    assert page.headers["Cache-Control"] == "no-store"


def test_attempt_states_never_go_backwards(client: TestClient, db: Session) -> None:
    scene = cs.scene(30_000)
    paid = cs.pay_by_card(client, scene)
    # A failure and a "requires action" report about the same intent, arriving late.
    stale = cs.intent(paid["intent_id"])
    for kind, status in (
        ("payment_intent.payment_failed", "requires_payment_method"),
        ("payment_intent.requires_action", "requires_action"),
    ):
        assert cs.deliver(client, cs.event_of(kind, {**stale, "status": status})).status_code == 200
    wait_for_jobs()
    db.rollback()
    assert db.get_one(CardAttempt, paid["attempt_id"]).status == "succeeded"
    assert db.get_one(PaymentRequest, scene.request.id).status == "paid"
    assert len(db.exec(select(Payment).where(col(Payment.provider) == "stripe")).all()) == 1
