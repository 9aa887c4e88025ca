"""Checkout: a buyer's cart becomes one order per producer, paid by one payment request.

Rules:

* one transaction or none: claim the idempotency key, create the orders, their lines and
  timeline, open ONE payment request for the total (paid into the platform's bank account,
  cause ``order_checkout``), empty the cart lines bought, enqueue the producers'
  notifications, and reserve the stock last (so each product's row lock is held as briefly
  as possible);
* stock is reserved by one conditional UPDATE per product, in product-id order:
  ``stock = stock - :q WHERE id = :id AND stock >= :q AND is_active AND price_vnd = :price``;
  never read-then-write, so concurrent buyers can never take more than there is; the loser
  gets a 409 saying how many units are left;
* the buyer confirms a total (``expected_total_vnd``): if prices changed since, nothing is
  reserved and the answer is a 409 ``cart_changed`` with the new total, to confirm again;
* the same idempotency key (per buyer) returns the first checkout, however often and however
  concurrently it is sent; with other content it is a 409;
* the payment request's cause handler (registered here) marks the orders paid and consumes
  their reservation when it is paid, and closes them and gives their stock back, once, when
  it expires or is cancelled. Money settles into ORDER_CLEARING until each order completes.
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select, update

from choso import audit
from choso.db import new_session, utcnow
from choso.errors import Conflict, InvalidInput, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.money import MAX_AMOUNT_VND, Vnd
from choso.settings import get_settings
from choso.text import NoControlCharacters
from market import cart, orders
from market.catalog import InsufficientStock, line_total_vnd
from market.models import (
    CartItem,
    Checkout,
    DeliveryMethod,
    DeliveryOption,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Organisation,
    OrganisationKind,
    Product,
    Role,
    StockState,
    User,
)
from market.parties import Phone
from market.places import THANH_HOA, wards_of
from payments import causes, ledger
from payments import requests as payment_requests
from payments.errors import IdempotencyKeyReused
from payments.models import BankAccount, PaymentRequest, RequestStatus

PLATFORM_NAME = "Chợ Số"
CAUSE = "order_checkout"

Street = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NoControlCharacters
]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoControlCharacters]


class Address(BaseModel):
    """Where a delivery goes: a ward or commune of Thanh Hóa, and the street."""

    model_config = ConfigDict(extra="forbid")

    ward_code: int = Field(strict=True, ge=1, le=99_999)
    street: Street


class CheckoutIn(BaseModel):
    """What the buyer confirms: the total seen, and how each producer hands over its order
    (``methods``: producer id → ``pickup`` or ``delivery``; pickup for producers left out)."""

    model_config = ConfigDict(extra="forbid")

    expected_total_vnd: Vnd
    methods: dict[int, DeliveryMethod] = Field(default_factory=dict, max_length=50)
    address: Address | None = None
    contact_phone: Phone | None = None
    note: Note = ""


class CartEmpty(Conflict):
    code = "cart_empty"


class CartChanged(Conflict):
    code = "cart_changed"


class ProductUnavailable(Conflict):
    code = "product_unavailable"


class CheckoutUnavailable(Conflict):
    code = "checkout_unavailable"


# --- the plan: what the cart becomes, checked against the catalogue as it is now ----------------


@dataclass
class PlannedOrder:
    producer: Organisation
    method: DeliveryMethod
    delivery_fee_vnd: int
    lines: list[tuple[Product, int]] = field(default_factory=list)

    @property
    def subtotal_vnd(self) -> int:
        return sum(line_total_vnd(product.price_vnd, quantity) for product, quantity in self.lines)

    @property
    def total_vnd(self) -> int:
        return self.subtotal_vnd + self.delivery_fee_vnd


def plan(session: Session, buyer: User, data: CheckoutIn) -> list[PlannedOrder]:
    """The orders this checkout would create, or the reason it cannot (4xx)."""
    view = cart.view(session, buyer)
    if not view.lines:
        raise CartEmpty(N_("Your cart is empty."))
    unknown = set(data.methods) - {group.producer.id for group in view.groups}
    if unknown:
        raise InvalidInput(N_("A delivery choice names a producer not in your cart."), field="methods")
    planned = [_planned_order(group, data) for group in view.groups]
    if any(p.method == DeliveryMethod.DELIVERY for p in planned):
        _check_address(data.address)
    total = sum(p.total_vnd for p in planned)
    if total > MAX_AMOUNT_VND:
        raise InvalidInput(
            N_("One checkout may be at most %(max)s."), params={"max": format_vnd(MAX_AMOUNT_VND)}
        )
    if total != data.expected_total_vnd:
        raise CartChanged(
            N_(
                "The total is now %(total)s, not %(expected)s: prices or delivery changed. Check your cart "
                "and confirm again."
            ),
            params={"total": format_vnd(total), "expected": format_vnd(data.expected_total_vnd)},
            field="expected_total_vnd",
        )
    return planned


def _planned_order(group: cart.ProducerGroup, data: CheckoutIn) -> PlannedOrder:
    for line in group.lines:
        if not line.product.is_active:
            raise ProductUnavailable(
                N_("“%(name)s” is no longer sold: remove it from your cart."),
                params={"name": line.product.name},
            )
        cart.check_available(line.product, line.quantity)
    method = data.methods.get(group.producer.id or 0, DeliveryMethod.PICKUP)
    if method == DeliveryMethod.DELIVERY and not group.delivery.offers_delivery:
        raise InvalidInput(
            N_("%(producer)s does not deliver: choose pickup."),
            params={"producer": group.producer.name},
            field="methods",
        )
    fee = group.delivery.delivery_fee_vnd if method == DeliveryMethod.DELIVERY else 0
    return PlannedOrder(group.producer, method, fee, [(line.product, line.quantity) for line in group.lines])


def _check_address(address: Address | None) -> None:
    if address is None:
        raise InvalidInput(N_("Give the delivery address."), field="address")
    if address.ward_code not in {int(ward.code) for ward in wards_of(THANH_HOA)}:
        raise InvalidInput(
            N_("We deliver only within Thanh Hóa: choose one of its wards."), field="ward_code"
        )


# --- the use case -------------------------------------------------------------------------------


def fingerprint(data: CheckoutIn) -> str:
    return hashlib.sha256(json.dumps(data.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def checkout(
    session: Session, buyer: User, data: CheckoutIn, *, idempotency_key: str, actor: audit.Actor
) -> CheckoutView:
    """Turn the buyer's cart into orders and one payment request (see the module's rules).
    Nothing is left open on ``session``: what the caller shows comes back with the result."""
    buyer_id = cart.require_buyer(buyer)
    print_ = fingerprint(data)
    # Read without the write lock (SQLite takes it at BEGIN): replays and refusals (no stock,
    # changed prices) never queue behind other checkouts; the reservation re-checks it all.
    with new_session(read_only=True) as reader:
        replay = _by_key(reader, buyer_id, idempotency_key)
        if replay is not None:
            return view(reader, _same_or_conflict(replay, print_))
        planned = plan(reader, buyer, data)
    with _writer_turn(session):
        created = _write(session, buyer, data, planned, idempotency_key, print_, actor)
    if created is not None:
        return created
    with new_session(read_only=True) as reader:  # a concurrent twin won: its checkout, as it is
        replay = _by_key(reader, buyer_id, idempotency_key)
        if replay is None:
            raise RuntimeError("the idempotency key was taken, yet no checkout has it")
        return view(reader, _same_or_conflict(replay, print_))


# SQLite has one writer at a time: this process's checkouts queue on a lock of ours, asleep,
# instead of spinning in SQLite's busy handler while they steal the CPU from the one writing
# (under a burst of buyers that starves the writer until the busy timeout fails everyone).
_SQLITE_WRITER = threading.Lock()


def _writer_turn(session: Session) -> AbstractContextManager[object]:
    return _SQLITE_WRITER if session.get_bind().dialect.name == "sqlite" else nullcontext()


def _write(
    session: Session,
    buyer: User,
    data: CheckoutIn,
    planned: list[PlannedOrder],
    idempotency_key: str,
    print_: str,
    actor: audit.Actor,
) -> CheckoutView | None:
    """The writing part, in one transaction; None if a concurrent twin claimed the key first."""
    buyer_id = buyer.id or 0
    record = Checkout(
        buyer_id=buyer_id,
        idempotency_key=idempotency_key,
        fingerprint=print_,
        total_vnd=sum(p.total_vnd for p in planned),
    )
    try:
        with session.begin_nested():  # claims the key: a concurrent twin waits here, then replays
            session.add(record)
            session.flush()
    except IntegrityError:
        session.rollback()
        return None
    created = [_create_order(session, record, p, data, buyer) for p in planned]
    request = _open_payment(session, record, buyer)
    for order, _lines in created:
        order.payment_request_id = request.id
        session.add(order)
        orders.notify_placed(session, order)
    record.payment_request_id = request.id
    session.add(record)
    _remove_from_cart(session, buyer_id, [product.id or 0 for p in planned for product, _ in p.lines])
    audit.record(
        session,
        actor,
        action="checkout.create",
        object_type="checkout",
        object_id=record.id or 0,
        after={"orders": [o.id for o, _ in created], "total_vnd": record.total_vnd, "request": request.id},
    )
    _reserve(session, planned)
    session.commit()
    return CheckoutView(
        record,
        [order for order, _lines in created],
        {order.id or 0: lines for order, lines in created},
        {p.producer.id or 0: p.producer.name for p in planned},
        request,
    )


def _by_key(session: Session, buyer_id: int, key: str) -> Checkout | None:
    return session.exec(
        select(Checkout).where(Checkout.buyer_id == buyer_id, Checkout.idempotency_key == key)
    ).first()


def _same_or_conflict(record: Checkout, print_: str) -> Checkout:
    if record.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different checkout."))
    return record


def _create_order(
    session: Session, record: Checkout, planned: PlannedOrder, data: CheckoutIn, buyer: User
) -> tuple[Order, list[OrderLine]]:
    delivery = planned.method == DeliveryMethod.DELIVERY and data.address is not None
    order = Order(
        checkout_id=record.id or 0,
        buyer_id=buyer.id or 0,
        producer_id=planned.producer.id or 0,
        subtotal_vnd=planned.subtotal_vnd,
        delivery_fee_vnd=planned.delivery_fee_vnd,
        total_vnd=planned.total_vnd,
        delivery_method=planned.method,
        delivery_ward_code=data.address.ward_code if delivery and data.address else None,
        delivery_street=data.address.street if delivery and data.address else "",
        contact_phone=(data.contact_phone or buyer.phone or "")[:20],
        buyer_note=data.note,
    )
    session.add(order)
    session.flush()
    lines = [
        OrderLine(
            order_id=order.id or 0,
            product_id=product.id or 0,
            product_name=product.name,
            unit=product.unit,
            unit_price_vnd=product.price_vnd,
            quantity=quantity,
            line_total_vnd=line_total_vnd(product.price_vnd, quantity),
        )
        for product, quantity in planned.lines
    ]
    session.add_all(lines)
    session.add(
        OrderEvent(
            order_id=order.id or 0,
            to_status=OrderStatus.PENDING_PAYMENT,
            actor_user_id=buyer.id,
            actor_role=str(buyer.role),
        )
    )
    return order, lines


def _open_payment(session: Session, record: Checkout, buyer: User) -> PaymentRequest:
    return payment_requests.open_request(
        session,
        payee_organisation_id=platform_organisation(session).id or 0,
        bank_account_id=platform_bank_account(session).id,
        amount_vnd=record.total_vnd,
        description=f"Chợ Số - đơn hàng {record.id}",
        expires_at=utcnow() + timedelta(minutes=get_settings().payment_request_minutes),
        cause_type=CAUSE,
        cause_id=record.id,
        payer_name=buyer.full_name,
        payer_user_id=buyer.id,
        created_by_id=buyer.id,
    )


def _remove_from_cart(session: Session, buyer_id: int, product_ids: list[int]) -> None:
    session.exec(
        delete(CartItem).where(col(CartItem.user_id) == buyer_id, col(CartItem.product_id).in_(product_ids))  # type: ignore[call-overload]
    )


def _reserve(session: Session, planned: list[PlannedOrder]) -> None:
    """Take the units from stock, one conditional UPDATE per product in id order; the first
    that cannot be taken undoes the whole checkout and says why."""
    wanted = sorted(
        (product.id or 0, quantity, product.price_vnd) for p in planned for product, quantity in p.lines
    )
    for product_id, quantity, price in wanted:
        taken = session.exec(
            update(Product)  # type: ignore[call-overload]
            .where(
                col(Product.id) == product_id,
                col(Product.stock) >= quantity,
                col(Product.is_active).is_(True),
                col(Product.price_vnd) == price,
            )
            .values(stock=col(Product.stock) - quantity, version=col(Product.version) + 1)
        ).rowcount
        if taken != 1:
            session.rollback()
            raise _why_not_reserved(session, product_id, quantity, price)


def _why_not_reserved(session: Session, product_id: int, quantity: int, price: int) -> Exception:
    product = session.get(Product, product_id, populate_existing=True)
    session.rollback()
    if product is None or not product.is_active:
        name = product.name if product else str(product_id)
        return ProductUnavailable(
            N_("“%(name)s” is no longer sold: remove it from your cart."), params={"name": name}
        )
    if product.price_vnd != price:
        return CartChanged(
            N_("The price of “%(name)s” changed: check your cart and confirm again."),
            params={"name": product.name},
            field="expected_total_vnd",
        )
    return InsufficientStock(
        N_("Only %(available)s %(unit)s of “%(name)s” are left: change the quantity."),
        params={"available": product.stock, "unit": product.unit, "name": product.name},
        field="quantity",
    )


# --- the platform as payee ----------------------------------------------------------------------


def platform_organisation(session: Session) -> Organisation:
    """Chợ Số itself, the payee of every checkout (created on first need; at most one row)."""
    found = session.exec(select(Organisation).where(Organisation.kind == OrganisationKind.PLATFORM)).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(
                Organisation(kind=OrganisationKind.PLATFORM, name=PLATFORM_NAME, province_code=THANH_HOA)
            )
            session.flush()
    except IntegrityError:  # created concurrently
        pass
    return session.exec(select(Organisation).where(Organisation.kind == OrganisationKind.PLATFORM)).one()


def platform_bank_account(session: Session) -> BankAccount:
    account = session.exec(
        select(BankAccount)
        .where(col(BankAccount.organisation_id).is_(None), col(BankAccount.is_active).is_(True))
        .order_by(col(BankAccount.id))
    ).first()
    if account is None:
        raise CheckoutUnavailable(
            N_("Checkout is not open yet: the platform has no bank account to receive payments.")
        )
    return account


# --- what a checkout shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutView:
    """A checkout with its orders, their lines, the producers' names and the payment request."""

    checkout: Checkout
    orders: list[Order]
    lines: dict[int, list[OrderLine]]
    producer_names: dict[int, str]
    payment_request: PaymentRequest


def view(session: Session, record: Checkout) -> CheckoutView:
    found = list(session.exec(select(Order).where(Order.checkout_id == record.id).order_by(col(Order.id))))
    return CheckoutView(
        record,
        found,
        orders.lines_of(session, [o.id or 0 for o in found]),
        orders.producer_names(session, found),
        session.get_one(PaymentRequest, record.payment_request_id),
    )


# --- the payment cause --------------------------------------------------------------------------


class CheckoutCause:
    """What the payments core does with a checkout's payment request."""

    def credit_account(self, request: PaymentRequest) -> str:
        return ledger.ORDER_CLEARING

    def on_paid(self, session: Session, request: PaymentRequest) -> None:
        orders.mark_paid(session, request.cause_id or 0)

    def on_closed(self, session: Session, request: PaymentRequest) -> None:
        target = OrderStatus.EXPIRED if request.status == RequestStatus.EXPIRED else OrderStatus.CANCELLED
        orders.close_unpaid(session, request.cause_id or 0, target)

    def amend_receipt(
        self, session: Session, request: PaymentRequest, content: dict[str, Any]
    ) -> dict[str, Any]:
        """The receipt lists what was bought, from whom, and each delivery fee."""
        if content.get("kind") != "receipt":
            return content
        found = list(
            session.exec(select(Order).where(Order.checkout_id == request.cause_id).order_by(col(Order.id)))
        )
        names = orders.producer_names(session, found)
        lines = orders.lines_of(session, [o.id or 0 for o in found])
        items: list[dict[str, Any]] = []
        for order in found:
            producer = names.get(order.producer_id, "")
            items += [
                _item(f"{line.product_name} ({producer})", line.quantity, line.unit_price_vnd)
                for line in lines[order.id or 0]
            ]
            if order.delivery_fee_vnd:
                items.append(_item(f"Phí giao hàng ({producer})", 1, order.delivery_fee_vnd))
        if sum(item["amount_vnd"] for item in items) != content.get("amount_vnd"):
            return content  # a receipt must add up: otherwise it keeps the request's one line
        return {**content, "items": items, "orders": [order.id for order in found]}


def _item(description: str, quantity: int, unit_price_vnd: int) -> dict[str, Any]:
    return {
        "description": description[:200],
        "quantity": quantity,
        "unit_price_vnd": unit_price_vnd,
        "amount_vnd": quantity * unit_price_vnd,
    }


causes.register(CAUSE, CheckoutCause())


# --- a producer's delivery terms ----------------------------------------------------------------


class DeliveryOptionIn(BaseModel):
    """How a producer hands over its orders: pickup always; delivery within Thanh Hóa for a
    flat fee (0 for free delivery) if ``offers_delivery``."""

    model_config = ConfigDict(extra="forbid")

    offers_delivery: bool = Field(strict=True)
    delivery_fee_vnd: int = Field(default=0, strict=True, ge=0, le=10_000_000)
    pickup_note: Note = Field(default="", max_length=300)


def set_delivery_option(session: Session, user: User, data: DeliveryOptionIn) -> DeliveryOption:
    """Set the caller's own organisation's delivery terms (producers only)."""
    organisation_id = _producer_organisation(user)
    option = session.get(DeliveryOption, organisation_id) or DeliveryOption(organisation_id=organisation_id)
    option.offers_delivery = data.offers_delivery
    option.delivery_fee_vnd = data.delivery_fee_vnd
    option.pickup_note = data.pickup_note
    option.updated_at = utcnow()
    session.add(option)
    session.commit()
    return option


def _producer_organisation(user: User) -> int:
    if user.role != Role.PRODUCER or user.organisation_id is None:
        raise PermissionDenied(N_("Only producers can do this."))
    return user.organisation_id


# --- an order from an accepted match (matching.proposals) ---------------------------------------

MATCH_KEY = "match-proposal:{}"


def order_from_match(
    session: Session,
    buyer: User,
    *,
    proposal_id: int,
    producer: Organisation,
    listing: Product,
    quantity: int,
    unit_price_vnd: int,
    delivery_fee_vnd: int,
    address: Address | None,
    reserve_stock: bool,
) -> Checkout:
    """The order of a match both sides accepted: one line at the agreed price, delivered for the
    transport cost, paid like any checkout (ONE payment request, cause ``order_checkout``, so
    payment, expiry and the order's lifecycle are exactly a checkout's). One per proposal (the
    checkout's idempotency key); flushes only, the acceptance commits.

    ``listing`` is the catalogue product the line names. Its stock is reserved (and given back
    if the order closes unpaid) only when ``reserve_stock``: a post linked to a listing sells
    from it; an unlinked post's listing is an inactive one that holds no stock."""
    key = MATCH_KEY.format(proposal_id)
    replay = _by_key(session, buyer.id or 0, key)
    if replay is not None:
        return replay
    # The listing at the agreed price: only read by _create_order, never added to the session.
    agreed = Product(
        id=listing.id,
        producer_id=listing.producer_id,
        name=listing.name,
        category=listing.category,
        unit=listing.unit,
        price_vnd=unit_price_vnd,
    )
    planned = PlannedOrder(producer, DeliveryMethod.DELIVERY, delivery_fee_vnd, [(agreed, quantity)])
    data = CheckoutIn(expected_total_vnd=planned.total_vnd, address=address)
    record = Checkout(
        buyer_id=buyer.id or 0,
        idempotency_key=key,
        fingerprint=fingerprint(data),
        total_vnd=planned.total_vnd,
    )
    session.add(record)
    session.flush()
    order, _lines = _create_order(session, record, planned, data, buyer)
    request = _open_payment(session, record, buyer)
    order.payment_request_id = request.id
    order.stock_state = StockState.RESERVED if reserve_stock else StockState.RELEASED
    session.add(order)
    orders.notify_placed(session, order)
    record.payment_request_id = request.id
    session.add(record)
    session.flush()
    if reserve_stock:
        _take_from_listing(session, listing, quantity)
    return record


def _take_from_listing(session: Session, listing: Product, quantity: int) -> None:
    """Reserve a match's units from its linked listing (one conditional UPDATE); a listing with
    too few units refuses the order (the caller's transaction rolls back)."""
    taken = session.exec(
        update(Product)  # type: ignore[call-overload]
        .where(col(Product.id) == listing.id, col(Product.stock) >= quantity)
        .values(stock=col(Product.stock) - quantity, version=col(Product.version) + 1)
    ).rowcount
    if taken != 1:
        raise InsufficientStock(
            N_("Only %(available)s %(unit)s of “%(name)s” are left: change the quantity."),
            params={"available": listing.stock, "unit": listing.unit, "name": listing.name},
            field="quantity",
        )
