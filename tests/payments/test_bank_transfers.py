"""Bank transfers confirmed by signed webhooks: settled once, never lost, never doubled."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from choso.db import session_scope, utcnow
from market.models import OrganisationKind, Role
from payments import ledger
from payments.models import (
    LedgerTransaction,
    Payment,
    PaymentRequest,
    Receipt,
    SuspenseItem,
    WebhookEvent,
)
from tests import factories
from tests.conftest import wait_for_jobs
from tests.payments.helpers import SEPAY, bearer, notice, post_sepay, sepay_body


@pytest.fixture
def shop() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    buyer = factories.user(Role.BUYER)
    request = factories.payment_request(org.id or 0, account.id or 0, 150_000, payer_user_id=buyer.id)
    return {"org": org, "owner": owner, "account": account, "buyer": buyer, "request": request}


def count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).select_from(model)).one())


def reloaded(db: Session, request: PaymentRequest) -> PaymentRequest:
    db.rollback()
    return db.get_one(PaymentRequest, request.id, populate_existing=True)


def ledger_clean() -> None:
    with session_scope() as session:
        assert ledger.check(session) == []


def test_a_signed_transfer_settles_the_request_posts_once_and_issues_a_receipt(
    client: TestClient, db: Session, shop: dict
) -> None:
    request, account = shop["request"], shop["account"]
    code = request.reference_code.lower()
    memo = f"MBVCB.3278907687.{code[:6]}-{code[6:]} thanh toan don hang"
    response = post_sepay(client, sepay_body(notice(account.account_number, 150_000, memo)))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    wait_for_jobs()

    settled = reloaded(db, request)
    assert settled.status == "paid" and settled.received_vnd == 150_000
    payment = db.exec(select(Payment)).one()
    assert (payment.status, payment.excess_vnd, payment.request_id) == ("settled", 0, request.id)
    receipt = db.exec(select(Receipt)).one()
    assert (receipt.number, receipt.amount_vnd) == (1, 150_000)
    assert receipt.content["amount_in_words"] == "Một trăm năm mươi nghìn đồng"
    with session_scope() as session:
        # The org received straight into its own account: money is its own, not a payable.
        assert ledger.balance(session, ledger.bank(account.id)) == 150_000
        assert ledger.balance(session, ledger.direct(shop["org"].id)) == -150_000
    ledger_clean()


def test_the_same_webhook_delivered_100_times_makes_one_payment(
    client: TestClient, db: Session, shop: dict
) -> None:
    body = sepay_body(notice(shop["account"].account_number, 150_000, shop["request"].reference_code))
    for _ in range(50):
        assert post_sepay(client, body).status_code == 200
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: post_sepay(client, body).status_code, range(50)))
    assert set(statuses) == {200}
    wait_for_jobs()
    assert count(db, WebhookEvent) == 1
    assert count(db, Payment) == 1
    assert count(db, LedgerTransaction) == 1
    assert reloaded(db, shop["request"]).received_vnd == 150_000
    ledger_clean()


def test_underpayment_leaves_it_open_then_a_second_payment_pays_and_excess_is_held(
    client: TestClient, db: Session, shop: dict
) -> None:
    account, request = shop["account"], shop["request"]
    post_sepay(client, sepay_body(notice(account.account_number, 100_000, f"{request.reference_code} lan 1")))
    wait_for_jobs()
    partly = reloaded(db, request)
    assert (partly.status, partly.received_vnd, partly.underpaid) == ("open", 100_000, True)

    post_sepay(client, sepay_body(notice(account.account_number, 80_000, f"lan 2 {request.reference_code}")))
    wait_for_jobs()
    paid = reloaded(db, request)
    assert (paid.status, paid.received_vnd) == ("paid", 150_000)
    second = db.exec(select(Payment).order_by(Payment.id.desc())).first()  # type: ignore[union-attr]
    assert (second.status, second.excess_vnd) == ("settled", 30_000)
    with session_scope() as session:
        assert ledger.balance(session, ledger.REFUNDS_DUE) == -30_000
    ledger_clean()


def test_a_payment_after_expiry_is_kept_and_marked_for_refund(
    client: TestClient, db: Session, shop: dict
) -> None:
    request = shop["request"]
    with session_scope() as session:
        from payments import requests

        assert requests.expire_one(session, request.id, now=utcnow() + timedelta(hours=2)) is True
        session.commit()
    post_sepay(client, sepay_body(notice(shop["account"].account_number, 150_000, request.reference_code)))
    wait_for_jobs()
    assert reloaded(db, request).status == "expired"
    payment = db.exec(select(Payment)).one()
    assert (payment.status, payment.excess_vnd) == ("refund_due", 150_000)
    with session_scope() as session:
        assert ledger.balance(session, ledger.REFUNDS_DUE) == -150_000
    ledger_clean()


def test_an_unknown_reference_goes_to_suspense_and_an_operator_assigns_it(
    client: TestClient, db: Session, shop: dict
) -> None:
    operator = factories.user(Role.OPERATOR)
    post_sepay(
        client, sepay_body(notice(shop["account"].account_number, 150_000, "chuyen tien hang thang 11"))
    )
    wait_for_jobs()
    item = db.exec(select(SuspenseItem)).one()
    assert item.reason == "no reference"
    with session_scope() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == -150_000

    headers = bearer(operator)
    queue = client.get("/api/v1/suspense", headers=headers).json()
    assert queue["total"] == 1 and queue["items"][0]["payment"]["amount_vnd"] == 150_000
    response = client.post(
        f"/api/v1/suspense/{item.id}/assign",
        json={"request_id": shop["request"].id, "note": "Khách quên ghi mã"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert reloaded(db, shop["request"]).status == "paid"
    again = client.post(f"/api/v1/suspense/{item.id}/refund", json={}, headers=headers)
    assert again.status_code == 409
    from choso.audit import AuditEntry

    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "suspense.assign")).one()
    assert entry.actor_id == operator.id and entry.after["request_id"] == shop["request"].id
    with session_scope() as session:
        assert ledger.balance(session, ledger.SUSPENSE) == 0
    ledger_clean()


def _tampered(body: bytes, **changes: object) -> bytes:
    payload = json.loads(body)
    payload.update(changes)
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    "change",
    [
        {"transferAmount": 0},
        {"transferAmount": -150000},
        {"transferAmount": 10**13},
        {"transferAmount": "150000"},
        {"transferAmount": 150000.0},
        {"transferAmount": True},
        {"content": "CS\u0000abc"},
        {"content": "x" * 100_000},
        {"accountNumber": "9999999999"},
        {"id": None},
    ],
)
def test_bad_deliveries_get_a_clear_4xx_and_credit_nothing(
    client: TestClient, db: Session, shop: dict, change: dict
) -> None:
    body = _tampered(
        sepay_body(notice(shop["account"].account_number, 150_000, shop["request"].reference_code)), **change
    )
    response = post_sepay(client, body)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()
    wait_for_jobs()
    assert count(db, WebhookEvent) == 0 and count(db, Payment) == 0


def test_forged_and_stale_signatures_are_refused(client: TestClient, db: Session, shop: dict) -> None:
    body = sepay_body(notice(shop["account"].account_number, 150_000, shop["request"].reference_code))
    stale = post_sepay(client, body, age=timedelta(minutes=6))
    assert stale.status_code == 401
    headers = {"X-SePay-Timestamp": str(int(utcnow().timestamp())), "X-SePay-Signature": "sha256=" + "0" * 64}
    forged = client.post("/webhooks/sepay", content=body, headers=headers)
    assert forged.status_code == 401
    unsigned = client.post("/webhooks/sepay", content=body)
    assert unsigned.status_code == 401
    signed = SEPAY.signed_headers(body, utcnow())
    tampered = client.post(
        "/webhooks/sepay", content=_tampered(body, transferAmount=1_500_000), headers=signed
    )
    assert tampered.status_code == 401
    wait_for_jobs()
    assert count(db, WebhookEvent) == 0 and count(db, Payment) == 0


def test_outgoing_transfers_are_recorded_not_credited(client: TestClient, db: Session, shop: dict) -> None:
    body = _tampered(
        sepay_body(notice(shop["account"].account_number, 50_000, "rut tien")), transferType="out"
    )
    assert post_sepay(client, body).status_code == 200
    wait_for_jobs()
    event = db.exec(select(WebhookEvent)).one()
    assert event.outcome == "outgoing transfer recorded"
    assert count(db, Payment) == 0


def test_two_codes_in_one_memo_are_not_guessed(client: TestClient, db: Session, shop: dict) -> None:
    other = factories.payment_request(shop["org"].id, shop["account"].id, 150_000)
    memo = f"{shop['request'].reference_code}{other.reference_code}"
    post_sepay(client, sepay_body(notice(shop["account"].account_number, 150_000, memo)))
    wait_for_jobs()
    assert db.exec(select(SuspenseItem)).one() is not None
    assert reloaded(db, shop["request"]).status == "open"


def test_sandbox_simulated_transfer_pays_through_the_webhook_path(
    client: TestClient, db: Session, shop: dict
) -> None:
    response = client.post(
        f"/api/v1/payment-requests/{shop['request'].id}/simulate-transfer",
        json={},
        headers=bearer(shop["buyer"]),
    )
    assert response.status_code == 202, response.text
    wait_for_jobs()
    assert reloaded(db, shop["request"]).status == "paid"
    assert db.exec(select(WebhookEvent)).one().source == "sepay"
