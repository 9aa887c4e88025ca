"""Carts: what a buyer means to buy, line by line, before checking out.

Rules:

* a logged-in buyer's cart is stored (one line per product); a visitor's lives in the browser
  (a signed cookie, see web.pages.shop) and is merged into the stored cart at login;
* quantities are strict positive integers, at most MAX_QUANTITY, and capped by the product's
  stock at the moment they are set (a larger quantity is refused with the number available);
* a line remembers the unit price the buyer last saw (``price_seen_vnd``), so that a price
  change before checkout is shown to the buyer, who confirms again (checkout compares the
  total the buyer confirmed with the current one);
* a product deactivated while in a cart stays in it, marked unavailable, until removed;
  checkout refuses it.

Each public function that changes a cart is a use case and commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from choso.db import utcnow
from choso.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_
from market.catalog import InsufficientStock, line_total_vnd
from market.models import CartItem, DeliveryOption, Organisation, Product, Role, User

MAX_QUANTITY = 1_000_000
MAX_LINES = 50
# strict: a quantity is a JSON integer, never "2" or 2.0
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class CartFull(Conflict):
    code = "cart_full"


class CartLineIn(BaseModel):
    """A product and how many units of it."""

    model_config = ConfigDict(extra="forbid")

    product_id: int = Field(strict=True, ge=1, le=2**31 - 1)
    quantity: Quantity


class QuantityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: Quantity


def require_buyer(user: User) -> int:
    if user.role != Role.BUYER or user.id is None:
        raise PermissionDenied(N_("Only buyers have a cart."))
    return user.id


def _active_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id, populate_existing=True)
    if product is None or not product.is_active:
        raise NotFound(N_("No such product."))
    return product


def check_available(product: Product, quantity: int) -> None:
    """Refuse a quantity above the stock right now, saying how much there is (pure)."""
    if quantity > product.stock:
        raise InsufficientStock(
            N_("Only %(available)s %(unit)s of “%(name)s” are in stock."),
            params={"available": product.stock, "unit": product.unit, "name": product.name},
            field="quantity",
        )
    line_total_vnd(product.price_vnd, quantity)


def _line(session: Session, user_id: int, product_id: int) -> CartItem | None:
    return session.exec(
        select(CartItem).where(CartItem.user_id == user_id, CartItem.product_id == product_id)
    ).first()


def add_item(session: Session, user: User, data: CartLineIn) -> CartItem:
    """Add units of a product to the cart (on top of those already in it)."""
    user_id = require_buyer(user)
    existing = _line(session, user_id, data.product_id)
    return _store(session, user_id, data.product_id, data.quantity + (existing.quantity if existing else 0))


def set_quantity(session: Session, user: User, product_id: int, quantity: int) -> CartItem:
    """Set how many units of a product the cart holds."""
    return _store(session, require_buyer(user), product_id, quantity)


def _store(session: Session, user_id: int, product_id: int, quantity: int) -> CartItem:
    if quantity > MAX_QUANTITY:
        raise InvalidInput(
            N_("At most %(max)s units per product."), params={"max": MAX_QUANTITY}, field="quantity"
        )
    product = _active_product(session, product_id)
    check_available(product, quantity)
    line = _line(session, user_id, product_id)
    now = utcnow()
    if line is None:
        if _line_count(session, user_id) >= MAX_LINES:
            raise CartFull(N_("A cart holds at most %(max)s products."), params={"max": MAX_LINES})
        line = CartItem(user_id=user_id, product_id=product_id, quantity=quantity, price_seen_vnd=0)
    line.quantity, line.price_seen_vnd, line.updated_at = quantity, product.price_vnd, now
    session.add(line)
    try:
        session.commit()
    except IntegrityError:  # the same line added by a concurrent request of this buyer: set it
        session.rollback()
        return _store(session, user_id, product_id, quantity)
    return line


def _line_count(session: Session, user_id: int) -> int:
    return len(session.exec(select(CartItem.id).where(CartItem.user_id == user_id)).all())


def remove_item(session: Session, user: User, product_id: int) -> None:
    user_id = require_buyer(user)
    line = _line(session, user_id, product_id)
    if line is None:
        raise NotFound(N_("This product is not in your cart."))
    session.delete(line)
    session.commit()


def clear(session: Session, user: User) -> None:
    user_id = require_buyer(user)
    session.exec(delete(CartItem).where(col(CartItem.user_id) == user_id))  # type: ignore[call-overload]
    session.commit()


def merge(session: Session, user: User, lines: Iterable[tuple[int, int]]) -> int:
    """Merge a visitor's cart (product id, quantity) into a buyer's stored cart at login.
    Lines that cannot be kept (product gone, no stock) are dropped, quantities capped at the
    stock; how many lines were merged. Never fails the login: one commit for all."""
    if user.role != Role.BUYER or user.id is None:
        return 0
    merged = 0
    for product_id, quantity in lines:
        product = session.get(Product, product_id)
        if product is None or not product.is_active or product.stock < 1:
            continue
        line = _line(session, user.id, product_id)
        wanted = min(quantity + (line.quantity if line else 0), product.stock, MAX_QUANTITY)
        if line is None:
            if _line_count(session, user.id) >= MAX_LINES:
                break
            line = CartItem(user_id=user.id, product_id=product_id, quantity=wanted, price_seen_vnd=0)
        line.quantity, line.price_seen_vnd, line.updated_at = wanted, product.price_vnd, utcnow()
        session.add(line)
        session.flush()
        merged += 1
    session.commit()
    return merged


# --- what the buyer sees ------------------------------------------------------------------------


@dataclass
class LineView:
    product: Product
    quantity: int
    price_seen_vnd: int

    @property
    def available(self) -> bool:
        return self.product.is_active and self.quantity <= self.product.stock

    @property
    def price_changed(self) -> bool:
        return self.price_seen_vnd != self.product.price_vnd

    @property
    def total_vnd(self) -> int:
        return self.product.price_vnd * self.quantity


@dataclass
class ProducerGroup:
    """The lines of one producer: they become one order, with its own delivery terms."""

    producer: Organisation
    delivery: DeliveryOption
    lines: list[LineView] = field(default_factory=list)

    @property
    def subtotal_vnd(self) -> int:
        return sum(line.total_vnd for line in self.lines)


@dataclass
class CartView:
    groups: list[ProducerGroup]

    @property
    def lines(self) -> list[LineView]:
        return [line for group in self.groups for line in group.lines]

    @property
    def subtotal_vnd(self) -> int:
        return sum(group.subtotal_vnd for group in self.groups)

    @property
    def ready(self) -> bool:
        """Every line can be bought as it stands."""
        return bool(self.lines) and all(line.available for line in self.lines)

    @property
    def changed(self) -> bool:
        return any(line.price_changed for line in self.lines)


def delivery_option(session: Session, organisation_id: int) -> DeliveryOption:
    """A producer's delivery terms; pickup only until it says otherwise."""
    return session.get(DeliveryOption, organisation_id) or DeliveryOption(organisation_id=organisation_id)


def view_lines(session: Session, lines: Iterable[tuple[int, int, int]]) -> CartView:
    """(product id, quantity, price seen) → the cart grouped by producer, products as they are now."""
    wanted = {product_id: (quantity, seen) for product_id, quantity, seen in lines}
    if not wanted:
        return CartView(groups=[])
    rows = session.exec(
        select(Product, Organisation)
        .join(Organisation, col(Organisation.id) == Product.producer_id)
        .where(col(Product.id).in_(wanted))
        .order_by(col(Organisation.name), col(Organisation.id), col(Product.id))
    ).all()
    groups: dict[int, ProducerGroup] = {}
    for product, producer in rows:
        producer_id = producer.id or 0
        group = groups.get(producer_id)
        if group is None:
            group = groups[producer_id] = ProducerGroup(producer, delivery_option(session, producer_id))
        quantity, seen = wanted[product.id or 0]
        group.lines.append(LineView(product, quantity, seen))
    return CartView(groups=list(groups.values()))


def stored_lines(session: Session, user_id: int) -> list[tuple[int, int, int]]:
    return [
        (product_id, quantity, seen)
        for product_id, quantity, seen in session.exec(
            select(CartItem.product_id, CartItem.quantity, CartItem.price_seen_vnd)
            .where(CartItem.user_id == user_id)
            .order_by(col(CartItem.id))
        ).all()
    ]


def view(session: Session, user: User) -> CartView:
    return view_lines(session, stored_lines(session, require_buyer(user)))
