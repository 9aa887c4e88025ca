"""Object-level authorisation of orders, carts, the shop and photos: every endpoint × a foreign
buyer, a foreign producer and an agency officer (and the operator) gets 404 or 403, and
nothing they try changes anything."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market.models import CartItem, OrderEvent, OrganisationKind, Role
from tests import factories
from tests.payments.helpers import bearer
from tests.shop_helpers import add, buy, buyer, order_row, pay, platform_account, producer
from tests.support import csrf_from, page_login

ACTIONS = ("cancel", "accept", "reject", "ship", "deliver", "confirm")


@pytest.fixture
def scene(client: TestClient) -> dict[str, Any]:
    """A paid order of a buyer to a producer, and strangers of every kind."""
    account = platform_account()
    farm = producer(10_000, 20_000)
    owner, owner_headers = buyer()
    body = buy(client, owner_headers, (farm.products[0], 2))
    pay(client, account, body["payment_request"])
    add(client, owner_headers, farm.products[1], 1)  # a line left in the owner's cart
    strangers = {
        "foreign buyer": bearer(factories.user(Role.BUYER)),
        "foreign producer": producer(5_000).headers,
        "agency officer": bearer(factories.staff(OrganisationKind.AGENCY)[1]),
    }
    return {
        "farm": farm,
        "owner": owner,
        "owner_headers": owner_headers,
        "order_id": body["orders"][0]["id"],
        "strangers": strangers,
    }


STRANGERS = ("foreign buyer", "foreign producer", "agency officer")


@pytest.mark.parametrize("who", STRANGERS)
def test_someone_elses_order_is_not_found_whatever_they_try(
    client: TestClient, db: Session, scene: dict[str, Any], who: str
) -> None:
    headers = scene["strangers"][who]
    order_id = scene["order_id"]
    events_before = len(db.exec(select(OrderEvent)).all())
    response = client.get(f"/api/v1/orders/{order_id}", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    for action in ACTIONS:
        response = client.post(f"/api/v1/orders/{order_id}/{action}", json={"note": "x"}, headers=headers)
        assert response.status_code == 404, (action, response.text)
    assert order_row(db, order_id).status == "paid"
    db.rollback()
    assert len(db.exec(select(OrderEvent)).all()) == events_before


@pytest.mark.parametrize("who", ("foreign buyer", "foreign producer"))
def test_order_lists_show_only_ones_own(client: TestClient, scene: dict[str, Any], who: str) -> None:
    listing = client.get("/api/v1/orders", headers=scene["strangers"][who])
    assert listing.status_code == 200 and listing.json()["total"] == 0


def test_officers_have_no_order_list(client: TestClient, scene: dict[str, Any]) -> None:
    assert client.get("/api/v1/orders", headers=scene["strangers"]["agency officer"]).status_code == 403


@pytest.mark.parametrize("who", STRANGERS)
def test_cart_endpoints_never_reach_another_buyers_cart(
    client: TestClient, db: Session, scene: dict[str, Any], who: str
) -> None:
    headers = scene["strangers"][who]
    product_id = scene["farm"].products[1].id
    # a buyer has a cart of its own, where the owner's line is not; other roles have no cart
    calls: list[Callable[[], Any]] = [
        lambda: client.delete(f"/api/v1/cart/items/{product_id}", headers=headers)
    ]
    if who != "foreign buyer":
        calls += [
            lambda: client.put(f"/api/v1/cart/items/{product_id}", json={"quantity": 1}, headers=headers),
            lambda: client.get("/api/v1/cart", headers=headers),
            lambda: client.delete("/api/v1/cart", headers=headers),
            lambda: client.post(
                "/api/v1/cart/items", json={"product_id": product_id, "quantity": 1}, headers=headers
            ),
            lambda: client.post(
                "/api/v1/checkout",
                json={"expected_total_vnd": 20_000},
                headers={**headers, "Idempotency-Key": "x" * 16},
            ),
        ]
    for call in calls:
        response = call()
        assert response.status_code == (404 if who == "foreign buyer" else 403), response.request.url
    db.rollback()
    owner_lines = db.exec(select(CartItem).where(CartItem.user_id == scene["owner"].id)).all()
    assert [(line.product_id, line.quantity) for line in owner_lines] == [(product_id, 1)]


@pytest.mark.parametrize("who", ("foreign buyer", "agency officer"))
def test_shop_settings_and_sales_are_for_producers(
    client: TestClient, scene: dict[str, Any], who: str
) -> None:
    headers = scene["strangers"][who]
    assert client.get("/api/v1/shop/delivery", headers=headers).status_code == 403
    assert (
        client.put("/api/v1/shop/delivery", json={"offers_delivery": True}, headers=headers).status_code
        == 403
    )
    assert client.get("/api/v1/shop/sales", headers=headers).status_code == 403
    assert client.get("/api/v1/shop/sales.csv", headers=headers).status_code == 403


def test_a_foreign_producers_sales_do_not_include_this_order(
    client: TestClient, scene: dict[str, Any]
) -> None:
    headers = scene["strangers"]["foreign producer"]
    assert client.get("/api/v1/shop/sales", headers=headers).json()["by_status"] == []
    assert client.get("/api/v1/shop/sales.csv", headers=headers).content.decode("utf-8-sig").count("\n") == 1


def test_the_operator_sees_orders_but_moves_none(client: TestClient, scene: dict[str, Any]) -> None:
    operator = bearer(factories.user(Role.OPERATOR))
    order_id = scene["order_id"]
    assert client.get(f"/api/v1/orders/{order_id}", headers=operator).status_code == 200
    assert client.get(f"/api/v1/orders/{order_id}", headers=operator).json()[
        "receipts"
    ]  # operators see receipts
    for action in ACTIONS:
        assert (
            client.post(f"/api/v1/orders/{order_id}/{action}", json={}, headers=operator).status_code == 403
        )


def test_the_producer_of_the_order_does_not_see_the_buyers_receipts(
    client: TestClient, scene: dict[str, Any]
) -> None:
    detail = client.get(f"/api/v1/orders/{scene['order_id']}", headers=scene["farm"].headers).json()
    assert detail["receipts"] == [] and detail["actions"] == ["accept", "reject"]


@pytest.mark.parametrize("who", STRANGERS)
def test_order_pages_of_others_are_404_and_their_forms_too(
    make_client: Callable[[], TestClient], scene: dict[str, Any], who: str
) -> None:
    users = {
        "foreign buyer": factories.user(Role.BUYER),
        "foreign producer": factories.staff(OrganisationKind.PRODUCER)[1],
        "agency officer": factories.staff(OrganisationKind.AGENCY)[1],
    }
    browser = make_client()
    assert page_login(browser, users[who].email).status_code == 303
    order_id = scene["order_id"]
    assert browser.get(f"/orders/{order_id}").status_code == 404
    token = csrf_from(browser.get("/products"))
    for action in ACTIONS:
        response = browser.post(
            f"/orders/{order_id}/{action}", data={"csrf_token": token}, follow_redirects=False
        )
        assert response.status_code == 404, action


def test_photos_of_someone_elses_product_cannot_be_changed(client: TestClient, scene: dict[str, Any]) -> None:
    product_id = scene["farm"].products[0].id
    stranger = scene["strangers"]["foreign producer"]
    upload = client.post(
        f"/api/v1/products/{product_id}/photos",
        content=b"\xff\xd8",
        headers={**stranger, "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 404
    as_buyer = client.post(
        f"/api/v1/products/{product_id}/photos",
        content=b"\xff\xd8",
        headers={**scene["owner_headers"], "Content-Type": "image/jpeg"},
    )
    assert as_buyer.status_code == 403
