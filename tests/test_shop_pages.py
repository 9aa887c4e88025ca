"""The shop through a browser: catalogue filters, cart, checkout with delivery choices, the pay
page link, order pages with their timeline and action forms, the producer's delivery terms and
sales pages; CSRF on every form."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market.models import DeliveryOption, Order, OrderStatus, Role
from payments.models import PaymentRequest
from tests import factories
from tests.downloads_helpers import assert_private_file
from tests.shop_helpers import buy, buyer, pay, platform_account, producer
from tests.support import WARD_HAC_THANH, csrf_from, page_login

Browser = Callable[[], TestClient]


def logged_in(make_client: Browser, email: str) -> TestClient:
    browser = make_client()
    assert page_login(browser, email).status_code == 303
    return browser


def test_a_buyer_checks_out_with_delivery_and_lands_on_the_pay_page(
    make_client: Browser, db: Session
) -> None:
    account = platform_account()
    farm = producer(40_000, delivery_fee=30_000)
    shopper = factories.user(Role.BUYER)
    browser = logged_in(make_client, shopper.email)
    token = csrf_from(browser.get(f"/products/{farm.products[0].id}"))
    added = browser.post(
        "/cart/add",
        data={"product_id": str(farm.products[0].id), "quantity": "2", "csrf_token": token},
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = browser.get(f"/checkout?method_{farm.organisation_id}=delivery")
    assert page.status_code == 200
    text = page.text.replace("\xa0", " ")
    assert "110.000" in text  # 2 × 40.000 + 30.000 delivery
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": csrf_from(page),
        "idempotency_key": key,
        "expected_total_vnd": "110000",
        f"method_{farm.organisation_id}": "delivery",
        "ward_code": str(WARD_HAC_THANH),
        "street": "12 Lê Hoàn",
        "contact_phone": "0912345678",
        "note": "Giao giờ hành chính",
    }
    placed = browser.post("/checkout", data=form, follow_redirects=False)
    assert placed.status_code == 303 and placed.headers["location"].startswith("/pay/")
    again = browser.post("/checkout", data=form, follow_redirects=False)  # a double submit
    assert again.headers["location"] == placed.headers["location"]
    db.rollback()
    order = db.exec(select(Order)).one()
    assert order.total_vnd == 110_000 and order.delivery_street == "12 Lê Hoàn"
    assert browser.get(placed.headers["location"]).status_code == 200  # the pay page shows it to the buyer
    detail = browser.get(f"/orders/{order.id}")
    assert detail.status_code == 200 and "/pay/" in detail.text
    request_id = int(placed.headers["location"].rsplit("/", 1)[1])
    pay(
        browser,
        account,
        {"amount_vnd": 110_000, "reference_code": db.get_one(PaymentRequest, request_id).reference_code},
    )
    assert "Hủy đơn hàng" in browser.get(f"/orders/{order.id}").text  # cancel before acceptance


def test_a_changed_total_is_shown_and_nothing_is_ordered(make_client: Browser, db: Session) -> None:
    platform_account()
    farm = producer(40_000)
    shopper = factories.user(Role.BUYER)
    browser = logged_in(make_client, shopper.email)
    token = csrf_from(browser.get("/cart"))
    browser.post(
        "/cart/add", data={"product_id": str(farm.products[0].id), "quantity": "1", "csrf_token": token}
    )
    page = browser.get("/checkout")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    refused = browser.post(
        "/checkout",
        data={"csrf_token": csrf_from(page), "idempotency_key": key, "expected_total_vnd": "1000"},
    )
    assert refused.status_code == 409 and "40.000" in refused.text.replace("\xa0", " ")
    assert db.exec(select(Order)).all() == []


def test_the_producer_accepts_and_ships_from_the_order_page(
    client: TestClient, make_client: Browser, db: Session
) -> None:
    account = platform_account()
    farm = producer(10_000)
    _user, headers = buyer()
    body = buy(client, headers, (farm.products[0], 1))
    pay(client, account, body["payment_request"])
    order_id = body["orders"][0]["id"]
    browser = logged_in(make_client, farm.owner.email)
    listing = browser.get("/orders?status=paid")
    assert f"/orders/{order_id}" in listing.text
    page = browser.get(f"/orders/{order_id}")
    assert "Nhận đơn" in page.text and "Từ chối" in page.text
    token = csrf_from(page)
    assert (
        browser.post(
            f"/orders/{order_id}/accept", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    shipped = browser.post(
        f"/orders/{order_id}/ship", data={"csrf_token": token, "note": "VTP 123"}, follow_redirects=False
    )
    assert shipped.status_code == 303
    db.rollback()
    assert db.get_one(Order, order_id).status == OrderStatus.SHIPPED
    timeline = browser.get(f"/orders/{order_id}").text
    assert "VTP 123" in timeline and timeline.count("<li><time>") == 4
    illegal = browser.post(f"/orders/{order_id}/accept", data={"csrf_token": token})
    assert illegal.status_code == 409
    forged = browser.post(f"/orders/{order_id}/deliver", data={}, follow_redirects=False)
    assert forged.status_code == 403


def test_delivery_terms_and_sales_pages(make_client: Browser, db: Session) -> None:
    farm = producer(10_000)
    browser = logged_in(make_client, farm.owner.email)
    page = browser.get("/shop/delivery")
    saved = browser.post(
        "/shop/delivery",
        data={
            "csrf_token": csrf_from(page),
            "offers_delivery": "on",
            "delivery_fee_vnd": "25.000",
            "pickup_note": "Sáng",
        },
    )
    assert saved.status_code == 200
    db.rollback()
    option = db.get_one(DeliveryOption, farm.organisation_id)
    assert option.offers_delivery and option.delivery_fee_vnd == 25_000
    bad = browser.post("/shop/delivery", data={"csrf_token": csrf_from(page), "delivery_fee_vnd": "-5"})
    assert bad.status_code == 422
    sales = browser.get("/shop/sales")
    assert sales.status_code == 200 and "/shop/sales.csv" in sales.text
    assert_private_file(browser.get("/shop/sales.csv"), "choso-sales.csv")


def test_buyers_and_visitors_cannot_open_producer_pages(make_client: Browser) -> None:
    shopper = factories.user(Role.BUYER)
    browser = logged_in(make_client, shopper.email)
    assert browser.get("/shop/sales").status_code == 403
    assert browser.get("/shop/delivery").status_code == 403
    visitor = make_client()
    assert visitor.get("/orders", follow_redirects=False).status_code == 303  # to the login page
    assert visitor.get("/checkout", follow_redirects=False).status_code == 303


def test_catalogue_filters_and_pager_keep_every_filter(client: TestClient) -> None:
    farm = producer(*([30_000] * 30))
    page = client.get(
        "/products", params={"q": "san pham", "sort": "price_asc", "ocop_min": "9", "page": "1"}
    )
    assert page.status_code == 200  # a filter the page cannot use is ignored, not an error
    assert "sort=price_asc" in page.text and "q=san+pham" in page.text and "page=2" in page.text
    assert farm.products[0].name.split()[0] in page.text
