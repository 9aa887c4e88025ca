"""The buyer's cart and checkout (JSON API; buyers only).

Checkout turns the cart into one order per producer and one payment request for the total:
send the total the buyer confirmed (`expected_total_vnd`) and an `Idempotency-Key`; a retry
with the same key returns the same checkout. Then pay at `pay_url` (VietQR or card).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from market import cart, checkout
from market.cart import CartLineIn, QuantityIn
from market.checkout import CheckoutIn
from market.models import Role, User
from web.actors import actor_of
from web.api.schemas import ErrorOut
from web.api.shop_schemas import CartOut, CheckoutOut
from web.deps import DB, ObjectId, api_role

router = APIRouter(tags=["cart and checkout"])
Buyer = Annotated[User, Depends(api_role(Role.BUYER))]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
]
_CHANGED = {409: {"model": ErrorOut, "description": "Not enough stock, or the product is no longer sold"}}


@router.get("/cart", response_model=CartOut)
def get_cart(user: Buyer, session: DB) -> CartOut:
    """The cart by producer, with today's prices and stock: `price_changed` and `available`
    flag what changed since each line was set."""
    return CartOut.of(cart.view(session, user))


@router.post("/cart/items", response_model=CartOut, responses=_CHANGED)
def add_to_cart(data: CartLineIn, user: Buyer, session: DB) -> CartOut:
    """Add units of a product (to those already in the cart); at most what is in stock now."""
    cart.add_item(session, user, data)
    return CartOut.of(cart.view(session, user))


@router.put("/cart/items/{product_id}", response_model=CartOut, responses=_CHANGED)
def set_cart_quantity(product_id: ObjectId, data: QuantityIn, user: Buyer, session: DB) -> CartOut:
    """Set the quantity of a product in the cart (this also confirms its current price)."""
    cart.set_quantity(session, user, product_id, data.quantity)
    return CartOut.of(cart.view(session, user))


@router.delete("/cart/items/{product_id}", status_code=204)
def remove_from_cart(product_id: ObjectId, user: Buyer, session: DB) -> Response:
    cart.remove_item(session, user, product_id)
    return Response(status_code=204)


@router.delete("/cart", status_code=204)
def empty_cart(user: Buyer, session: DB) -> Response:
    cart.clear(session, user)
    return Response(status_code=204)


@router.post(
    "/checkout",
    status_code=201,
    response_model=CheckoutOut,
    responses={
        409: {
            "model": ErrorOut,
            "description": "`cart_empty`, `cart_changed` (confirm the new total), `insufficient_stock`, "
            "`product_unavailable`, or the idempotency key reused for other content",
        }
    },
)
def create_checkout(
    data: CheckoutIn, request: Request, user: Buyer, session: DB, idempotency_key: IdempotencyKey
) -> CheckoutOut:
    """Check out the whole cart: one order per producer, one payment request for the total,
    stock reserved until the request expires (CHOSO_PAYMENT_REQUEST_MINUTES)."""
    view = checkout.checkout(
        session, user, data, idempotency_key=idempotency_key, actor=actor_of(request, user)
    )
    return CheckoutOut.of(view)
