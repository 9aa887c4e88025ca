"""Orders: the lifecycle from payment to completion, who may move an order, and its money.

Rules:

* the only moves are those of :data:`TRANSITIONS` (pure), each allowed to one kind of party:
  pending_payment → paid → accepted → shipped → delivered → completed; the buyer cancels
  before acceptance, the producer rejects a paid order, an unpaid order expires. Anything
  else is a 409 ``invalid_transition``; a move the caller's side may never make is a 403;
  an order the caller may not see is a 404 (never a 403, so ids cannot be probed);
* an order moves by one conditional UPDATE (``WHERE status = :from``), so two concurrent
  moves cannot both happen; every move is recorded (OrderEvent: from, to, who, when);
* stock: reserved at checkout (market.checkout), consumed when paid, given back exactly once
  when the order closes unpaid or is cancelled/rejected after payment (``stock_state``
  changes by a conditional UPDATE too);
* money: a checkout's payment settles into ORDER_CLEARING (the payment cause); completion
  moves the order's total to the producer's payable minus the commission
  (CHOSO_COMMISSION_BP of the goods, rounded half up) into COMMISSION; cancelling or
  rejecting a paid order moves its total to REFUNDS_DUE and marks that share of the payment
  not owed, for payments.refunds to pay back (a card at once; a bank transfer once an
  operator gives the buyer's account). Every posting has an idempotency key per order;
* a checkout's unpaid orders follow its payment request: closing the request closes them
  (lock order: the payment request first, as the payments core does, then orders, then
  products in id order).

Use cases commit; ``close_unpaid`` and ``mark_paid`` only flush (the payment core calls them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select, update

from choso import audit
from choso.db import lock_rows, utcnow
from choso.errors import Conflict, NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.jobs import enqueue_after_commit
from choso.money import basis_points_of
from choso.settings import get_settings
from market.models import (
    MAX_LISTING_VALUE_VND,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Organisation,
    Product,
    Role,
    StockState,
    User,
)
from payments import ledger, receipts, refunds
from payments.models import Payment, PaymentRequest, PaymentStatus, Receipt, RequestStatus
from payments.posting_rules import split, transfer

S = OrderStatus


class Party(StrEnum):
    BUYER = "buyer"
    PRODUCER = "producer"
    SYSTEM = "system"


# (from, to) → who may make the move. Nothing else is a move.
TRANSITIONS: dict[tuple[OrderStatus, OrderStatus], frozenset[Party]] = {
    (S.PENDING_PAYMENT, S.PAID): frozenset({Party.SYSTEM}),
    (S.PENDING_PAYMENT, S.EXPIRED): frozenset({Party.SYSTEM}),
    (S.PENDING_PAYMENT, S.CANCELLED): frozenset({Party.BUYER, Party.SYSTEM}),
    (S.PAID, S.ACCEPTED): frozenset({Party.PRODUCER}),
    (S.PAID, S.REJECTED): frozenset({Party.PRODUCER}),
    (S.PAID, S.CANCELLED): frozenset({Party.BUYER}),
    (S.ACCEPTED, S.SHIPPED): frozenset({Party.PRODUCER}),
    (S.ACCEPTED, S.DELIVERED): frozenset({Party.PRODUCER}),  # handed over at pickup
    (S.SHIPPED, S.DELIVERED): frozenset({Party.PRODUCER}),
    (S.DELIVERED, S.COMPLETED): frozenset({Party.BUYER, Party.SYSTEM}),
}
CLOSED = frozenset({S.COMPLETED, S.CANCELLED, S.REJECTED, S.EXPIRED})
# What the API and pages call each move a person makes.
ACTIONS: dict[str, OrderStatus] = {
    "cancel": S.CANCELLED,
    "accept": S.ACCEPTED,
    "reject": S.REJECTED,
    "ship": S.SHIPPED,
    "deliver": S.DELIVERED,
    "confirm": S.COMPLETED,
}
STATUS_LABELS: dict[OrderStatus, str] = {
    S.PENDING_PAYMENT: N_("Waiting for payment"),
    S.PAID: N_("Paid"),
    S.ACCEPTED: N_("Accepted"),
    S.SHIPPED: N_("Shipped"),
    S.DELIVERED: N_("Delivered"),
    S.COMPLETED: N_("Completed"),
    S.CANCELLED: N_("Cancelled"),
    S.REJECTED: N_("Rejected"),
    S.EXPIRED: N_("Expired"),
}


def allowed(current: OrderStatus, target: OrderStatus, party: Party) -> bool:
    """Whether ``party`` may move an order from ``current`` to ``target`` (pure)."""
    return party in TRANSITIONS.get((current, target), frozenset())


def ever_allowed(target: OrderStatus, party: Party) -> bool:
    """Whether ``party`` may ever move an order to ``target``, from some status (pure)."""
    return any(party in parties for (_, to), parties in TRANSITIONS.items() if to == target)


def next_actions(current: OrderStatus, party: Party) -> list[str]:
    """The actions ``party`` can take on an order in ``current`` (pure; for buttons)."""
    return [action for action, target in ACTIONS.items() if allowed(current, target, party)]


class InvalidTransition(Conflict):
    code = "invalid_transition"


# --- who may see and move an order --------------------------------------------------------------


def party_of(user: User, order: Order) -> Party | None:
    """The caller's side of this order, or None if it is not theirs."""
    if user.role == Role.BUYER and order.buyer_id == user.id:
        return Party.BUYER
    if user.role == Role.PRODUCER and user.organisation_id == order.producer_id:
        return Party.PRODUCER
    return None


def can_see(user: User, order: Order) -> bool:
    return user.role == Role.OPERATOR or party_of(user, order) is not None


def get_order_for(session: Session, user: User, order_id: int) -> Order:
    """The order if ``user`` may see it; anyone else's looks exactly like a missing one."""
    order = session.get(Order, order_id, populate_existing=True)
    if order is None or not can_see(user, order):
        raise NotFound(N_("No such order."))
    return order


def list_orders_for(
    session: Session, user: User, *, status: OrderStatus | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Order], int]:
    """A buyer's own orders, a producer's incoming orders, or (operators) all; newest first."""
    conditions: list[Any] = []
    if user.role == Role.BUYER:
        conditions.append(Order.buyer_id == user.id)
    elif user.role == Role.PRODUCER and user.organisation_id is not None:
        conditions.append(Order.producer_id == user.organisation_id)
    elif user.role != Role.OPERATOR:
        raise PermissionDenied(N_("Your role does not allow this."))
    if status is not None:
        conditions.append(Order.status == status)
    total = session.exec(select(func.count()).select_from(Order).where(*conditions)).one()
    rows = session.exec(
        select(Order).where(*conditions).order_by(col(Order.id).desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), int(total)


# --- moving an order ----------------------------------------------------------------------------


def _actor(user: User | None) -> tuple[int | None, str]:
    return (user.id, str(user.role)) if user is not None else (None, "system")


def _move(
    session: Session,
    order: Order,
    target: OrderStatus,
    *,
    by: User | None,
    note: str = "",
    values: dict[str, Any] | None = None,
) -> bool:
    """Move ``order`` from its current status to ``target`` in one conditional UPDATE and
    record the event; False (nothing written) if someone else moved it first. Flushes only."""
    now = utcnow()
    source = order.status
    changes: dict[str, Any] = {"status": target, "updated_at": now, **(values or {})}
    if target in CLOSED:
        changes["closed_at"] = now
    result = session.exec(
        update(Order)  # type: ignore[call-overload]
        .where(col(Order.id) == order.id, col(Order.status) == source)
        .values(**changes)
    )
    if result.rowcount != 1:
        return False
    user_id, role = _actor(by)
    session.add(
        OrderEvent(
            order_id=order.id or 0,
            from_status=source,
            to_status=target,
            actor_user_id=user_id,
            actor_role=role,
            note=note[:300],
            at=now,
        )
    )
    session.flush()
    session.refresh(order)
    return True


def _refuse(order: Order, target: OrderStatus) -> InvalidTransition:
    return InvalidTransition(
        N_("An order that is “%(status)s” cannot become “%(target)s”."),
        params={"status": str(order.status), "target": target.value},
        field="status",
    )


def act(
    session: Session, user: User, order_id: int, action: str, *, note: str = "", actor: audit.Actor
) -> Order:
    """A buyer's or producer's move on an order (the use case behind every action button)."""
    target = ACTIONS.get(action)
    if target is None:
        raise NotFound(N_("No such action."))
    order = get_order_for(session, user, order_id)
    party = party_of(user, order)
    if party is None or not ever_allowed(target, party):
        raise PermissionDenied(N_("Your role does not allow this."))
    if order.status == S.PENDING_PAYMENT and target == S.CANCELLED:
        _cancel_unpaid(session, order, user)
    else:
        _lock_order(session, order)
        if not allowed(order.status, target, party):
            session.rollback()
            raise _refuse(order, target)
        _apply(session, order, target, user, note)
    audit.record(
        session,
        actor,
        action=f"order.{action}",
        object_type="order",
        object_id=order_id,
        after={"status": str(order.status)},
    )
    session.commit()
    return order


def _lock_order(session: Session, order: Order) -> None:
    lock_rows(session, Order, [order.id or 0])
    session.refresh(order)


def _apply(session: Session, order: Order, target: OrderStatus, user: User | None, note: str) -> None:
    """Make an allowed move with what comes with it (stock back, refund, payout, dates)."""
    values: dict[str, Any] = {}
    if target == S.SHIPPED:
        values["tracking_note"] = note[:300]
    if target == S.DELIVERED:
        values["delivered_at"] = utcnow()
    if not _move(session, order, target, by=user, note=note, values=values):
        session.rollback()
        raise _refuse(order, target)
    if target in (S.CANCELLED, S.REJECTED):  # only from paid here: unpaid ones close with their request
        _give_back_stock(session, [order])
        _refund_due(session, order)
    elif target == S.COMPLETED:
        _pay_producer(session, order)
    _notify_move(session, order)


def _cancel_unpaid(session: Session, order: Order, user: User) -> None:
    """The buyer cancels before paying: the checkout's payment request is closed, which
    closes every unpaid order of the checkout (they share that one payment) and gives their
    stock back. If the payment landed first, the order is paid and is cancelled as such."""
    request_id = order.payment_request_id or 0
    lock_rows(session, PaymentRequest, [request_id])
    request = session.get(PaymentRequest, request_id, populate_existing=True)
    session.refresh(order)
    if request is not None and request.status == RequestStatus.OPEN:
        # What payments.requests does when a request is cancelled, with the buyer as the one who
        # cancelled the orders (the payment cause's on_closed would record the system).
        request.status, request.closed_at = RequestStatus.CANCELLED, utcnow()
        session.add(request)
        session.flush()
        close_unpaid(session, order.checkout_id, S.CANCELLED, by=user)
        session.refresh(order)
        return
    if order.status == S.PAID:
        _apply(session, order, S.CANCELLED, user, "")
        return
    session.rollback()
    raise _refuse(order, S.CANCELLED)


# --- what the payment cause calls (flush only) ---------------------------------------------------


def orders_of_checkout(session: Session, checkout_id: int) -> list[Order]:
    ids = session.exec(select(Order.id).where(Order.checkout_id == checkout_id).order_by(col(Order.id))).all()
    lock_rows(session, Order, [i for i in ids if i is not None])
    return list(
        session.exec(
            select(Order)
            .where(Order.checkout_id == checkout_id)
            .order_by(col(Order.id))
            .execution_options(populate_existing=True)
        )
    )


def mark_paid(session: Session, checkout_id: int) -> list[Order]:
    """The checkout's payment request is paid: its orders are paid, their stock is sold."""
    paid = []
    for order in orders_of_checkout(session, checkout_id):
        now = utcnow()
        values = {"paid_at": now, "stock_state": StockState.CONSUMED}
        if order.status == S.PENDING_PAYMENT and _move(session, order, S.PAID, by=None, values=values):
            paid.append(order)
            _notify_move(session, order)
    return paid


def close_unpaid(
    session: Session, checkout_id: int, target: OrderStatus, *, by: User | None = None
) -> list[Order]:
    """The checkout's payment request expired or was cancelled: its unpaid orders close and
    their reserved stock goes back, once."""
    closed = [
        order
        for order in orders_of_checkout(session, checkout_id)
        if order.status == S.PENDING_PAYMENT and _move(session, order, target, by=by)
    ]
    _give_back_stock(session, closed)
    for order in closed:
        _notify_move(session, order)
    return closed


def _give_back_stock(session: Session, orders: Sequence[Order]) -> None:
    """Return the units of ``orders`` to their listings, exactly once per order: the
    stock_state flips by a conditional UPDATE, and only the order that flipped it adds units.
    Products are updated in id order (the lock order). A listing whose price rose so far that
    its value cap would break gets the most it may hold."""
    returning: list[int] = []
    for order in orders:
        flipped = session.exec(
            update(Order)  # type: ignore[call-overload]
            .where(col(Order.id) == order.id, col(Order.stock_state) != StockState.RELEASED)
            .values(stock_state=StockState.RELEASED)
        ).rowcount
        if flipped:
            returning.append(order.id or 0)
    if not returning:
        return
    lines = session.exec(
        select(OrderLine.product_id, func.sum(OrderLine.quantity))
        .where(col(OrderLine.order_id).in_(returning))
        .group_by(col(OrderLine.product_id))
        .order_by(col(OrderLine.product_id))
    ).all()
    cap = sa.literal(MAX_LISTING_VALUE_VND, sa.BigInteger) / col(Product.price_vnd)
    for product_id, quantity in lines:
        restocked = col(Product.stock) + int(quantity)
        session.exec(
            update(Product)  # type: ignore[call-overload]
            .where(col(Product.id) == product_id)
            .values(stock=sa.case((restocked <= cap, restocked), else_=cap), version=col(Product.version) + 1)
        )
    session.flush()


# --- money --------------------------------------------------------------------------------------


def _refund_due(session: Session, order: Order) -> None:
    """A paid order will not be fulfilled: its whole total is owed back to the buyer.

    The total moves from ORDER_CLEARING to REFUNDS_DUE, and that share of the checkout's
    payment is marked as not owed (``excess_vnd``), which is how payments.refunds knows it is
    held already: a card payment is refunded through the processor at once; a bank transfer
    is paid back when an operator gives the buyer's account (the refund then takes it from
    what is due, holding nothing twice)."""
    ledger.post(
        session,
        key=f"order:{order.id}:refund",
        kind="order_refund",
        memo=f"order {order.id} {order.status!s}: refund to the buyer",
        postings=transfer(debit=ledger.ORDER_CLEARING, credit=ledger.REFUNDS_DUE, amount_vnd=order.total_vnd),
        cause_type="order",
        cause_id=order.id,
    )
    left = order.total_vnd
    for payment in _settled_payments(session, order.payment_request_id or 0):
        share = min(left, payment.amount_vnd - payment.excess_vnd)
        if share <= 0 or not _mark_not_owed(session, payment.id or 0, share):
            continue
        if payment.channel == "card":
            session.refresh(payment)
            refunds.refund_automatically(session, payment, amount_vnd=share)
        left -= share
        if not left:
            break


def _settled_payments(session: Session, request_id: int) -> list[Payment]:
    return list(
        session.exec(
            select(Payment)
            .where(Payment.request_id == request_id, Payment.status == PaymentStatus.SETTLED)
            .order_by(col(Payment.id).desc())
        )
    )


def _mark_not_owed(session: Session, payment_id: int, amount_vnd: int) -> bool:
    """Add to a payment's part not owed, never beyond the payment (one conditional UPDATE)."""
    return (
        session.exec(
            update(Payment)  # type: ignore[call-overload]
            .where(
                col(Payment.id) == payment_id, col(Payment.excess_vnd) + amount_vnd <= col(Payment.amount_vnd)
            )
            .values(excess_vnd=col(Payment.excess_vnd) + amount_vnd)
        ).rowcount
        == 1
    )


def commission_of(order: Order, basis_points: int) -> int:
    """The platform's share of a completed order: basis points of its goods (not delivery)."""
    return basis_points_of(order.subtotal_vnd, basis_points)


def _pay_producer(session: Session, order: Order) -> None:
    commission = commission_of(order, get_settings().commission_bp)
    shares = [
        (ledger.payable(order.producer_id), order.total_vnd - commission),
        (ledger.COMMISSION, commission),
    ]
    ledger.post(
        session,
        key=f"order:{order.id}:complete",
        kind="order_completion",
        memo=f"order {order.id} completed",
        postings=split(ledger.ORDER_CLEARING, order.total_vnd, shares),
        cause_type="order",
        cause_id=order.id,
    )
    session.exec(
        update(Order).where(col(Order.id) == order.id).values(commission_vnd=commission)  # type: ignore[call-overload]
    )
    session.refresh(order)


def complete_due(session: Session, *, now: datetime | None = None, batch: int = 200) -> int:
    """The periodic job: complete orders delivered CHOSO_ORDER_AUTOCOMPLETE_DAYS ago or more,
    one transaction each (an order the buyer completed meanwhile is skipped)."""
    cutoff = (now or utcnow()) - timedelta(days=get_settings().order_autocomplete_days)
    due = session.exec(
        select(Order.id)
        .where(Order.status == S.DELIVERED, col(Order.delivered_at) <= cutoff)
        .order_by(col(Order.id))
        .limit(batch)
    ).all()
    session.commit()
    completed = 0
    for order_id in due:
        order = session.get(Order, order_id, populate_existing=True)
        if order is not None and order.status == S.DELIVERED:
            _lock_order(session, order)
            if order.status == S.DELIVERED and _move(session, order, S.COMPLETED, by=None):
                _pay_producer(session, order)
                _notify_move(session, order)
                completed += 1
        session.commit()
    return completed


# --- notifications (jobs through the outbox) ----------------------------------------------------

BUYER_NOTICES = {
    S.PAID: "order_paid_buyer",
    S.ACCEPTED: "order_accepted",
    S.REJECTED: "order_rejected",
    S.SHIPPED: "order_shipped",
    S.DELIVERED: "order_delivered",
    S.EXPIRED: "order_expired",
    S.CANCELLED: "order_cancelled",
}
PRODUCER_NOTICES = {S.PAID: "order_paid", S.CANCELLED: "order_cancelled_producer"}


def notify_placed(session: Session, order: Order) -> None:
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=order.producer_id,
        kind="order_placed",
        params={"order": order.id, "amount": format_vnd(order.total_vnd)},
        dedupe_key=f"order:{order.id}:placed",
    )


def _notify_move(session: Session, order: Order) -> None:
    params = {"order": order.id, "amount": format_vnd(order.total_vnd)}
    key = f"order:{order.id}:{order.status!s}"
    if order.status in BUYER_NOTICES:
        enqueue_after_commit(
            session,
            "market.deliver_notification",
            user_id=order.buyer_id,
            kind=BUYER_NOTICES[order.status],
            params=params,
            dedupe_key=f"{key}:buyer",
        )
    if order.status in PRODUCER_NOTICES:
        enqueue_after_commit(
            session,
            "market.notify_organisation",
            organisation_id=order.producer_id,
            kind=PRODUCER_NOTICES[order.status],
            params=params,
            dedupe_key=key,
        )


# --- what the pages and the API show ------------------------------------------------------------


@dataclass(frozen=True)
class OrderView:
    order: Order
    producer: Organisation
    buyer: User
    lines: list[OrderLine]
    events: list[OrderEvent]
    payment_request: PaymentRequest | None
    receipts: list[Receipt]
    actions: list[str]


def order_view(session: Session, user: User, order_id: int) -> OrderView:
    """An order with its lines, timeline, payment and receipts, if ``user`` may see it."""
    order = get_order_for(session, user, order_id)
    request = session.get(PaymentRequest, order.payment_request_id) if order.payment_request_id else None
    party = party_of(user, order)
    events = session.exec(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(col(OrderEvent.id))
    )
    # the receipts of the checkout's payment are the buyer's: a producer sees its own order only
    shown_receipts = (
        receipts.for_request(session, request.id or 0) if request and party != Party.PRODUCER else []
    )
    return OrderView(
        order=order,
        producer=session.get_one(Organisation, order.producer_id),
        buyer=session.get_one(User, order.buyer_id),
        lines=lines_of(session, [order.id or 0]).get(order.id or 0, []),
        events=list(events),
        payment_request=request,
        receipts=shown_receipts,
        actions=next_actions(order.status, party) if party else [],
    )


def lines_of(session: Session, order_ids: Sequence[int]) -> dict[int, list[OrderLine]]:
    found: dict[int, list[OrderLine]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        for line in session.exec(
            select(OrderLine).where(col(OrderLine.order_id).in_(order_ids)).order_by(col(OrderLine.id))
        ):
            found[line.order_id].append(line)
    return found


def producer_names(session: Session, orders: Sequence[Order]) -> dict[int, str]:
    ids = {order.producer_id for order in orders}
    if not ids:
        return {}
    rows = session.exec(select(Organisation.id, Organisation.name).where(col(Organisation.id).in_(ids)))
    return {organisation_id or 0: name for organisation_id, name in rows}
