"""Figures of the market for dashboards and open data, as plain rows (no web, no formatting).

Definitions (windows are ``[start, end)`` in UTC; callers draw them from local days):

* orders by state: orders *created* in the window, by their state now;
* GMV: the totals of orders *paid* in the window (``paid_at``), whatever became of them later
  (refunds are counted on their own, by payments.stats);
* price cells (open data): every line of an order paid in the window, with the product's
  category, the producer's ward, the unit, the seller and the buyer — aggregated and
  suppressed by operations.opendata, never shown as such.

``producer_id`` restricts any figure to one producer's orders (its own dashboard).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from market.models import Order, OrderLine, Organisation, Product, User

PAID_STATES = ("paid", "accepted", "shipped", "delivered", "completed")


def _window(column: Any, start: datetime, end: datetime) -> list[Any]:
    return [col(column) >= start, col(column) < end]


def _for_producer(conditions: list[Any], producer_id: int | None) -> list[Any]:
    return conditions + ([Order.producer_id == producer_id] if producer_id is not None else [])


def orders_by_state(
    session: Session, start: datetime, end: datetime, *, producer_id: int | None = None
) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Order.status, func.count(), func.coalesce(func.sum(Order.total_vnd), 0))
        .where(*_for_producer(_window(Order.created_at, start, end), producer_id))
        .group_by(col(Order.status))
        .order_by(col(Order.status))
    ).all()
    return [{"status": str(s), "orders": int(n), "total_vnd": int(t)} for s, n, t in rows]


def paid_orders(
    session: Session, start: datetime, end: datetime, *, producer_id: int | None = None
) -> list[tuple[datetime, int]]:
    """(paid_at, total_vnd) of every order paid in the window: GMV and its daily series."""
    rows = session.exec(
        select(Order.paid_at, Order.total_vnd).where(
            *_for_producer(_window(Order.paid_at, start, end), producer_id)
        )
    ).all()
    return [(paid_at, int(total)) for paid_at, total in rows if paid_at is not None]


def completed_totals(session: Session, start: datetime, end: datetime, *, producer_id: int) -> dict[str, int]:
    """Orders of a producer completed in the window: goods, commission, what it is owed."""
    orders, total, commission = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(Order.total_vnd), 0),
            func.coalesce(func.sum(Order.commission_vnd), 0),
        ).where(
            Order.producer_id == producer_id,
            Order.status == "completed",
            *_window(Order.closed_at, start, end),
        )
    ).one()
    return {
        "orders": int(orders),
        "total_vnd": int(total),
        "commission_vnd": int(commission),
        "payable_vnd": int(total) - int(commission),
    }


def list_orders(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    status: str | None = None,
    producer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Orders created in the window (newest first), for drill-down lists."""
    conditions = _for_producer(_window(Order.created_at, start, end), producer_id)
    if status:
        conditions.append(Order.status == status)
    total = session.exec(select(func.count()).select_from(Order).where(*conditions)).one()
    rows = session.exec(
        select(Order, Organisation.name)
        .join(Organisation, col(Organisation.id) == Order.producer_id)
        .where(*conditions)
        .order_by(col(Order.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        {
            "id": order.id,
            "created_at": order.created_at,
            "status": str(order.status),
            "producer": name,
            "total_vnd": order.total_vnd,
            "paid_at": order.paid_at,
        }
        for order, name in rows
    ], int(total)


def price_lines(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Lines of orders paid in the window, for the open-data prices (see the module's rule)."""
    rows = session.exec(
        select(
            Order.paid_at,
            Product.category,
            Organisation.ward_code,
            OrderLine.unit,
            Order.producer_id,
            Order.buyer_id,
            OrderLine.quantity,
            OrderLine.line_total_vnd,
        )
        .join(OrderLine, col(OrderLine.order_id) == Order.id)
        .join(Product, col(Product.id) == OrderLine.product_id)
        .join(Organisation, col(Organisation.id) == Order.producer_id)
        .where(*_window(Order.paid_at, start, end))
    ).all()
    return [
        {
            "at": paid_at,
            "category": category,
            "ward_code": ward,
            "unit": unit,
            "seller": producer,
            "buyer": buyer,
            "quantity": int(quantity),
            "value_vnd": int(value),
        }
        for paid_at, category, ward, unit, producer, buyer, quantity, value in rows
    ]


def organisation_place(session: Session, organisation_id: int) -> tuple[str, int | None] | None:
    """(name, ward) of an organisation, or None."""
    organisation = session.get(Organisation, organisation_id)
    return (organisation.name, organisation.ward_code) if organisation else None


def organisations(session: Session, ids: list[int]) -> dict[int, tuple[str, str, int | None]]:
    """id → (name, kind, ward) for the given organisations."""
    if not ids:
        return {}
    rows = session.exec(select(Organisation).where(col(Organisation.id).in_(ids))).all()
    return {org.id or 0: (org.name, str(org.kind), org.ward_code) for org in rows}


def user_place(user: User, session: Session) -> tuple[list[int], list[int]]:
    """(wards, organisations) a user acts from: their own ward and their organisation's."""
    wards = [user.ward_code] if user.ward_code is not None else []
    organisations_ = [user.organisation_id] if user.organisation_id is not None else []
    if user.organisation_id is not None:
        organisation = session.get(Organisation, user.organisation_id)
        if organisation is not None and organisation.ward_code is not None:
            wards.append(organisation.ward_code)
    return wards, organisations_


def users_by_email(session: Session, email: str) -> list[int]:
    return list(session.exec(select(User.id).where(func.lower(User.email) == email.strip().lower())).all())


def user_names(session: Session, ids: list[int]) -> dict[int, tuple[str, str]]:
    """id → (email, full name)."""
    if not ids:
        return {}
    rows = session.exec(select(User.id, User.email, User.full_name).where(col(User.id).in_(ids))).all()
    return {uid: (email, name) for uid, email, name in rows}
