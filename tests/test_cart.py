"""The cart: strict quantities capped by stock, lines that remember the price seen, products
that disappear, who has a cart, and a visitor's cart (a signed cookie) merged at login."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market import cart
from market.models import CartItem, OrganisationKind, Role
from tests import factories
from tests.payments.helpers import bearer
from tests.shop_helpers import add, buyer, producer
from tests.support import csrf_from, page_login


@pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", None, True, cart.MAX_QUANTITY + 1, 10**30])
def test_quantities_are_strict_positive_integers(client: TestClient, quantity: object) -> None:
    farm = producer(10_000)
    _user, headers = buyer()
    response = add(client, headers, farm.products[0], quantity)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    put = client.put(
        f"/api/v1/cart/items/{farm.products[0].id}", json={"quantity": quantity}, headers=headers
    )
    assert put.status_code == 422


def test_a_quantity_above_the_stock_now_is_refused_with_what_is_left(client: TestClient, db: Session) -> None:
    farm = producer(10_000, stock=3)
    _user, headers = buyer()
    refused = add(client, headers, farm.products[0], 4)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "insufficient_stock" and "3" in error["message"] and error["field"] == "quantity"
    assert add(client, headers, farm.products[0], 2).status_code == 200
    assert add(client, headers, farm.products[0], 2).status_code == 409  # 2 + 2 > 3
    assert add(client, headers, farm.products[0], 1).json()["groups"][0]["lines"][0]["quantity"] == 3
    assert db.exec(select(CartItem)).one().quantity == 3


def test_set_remove_and_empty(client: TestClient) -> None:
    farm = producer(10_000, 20_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    add(client, headers, farm.products[1], 1)
    body = client.put(
        f"/api/v1/cart/items/{farm.products[0].id}", json={"quantity": 5}, headers=headers
    ).json()
    assert body["subtotal_vnd"] == 5 * 10_000 + 20_000
    assert client.delete(f"/api/v1/cart/items/{farm.products[1].id}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/cart/items/{farm.products[1].id}", headers=headers).status_code == 404
    assert client.get("/api/v1/cart", headers=headers).json()["subtotal_vnd"] == 50_000
    assert client.delete("/api/v1/cart", headers=headers).status_code == 204
    assert client.get("/api/v1/cart", headers=headers).json() == {
        "groups": [],
        "subtotal_vnd": 0,
        "ready": False,
        "price_changed": False,
    }


def test_unknown_inactive_and_huge_product_ids(client: TestClient) -> None:
    farm = producer(10_000)
    hidden = factories.product(farm.organisation_id, "Đã ngừng bán", is_active=False)
    _user, headers = buyer()
    assert (
        client.post(
            "/api/v1/cart/items", json={"product_id": 99999, "quantity": 1}, headers=headers
        ).status_code
        == 404
    )
    assert add(client, headers, hidden, 1).status_code == 404
    too_big = client.post("/api/v1/cart/items", json={"product_id": 2**40, "quantity": 1}, headers=headers)
    assert too_big.status_code == 422
    extra = client.post(
        "/api/v1/cart/items",
        json={"product_id": farm.products[0].id, "quantity": 1, "price": 1},
        headers=headers,
    )
    assert extra.status_code == 422


def test_groups_by_producer_with_delivery_terms(client: TestClient) -> None:
    farm = producer(10_000, delivery_fee=25_000)
    coop = producer(20_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 2)
    add(client, headers, coop.products[0], 1)
    groups = {g["producer"]["id"]: g for g in client.get("/api/v1/cart", headers=headers).json()["groups"]}
    assert groups[farm.organisation_id]["delivery"] == {
        "offers_delivery": True,
        "delivery_fee_vnd": 25_000,
        "pickup_note": "",
    }
    assert groups[coop.organisation_id]["delivery"]["offers_delivery"] is False
    assert groups[farm.organisation_id]["subtotal_vnd"] == 20_000


def test_setting_a_quantity_confirms_the_new_price(client: TestClient) -> None:
    farm = producer(10_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    client.patch(f"/api/v1/products/{farm.products[0].id}", json={"price_vnd": 12_000}, headers=farm.headers)
    assert client.get("/api/v1/cart", headers=headers).json()["price_changed"] is True
    body = client.put(
        f"/api/v1/cart/items/{farm.products[0].id}", json={"quantity": 1}, headers=headers
    ).json()
    assert body["price_changed"] is False and body["subtotal_vnd"] == 12_000


def test_a_cart_holds_a_bounded_number_of_products(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cart, "MAX_LINES", 2)
    farm = producer(1_000, 2_000, 3_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 1)
    add(client, headers, farm.products[1], 1)
    refused = add(client, headers, farm.products[2], 1)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "cart_full"


@pytest.mark.parametrize("role", [Role.PRODUCER, Role.AGENCY_OFFICER, Role.OPERATOR])
def test_only_buyers_have_a_cart(client: TestClient, role: Role) -> None:
    farm = producer(10_000)
    if role == Role.OPERATOR:
        user = factories.user(Role.OPERATOR)
    else:
        kind = OrganisationKind.PRODUCER if role == Role.PRODUCER else OrganisationKind.AGENCY
        user = factories.staff(kind)[1]
    headers = bearer(user)
    assert client.get("/api/v1/cart", headers=headers).status_code == 403
    assert add(client, headers, farm.products[0], 1).status_code == 403
    assert (
        client.post(
            "/api/v1/checkout",
            json={"expected_total_vnd": 1},
            headers={**headers, "Idempotency-Key": "k" * 16},
        ).status_code
        == 403
    )


def test_the_cart_api_needs_a_token(client: TestClient) -> None:
    assert client.get("/api/v1/cart").status_code == 401
    assert client.post("/api/v1/cart/items", json={"product_id": 1, "quantity": 1}).status_code == 401


# --- a visitor's cart, in the browser, merged at login ------------------------------------------

Browser = Callable[[], TestClient]


def visitor_adds(browser: TestClient, product_id: int, quantity: int) -> int:
    token = csrf_from(browser.get(f"/products/{product_id}"))
    response = browser.post(
        "/cart/add",
        data={"product_id": str(product_id), "quantity": str(quantity), "csrf_token": token},
        follow_redirects=False,
    )
    return response.status_code


def test_a_visitors_cart_lives_in_the_browser_and_joins_the_buyers_at_login(
    make_client: Browser, db: Session
) -> None:
    farm = producer(10_000, 20_000, stock=5)
    user, headers = buyer()
    browser = make_client()
    assert visitor_adds(browser, farm.products[0].id or 0, 2) == 303
    assert visitor_adds(browser, farm.products[1].id or 0, 1) == 303
    page = browser.get("/cart")
    assert farm.products[0].name in page.text and "40.000" in page.text.replace("\xa0", " ")
    assert db.exec(select(CartItem)).all() == []  # nothing stored for a visitor
    # the buyer already had one unit of the first product in the stored cart
    assert add(browser, headers, farm.products[0], 1).status_code == 200
    assert page_login(browser, user.email).status_code == 303
    lines = {
        line["product_id"]: line["quantity"]
        for group in browser.get("/api/v1/cart", headers=headers).json()["groups"]
        for line in group["lines"]
    }
    assert lines == {farm.products[0].id: 3, farm.products[1].id: 1}
    assert not browser.cookies.get("choso_cart")  # merged once, then gone
    assert farm.products[1].name in browser.get("/cart").text  # the page now shows the stored cart


def test_a_tampered_visitor_cart_is_ignored(make_client: Browser) -> None:
    farm = producer(10_000)
    browser = make_client()
    visitor_adds(browser, farm.products[0].id or 0, 1)
    cookie = browser.cookies.get("choso_cart") or ""
    payload, _, signature = cookie.partition(".")
    assert farm.products[0].name in browser.get("/cart").text
    forged, honest = make_client(), make_client()
    forged.cookies.set("choso_cart", payload + "." + ("0" * len(signature)))
    honest.cookies.set("choso_cart", cookie)
    assert farm.products[0].name not in forged.get("/cart").text
    assert farm.products[0].name in honest.get("/cart").text


def test_a_visitor_cannot_add_more_than_the_stock(make_client: Browser) -> None:
    farm = producer(10_000, stock=2)
    browser = make_client()
    assert visitor_adds(browser, farm.products[0].id or 0, 3) == 409
