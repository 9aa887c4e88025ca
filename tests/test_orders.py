"""Orders through the API: checkout into one order per producer and one payment, payment by a
signed bank webhook, the whole lifecycle with its timeline, money in the ledger at each step,
expiry, cancellations and rejections with refunds, illegal moves, the automatic completion job,
notifications, the producer's sales summary and CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.db import session_scope, utcnow
from choso.settings import reset_settings
from market import orders
from market.models import (
    Checkout,
    Notification,
    Order,
    OrderEvent,
    OrderStatus,
    Organisation,
    OrganisationKind,
    Role,
    StockState,
)
from payments import ledger, requests
from payments.models import Payment, PaymentRequest, PaymentStatus, Receipt, RequestStatus
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.downloads_helpers import assert_private_file
from tests.payments.helpers import bearer
from tests.shop_helpers import (
    add,
    balance,
    buy,
    buyer,
    cart_subtotal,
    checkout,
    ledger_problems,
    order_row,
    orders_of,
    pay,
    platform_account,
    producer,
    stock_of,
)
from tests.support import WARD_HAC_THANH

# --- the pure transition table ------------------------------------------------------------------


def test_the_transition_table_is_the_documented_lifecycle() -> None:
    P, S = orders.Party, OrderStatus
    assert orders.allowed(S.PENDING_PAYMENT, S.PAID, P.SYSTEM)
    assert not orders.allowed(S.PENDING_PAYMENT, S.PAID, P.BUYER)
    assert orders.allowed(S.PAID, S.CANCELLED, P.BUYER)
    assert not orders.allowed(S.ACCEPTED, S.CANCELLED, P.BUYER)  # only before acceptance
    assert orders.allowed(S.PAID, S.REJECTED, P.PRODUCER)
    assert not orders.allowed(S.PENDING_PAYMENT, S.ACCEPTED, P.PRODUCER)  # never unpaid
    assert orders.allowed(S.DELIVERED, S.COMPLETED, P.SYSTEM)
    for closed in orders.CLOSED:
        assert not any(source == closed for source, _ in orders.TRANSITIONS)
    assert orders.next_actions(S.PAID, P.PRODUCER) == ["accept", "reject"]
    assert orders.next_actions(S.PAID, P.BUYER) == ["cancel"]
    assert orders.next_actions(S.COMPLETED, P.BUYER) == []


# --- checkout and payment -----------------------------------------------------------------------


def test_checkout_makes_one_order_per_producer_and_one_payment_for_the_total(
    client: TestClient, db: Session
) -> None:
    account = platform_account()
    farm = producer(25_000, 40_000, delivery_fee=30_000)
    coop = producer(60_000)
    user, headers = buyer()
    body = buy(
        client,
        headers,
        (farm.products[0], 2),
        (farm.products[1], 1),
        (coop.products[0], 3),
        methods={str(farm.organisation_id): "delivery"},
        address={"ward_code": WARD_HAC_THANH, "street": "12 Lê Hoàn"},
        contact_phone="0912 345 678",
        fees=30_000,
    )
    assert body["total_vnd"] == 2 * 25_000 + 40_000 + 30_000 + 3 * 60_000
    by_producer = {o["producer"]["id"]: o for o in body["orders"]}
    assert by_producer[farm.organisation_id]["total_vnd"] == 120_000
    assert by_producer[farm.organisation_id]["delivery_method"] == "delivery"
    assert by_producer[coop.organisation_id]["delivery_method"] == "pickup"
    assert {o["status"] for o in body["orders"]} == {"pending_payment"}
    request = body["payment_request"]
    assert request["amount_vnd"] == body["total_vnd"] and request["cause_type"] == "order_checkout"
    assert body["pay_url"] == f"/pay/{request['id']}"
    stored = db.get_one(PaymentRequest, request["id"])
    assert stored.bank_account_id == account.id and stored.payer_user_id == user.id
    payee = db.get_one(Organisation, stored.payee_organisation_id)
    assert payee.kind == OrganisationKind.PLATFORM  # the platform collects, for every producer
    # stock is reserved, the cart is empty
    assert stock_of(db, farm.products[0]) == 18 and stock_of(db, coop.products[0]) == 17
    assert cart_subtotal(client, headers) == 0

    pay(client, account, request)
    rows = orders_of(db, body["id"])
    assert {o.status for o in rows} == {OrderStatus.PAID}
    assert {o.stock_state for o in rows} == {StockState.CONSUMED}
    assert balance(ledger.ORDER_CLEARING) == -body["total_vnd"]  # held until each order completes
    receipt = db.exec(select(Receipt).where(Receipt.request_id == request["id"])).one()
    items = receipt.content["items"]  # what was bought, from whom, and the delivery fee
    assert len(items) == 4 and sum(item["amount_vnd"] for item in items) == body["total_vnd"]
    assert any(item["description"].startswith("Phí giao hàng") for item in items)
    detail = client.get(f"/api/v1/orders/{rows[0].id}", headers=headers).json()
    assert len(detail["receipts"]) == 1 and detail["pay_url"] is None
    assert [e["to_status"] for e in detail["events"]] == ["pending_payment", "paid"]
    assert ledger_problems() == []


def test_full_lifecycle_moves_the_money_to_the_producer_minus_commission(
    client: TestClient, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHOSO_COMMISSION_BP", "250")  # 2.5 %
    reset_settings()
    account = platform_account()
    farm = producer(33_333, delivery_fee=20_000)
    _user, headers = buyer()
    body = buy(
        client,
        headers,
        (farm.products[0], 3),
        methods={str(farm.organisation_id): "delivery"},
        address={"ward_code": WARD_HAC_THANH, "street": "1 Phan Chu Trinh"},
        fees=20_000,
    )
    order_id = body["orders"][0]["id"]
    pay(client, account, body["payment_request"])
    moves = [
        (farm.headers, "accept", ""),
        (farm.headers, "ship", "Viettel Post VTP123456"),
        (farm.headers, "deliver", ""),
        (headers, "confirm", ""),
    ]
    for who, action, note in moves:
        response = client.post(f"/api/v1/orders/{order_id}/{action}", json={"note": note}, headers=who)
        assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["status"] == "completed" and detail["tracking_note"] == "Viettel Post VTP123456"
    assert [e["to_status"] for e in detail["events"]] == [
        "pending_payment",
        "paid",
        "accepted",
        "shipped",
        "delivered",
        "completed",
    ]
    assert [e["actor_role"] for e in detail["events"]] == [
        "buyer",
        "system",
        "producer",
        "producer",
        "producer",
        "buyer",
    ]
    commission = (99_999 * 250 + 5_000) // 10_000  # of the goods only, half up
    assert detail["commission_vnd"] == commission == 2_500
    assert balance(ledger.payable(farm.organisation_id)) == -(119_999 - commission)
    assert balance(ledger.COMMISSION) == -commission
    assert balance(ledger.ORDER_CLEARING) == 0
    assert ledger_problems() == []
    summary = client.get("/api/v1/shop/sales", headers=farm.headers).json()
    assert summary["payable_balance_vnd"] == 119_999 - commission
    assert summary["completed_by_month"][0]["orders"] == 1
    reset_settings()


def test_price_change_before_checkout_is_shown_and_must_be_confirmed(client: TestClient, db: Session) -> None:
    platform_account()
    farm = producer(25_000)
    _user, headers = buyer()
    assert add(client, headers, farm.products[0], 4).status_code == 200
    changed = client.patch(
        f"/api/v1/products/{farm.products[0].id}", json={"price_vnd": 27_000}, headers=farm.headers
    )
    assert changed.status_code == 200, changed.text
    line = client.get("/api/v1/cart", headers=headers).json()["groups"][0]["lines"][0]
    assert line["price_changed"] and line["price_seen_vnd"] == 25_000 and line["unit_price_vnd"] == 27_000
    refused = checkout(client, headers, 100_000)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "cart_changed"
    assert refused.json()["error"]["field"] == "expected_total_vnd"
    assert stock_of(db, farm.products[0]) == 20  # nothing reserved
    assert checkout(client, headers, 108_000).status_code == 201


def test_a_product_deactivated_in_the_cart_stops_the_checkout(client: TestClient, db: Session) -> None:
    platform_account()
    farm = producer(10_000, 12_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    add(client, headers, farm.products[1], 1)
    client.patch(f"/api/v1/products/{farm.products[1].id}", json={"is_active": False}, headers=farm.headers)
    cart = client.get("/api/v1/cart", headers=headers).json()
    assert not cart["ready"]
    assert [line["available"] for line in cart["groups"][0]["lines"]] == [True, False]
    refused = checkout(client, headers, 22_000)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "product_unavailable"
    assert stock_of(db, farm.products[0]) == 20
    client.delete(f"/api/v1/cart/items/{farm.products[1].id}", headers=headers)
    assert checkout(client, headers, 10_000).status_code == 201


def test_stock_that_ran_out_after_adding_is_a_clear_409(client: TestClient, db: Session) -> None:
    platform_account()
    farm = producer(10_000, stock=5)
    _first, first_headers = buyer()
    _second, second_headers = buyer()
    add(client, first_headers, farm.products[0], 4)
    add(client, second_headers, farm.products[0], 3)
    assert checkout(client, first_headers, 40_000).status_code == 201
    refused = checkout(client, second_headers, 30_000)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "insufficient_stock" and "1" in error["message"]
    assert stock_of(db, farm.products[0]) == 1


def test_delivery_needs_a_producer_that_delivers_and_an_address_in_thanh_hoa(client: TestClient) -> None:
    platform_account()
    farm = producer(10_000)  # pickup only
    shop = producer(10_000, delivery_fee=15_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    refused = checkout(client, headers, 10_000, methods={str(farm.organisation_id): "delivery"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "methods"
    client.delete("/api/v1/cart", headers=headers)
    add(client, headers, shop.products[0], 1)
    delivery = {str(shop.organisation_id): "delivery"}
    assert checkout(client, headers, 25_000, methods=delivery).json()["error"]["field"] == "address"
    hanoi_ward = {"ward_code": 1, "street": "Hoàn Kiếm"}
    refused = checkout(client, headers, 25_000, methods=delivery, address=hanoi_ward)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "ward_code"
    stranger = {"999999": "pickup"}
    assert checkout(client, headers, 10_000, methods=stranger).status_code == 422


def test_an_empty_cart_cannot_be_checked_out(client: TestClient) -> None:
    platform_account()
    _user, headers = buyer()
    refused = checkout(client, headers, 10_000)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "cart_empty"


def test_checkout_needs_an_idempotency_key_and_a_strict_total(client: TestClient) -> None:
    platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    assert (
        client.post("/api/v1/checkout", json={"expected_total_vnd": 10_000}, headers=headers).status_code
        == 422
    )
    for total in ("10000", 10_000.0, 0, -5, 10**13):
        assert checkout(client, headers, total).status_code == 422, total  # type: ignore[arg-type]


def test_a_retried_checkout_returns_the_first_and_other_content_is_refused(
    client: TestClient, db: Session
) -> None:
    platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 2)
    first = checkout(client, headers, 20_000, key="retry-key-0001")
    again = checkout(client, headers, 20_000, key="retry-key-0001")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = checkout(client, headers, 20_000, key="retry-key-0001", note="khác")
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(db.exec(select(Checkout)).all()) == 1
    assert stock_of(db, farm.products[0]) == 18


# --- expiry, cancellation, rejection ------------------------------------------------------------


def expire_all() -> int:
    with session_scope() as session:
        return requests.expire_due_requests(session, now=utcnow() + timedelta(hours=1))


def test_an_unpaid_checkout_expires_and_gives_its_stock_back_once(client: TestClient, db: Session) -> None:
    account = platform_account()
    farm = producer(10_000, stock=10)
    coop = producer(20_000, stock=10)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 4), (coop.products[0], 5))
    assert stock_of(db, farm.products[0]) == 6
    assert expire_all() == 1 and expire_all() == 0
    assert {o.status for o in orders_of(db, body["id"])} == {OrderStatus.EXPIRED}
    assert {o.stock_state for o in orders_of(db, body["id"])} == {StockState.RELEASED}
    assert stock_of(db, farm.products[0]) == 10 and stock_of(db, coop.products[0]) == 10
    # the late payment is kept, marked for refund; the stock stays released, once
    pay(client, account, body["payment_request"])
    db.rollback()
    late = db.exec(select(Payment).where(Payment.request_id == body["payment_request"]["id"])).one()
    assert late.status == PaymentStatus.REFUND_DUE
    assert balance(ledger.REFUNDS_DUE) == -body["total_vnd"]
    assert stock_of(db, farm.products[0]) == 10
    assert {o.status for o in orders_of(db, body["id"])} == {OrderStatus.EXPIRED}
    assert ledger_problems() == []


def test_the_buyer_cancels_before_paying_and_every_order_of_the_checkout_closes(
    client: TestClient, db: Session
) -> None:
    platform_account()
    farm, coop = producer(10_000), producer(20_000)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 2), (coop.products[0], 1))
    first = body["orders"][0]["id"]
    response = client.post(f"/api/v1/orders/{first}/cancel", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assert {o.status for o in orders_of(db, body["id"])} == {OrderStatus.CANCELLED}
    assert db.get_one(PaymentRequest, body["payment_request"]["id"]).status == RequestStatus.CANCELLED
    assert stock_of(db, farm.products[0]) == 20 and stock_of(db, coop.products[0]) == 20
    event = db.exec(
        select(OrderEvent).where(OrderEvent.order_id == first, OrderEvent.to_status == "cancelled")
    ).one()
    assert event.actor_role == "buyer"
    again = client.post(f"/api/v1/orders/{first}/cancel", json={}, headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize(("who", "action"), [("buyer", "cancel"), ("producer", "reject")])
def test_a_paid_order_cancelled_or_rejected_is_refunded_in_full_and_restocked(
    client: TestClient, db: Session, who: str, action: str
) -> None:
    account = platform_account()
    farm, coop = producer(10_000), producer(20_000)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 2), (coop.products[0], 1))
    pay(client, account, body["payment_request"])
    farm_order = next(o for o in body["orders"] if o["producer"]["id"] == farm.organisation_id)
    actor = headers if who == "buyer" else farm.headers
    response = client.post(
        f"/api/v1/orders/{farm_order['id']}/{action}", json={"note": "Hết hàng"}, headers=actor
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == ("cancelled" if action == "cancel" else "rejected")
    assert stock_of(db, farm.products[0]) == 20  # back on sale
    assert stock_of(db, coop.products[0]) == 19  # the other order goes on
    assert balance(ledger.REFUNDS_DUE) == -20_000
    assert balance(ledger.ORDER_CLEARING) == -20_000  # the other order's money, still held
    coop_order = next(o for o in body["orders"] if o["producer"]["id"] == coop.organisation_id)
    assert order_row(db, coop_order["id"]).status == OrderStatus.PAID
    # the refunds process sees that share as not owed: an operator pays it back to the buyer's
    # account, taking it from what is due (nothing is held twice)
    db.rollback()
    payment = db.exec(select(Payment).where(Payment.request_id == body["payment_request"]["id"])).one()
    assert payment.excess_vnd == 20_000 and payment.status == PaymentStatus.SETTLED
    operator = bearer(factories.user(Role.OPERATOR))
    refund = client.post(
        f"/api/v1/payments/{payment.id}/refunds",
        json={
            "amount_vnd": 20_000,
            "reason": "Đơn hàng bị hủy",
            "bank_bin": "970436",
            "account_number": "0011001234567",
            "holder_name": "NGUYEN THI LAN",
        },
        headers={**operator, "Idempotency-Key": f"order-refund-{payment.id}"},
    )
    assert refund.status_code == 201, refund.text
    assert balance(ledger.REFUNDS_DUE) == -20_000 and balance(ledger.ORDER_CLEARING) == -20_000
    assert ledger_problems() == []


ILLEGAL = [
    ("pending_payment", "producer", "accept"),
    ("pending_payment", "producer", "ship"),
    ("pending_payment", "buyer", "confirm"),
    ("paid", "producer", "ship"),
    ("paid", "producer", "deliver"),
    ("accepted", "buyer", "cancel"),
    ("accepted", "producer", "reject"),
    ("shipped", "buyer", "confirm"),
    ("delivered", "producer", "ship"),
]


@pytest.mark.parametrize(("status", "who", "action"), ILLEGAL)
def test_illegal_moves_are_409_with_the_standard_error_shape(
    client: TestClient, db: Session, status: str, who: str, action: str
) -> None:
    account = platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 1))
    order_id = body["orders"][0]["id"]
    path = {
        "paid": [],
        "accepted": ["accept"],
        "shipped": ["accept", "ship"],
        "delivered": ["accept", "deliver"],
    }
    if status != "pending_payment":
        pay(client, account, body["payment_request"])
        for step in path[status]:
            assert (
                client.post(f"/api/v1/orders/{order_id}/{step}", json={}, headers=farm.headers).status_code
                == 200
            )
    before = order_row(db, order_id)
    actor = headers if who == "buyer" else farm.headers
    response = client.post(f"/api/v1/orders/{order_id}/{action}", json={}, headers=actor)
    assert response.status_code == 409, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "invalid_transition"
    assert order_row(db, order_id).status == before.status == status


@pytest.mark.parametrize(
    ("who", "action"),
    [("buyer", "accept"), ("buyer", "ship"), ("producer", "cancel"), ("producer", "confirm")],
)
def test_a_move_the_callers_side_never_makes_is_403(client: TestClient, who: str, action: str) -> None:
    platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    order_id = buy(client, headers, (farm.products[0], 1))["orders"][0]["id"]
    response = client.post(
        f"/api/v1/orders/{order_id}/{action}", json={}, headers=headers if who == "buyer" else farm.headers
    )
    assert response.status_code == 403


def test_unknown_actions_are_refused(client: TestClient) -> None:
    platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    order_id = buy(client, headers, (farm.products[0], 1))["orders"][0]["id"]
    assert client.post(f"/api/v1/orders/{order_id}/pay", json={}, headers=headers).status_code in (404, 422)


# --- completion by the periodic job -------------------------------------------------------------


def test_delivered_orders_complete_by_themselves_after_the_configured_days(
    client: TestClient, db: Session
) -> None:
    account = platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 1), (farm.products[0], 1))
    order_id = body["orders"][0]["id"]
    pay(client, account, body["payment_request"])
    for step in ("accept", "deliver"):
        client.post(f"/api/v1/orders/{order_id}/{step}", json={}, headers=farm.headers)
    with session_scope() as session:
        assert orders.complete_due(session) == 0  # delivered today
        assert orders.complete_due(session, now=utcnow() + timedelta(days=7, minutes=1)) == 1
        assert orders.complete_due(session, now=utcnow() + timedelta(days=8)) == 0
    assert order_row(db, order_id).status == OrderStatus.COMPLETED
    assert balance(ledger.payable(farm.organisation_id)) == -20_000
    events = db.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)).all()  # type: ignore[arg-type]
    assert events[-1].actor_role == "system" and events[-1].to_status == "completed"


def test_the_completion_job_is_scheduled_and_registered() -> None:
    from choso import jobs
    from choso.settings import get_settings

    schedule = jobs.beat_schedule(get_settings())
    assert schedule["complete-delivered-orders"]["task"] == "market.complete_delivered_orders"
    assert jobs.task_by_name("market.complete_delivered_orders")


# --- notifications ------------------------------------------------------------------------------


def test_producers_hear_of_new_and_paid_orders_and_buyers_of_each_step(
    client: TestClient, db: Session
) -> None:
    account = platform_account()
    farm = producer(10_000)
    user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 1))
    order_id = body["orders"][0]["id"]
    pay(client, account, body["payment_request"])
    client.post(f"/api/v1/orders/{order_id}/accept", json={}, headers=farm.headers)
    wait_for_jobs()

    def kinds(user_id: int) -> set[str]:
        db.rollback()
        return set(db.exec(select(Notification.kind).where(Notification.user_id == user_id)).all())

    assert {"order_placed", "order_paid"} <= eventually(lambda: kinds(farm.owner.id or 0) or None)
    assert {"order_paid_buyer", "order_accepted"} <= eventually(lambda: kinds(user.id or 0) or None)


# --- the producer's sales -----------------------------------------------------------------------


def test_sales_csv_neutralises_formulas_and_lists_every_line(client: TestClient) -> None:
    account = platform_account()
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    evil = factories.product(org.id or 0, '=HYPERLINK("http://x","gạo")', price_vnd=5_000)
    _user, headers = buyer()
    body = buy(client, headers, (evil, 2), note="+cmd|' /C calc'!A0")
    pay(client, account, body["payment_request"])
    response = client.get("/api/v1/shop/sales.csv", headers=bearer(owner))
    assert_private_file(response, "choso-sales.csv")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2
    header, row = rows
    assert row[header.index("Sản phẩm")].startswith("'=HYPERLINK")
    assert row[header.index("Ghi chú của người mua")].startswith("'+cmd")
    assert row[header.index("Số lượng")] == "2"
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_only_producers_have_sales(client: TestClient) -> None:
    _user, headers = buyer()
    assert client.get("/api/v1/shop/sales", headers=headers).status_code == 403
    assert client.get("/api/v1/shop/sales.csv", headers=headers).status_code == 403


def test_orders_list_is_filtered_by_status_and_by_party(client: TestClient) -> None:
    account = platform_account()
    farm, coop = producer(10_000), producer(20_000)
    _user, headers = buyer()
    first = buy(client, headers, (farm.products[0], 1))
    buy(client, headers, (coop.products[0], 1))
    pay(client, account, first["payment_request"])
    mine = client.get("/api/v1/orders", headers=headers).json()
    assert mine["total"] == 2
    paid = client.get("/api/v1/orders", params={"status": "paid"}, headers=headers).json()
    assert [o["id"] for o in paid["items"]] == [first["orders"][0]["id"]]
    incoming = client.get("/api/v1/orders", headers=farm.headers).json()
    assert [o["producer"]["id"] for o in incoming["items"]] == [farm.organisation_id]
    assert client.get("/api/v1/orders", params={"status": "lost"}, headers=headers).status_code == 422


def test_the_platform_organisation_is_made_once_however_many_checkouts(
    client: TestClient, db: Session
) -> None:
    platform_account()
    farm = producer(10_000)
    for _ in range(3):
        _user, headers = buyer()
        buy(client, headers, (farm.products[0], 1))
    assert len(db.exec(select(Organisation).where(Organisation.kind == OrganisationKind.PLATFORM)).all()) == 1


def test_checkout_without_a_platform_account_is_refused_clearly(client: TestClient, db: Session) -> None:
    farm = producer(10_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    refused = checkout(client, headers, 10_000)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "checkout_unavailable"
    assert stock_of(db, farm.products[0]) == 20
    assert db.exec(select(Order)).all() == []
