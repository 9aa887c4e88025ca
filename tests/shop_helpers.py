"""Arranging a small market for order tests, and acting in it as buyers, producers and the bank."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, select

from choso.db import session_scope
from market.models import Order, OrganisationKind, Product, Role, User
from payments import ledger
from payments.models import BankAccount
from tests import factories
from tests.conftest import wait_for_jobs
from tests.payments.helpers import bearer, notice, post_sepay, sepay_body


@dataclass
class Producer:
    organisation_id: int
    owner: User
    headers: dict[str, str]
    products: list[Product] = field(default_factory=list)


def producer(*prices: int, stock: int = 20, delivery_fee: int | None = None) -> Producer:
    """A producer with one product per price (and a delivery fee, if it delivers)."""
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    made = Producer(org.id or 0, owner, bearer(owner))
    for n, price in enumerate(prices):
        made.products.append(
            factories.product(made.organisation_id, f"Sản phẩm {org.id}-{n}", price_vnd=price, stock=stock)
        )
    if delivery_fee is not None:
        factories.delivery_option(made.organisation_id, delivery_fee)
    return made


def buyer() -> tuple[User, dict[str, str]]:
    user = factories.user(Role.BUYER)
    return user, bearer(user)


def platform_account() -> BankAccount:
    return factories.platform_bank_account()


def add(client: TestClient, headers: dict[str, str], product: Product, quantity: Any = 1) -> Response:
    return client.post(
        "/api/v1/cart/items", json={"product_id": product.id, "quantity": quantity}, headers=headers
    )


def cart_subtotal(client: TestClient, headers: dict[str, str]) -> int:
    response = client.get("/api/v1/cart", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["subtotal_vnd"])


def checkout(
    client: TestClient,
    headers: dict[str, str],
    expected_total_vnd: int,
    *,
    key: str | None = None,
    **extra: Any,
) -> Response:
    return client.post(
        "/api/v1/checkout",
        json={"expected_total_vnd": expected_total_vnd, **extra},
        headers={**headers, "Idempotency-Key": key or secrets.token_hex(12)},
    )


def buy(
    client: TestClient, headers: dict[str, str], *lines: tuple[Product, int], **extra: Any
) -> dict[str, Any]:
    """Fill the cart and check out (pickup unless told otherwise); the checkout's JSON."""
    for product, quantity in lines:
        assert add(client, headers, product, quantity).status_code == 200
    response = checkout(client, headers, cart_subtotal(client, headers) + extra.pop("fees", 0), **extra)
    assert response.status_code == 201, response.text
    return response.json()


def pay(
    client: TestClient, account: BankAccount, payment_request: dict[str, Any], amount: int | None = None
) -> None:
    """The bank tells us (signed SePay webhook) that the buyer transferred the amount; the job runs."""
    body = sepay_body(
        notice(
            account.account_number,
            amount or payment_request["amount_vnd"],
            f"MBVCB.123.{payment_request['reference_code']} thanh toan.CT",
        )
    )
    assert post_sepay(client, body).status_code == 200
    wait_for_jobs()


def order_row(db: Session, order_id: int) -> Order:
    db.rollback()
    return db.get_one(Order, order_id, populate_existing=True)


def stock_of(db: Session, product: Product) -> int:
    db.rollback()
    return db.get_one(Product, product.id, populate_existing=True).stock


def balance(code: str) -> int:
    with session_scope() as session:
        return ledger.balance(session, code)


def ledger_problems() -> list[str]:
    with session_scope() as session:
        return ledger.check(session)


def orders_of(db: Session, checkout_id: int) -> list[Order]:
    db.rollback()
    return list(db.exec(select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id)))  # type: ignore[arg-type]
