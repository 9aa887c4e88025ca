"""Figures of the market for dashboards and open data, as plain rows (no web, no formatting).

Definitions (windows are ``[start, end)`` in UTC; callers draw them from local days):

* orders by state: orders *created* in the window, by their state now;
* GMV: the totals of orders *paid* in the window (``paid_at``), whatever became of them later
  (refunds are counted on their own, by payments.stats);
* price cells (open data): every line of an order paid in the window, with the product's
  category, the producer's ward, the unit, the seller and the buyer — aggregated and
  suppressed by operations.opendata, never shown as such.

``producer_id`` restricts any figure to one producer's orders (its own dashboard).

Account e-mail (market.account_email), for the control room and ``/metrics``:

* e-mails waiting: neither sent nor given up, whenever queued (a window does not hide a
  backlog); of them, those retrying (tried at least once: the SMTP server refused or was
  down) and the age of the oldest;
* e-mails failed: given up (a 5xx, the tries exhausted, or no active account) in the window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from choso.db import utcnow
from market.account_models import OutgoingEmail
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


# --- account e-mail ---------------------------------------------------------------------------

EMAIL_STATES = ("waiting", "failed")


def _email_pending() -> list[Any]:
    return [col(OutgoingEmail.sent_at).is_(None), col(OutgoingEmail.failed_at).is_(None)]


def email_backlog(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """E-mails waiting (and retrying, and the oldest's age) now; e-mails given up in the window."""
    waiting, oldest = session.exec(
        select(func.count(), func.min(OutgoingEmail.created_at)).where(*_email_pending())
    ).one()
    retrying = session.exec(
        select(func.count())
        .select_from(OutgoingEmail)
        .where(*_email_pending(), col(OutgoingEmail.attempts) > 0)
    ).one()
    failed = session.exec(
        select(func.count()).select_from(OutgoingEmail).where(*_window(OutgoingEmail.failed_at, start, end))
    ).one()
    age = (utcnow() - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return {
        "emails_waiting": int(waiting),
        "emails_retrying": int(retrying),
        "emails_oldest_seconds": round(max(age, 0.0), 1),
        "emails_failed": int(failed),
    }


def list_emails(
    session: Session, start: datetime, end: datetime, *, state: str | None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """E-mails waiting (any age) and those given up in the window, or one of the two
    (``state``); oldest first. The recipient is named by user id, the message by its kind."""
    waiting = and_(*_email_pending())
    failed = and_(*_window(OutgoingEmail.failed_at, start, end))
    condition = {"waiting": waiting, "failed": failed}.get(state or "", or_(waiting, failed))
    total = session.exec(select(func.count()).select_from(OutgoingEmail).where(condition)).one()
    rows = session.exec(
        select(OutgoingEmail).where(condition).order_by(col(OutgoingEmail.id)).limit(limit).offset(offset)
    ).all()
    return [
        {
            "id": row.id,
            "created_at": row.created_at,
            "kind": row.kind,
            "user_id": row.user_id,
            "state": "failed" if row.failed_at is not None else "waiting",
            "attempts": row.attempts,
            "next_attempt_at": row.next_attempt_at if row.failed_at is None else None,
            "last_error": row.last_error,
        }
        for row in rows
    ], int(total)


def _aware(value: datetime) -> datetime:
    # func.min() returns the raw column value: naive on SQLite (stored as UTC).
    return value if value.tzinfo else value.replace(tzinfo=UTC)
