"""A producer's sales: totals by status and by month, what the platform owes it, and a CSV
export of every order line.

The CSV is for spreadsheets: UTF-8 with a BOM, and any text cell that a spreadsheet would
read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with an apostrophe, so that a product name or a buyer's note can never run as a
formula on the producer's computer (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from choso.db import utcnow
from choso.errors import PermissionDenied
from choso.i18n import N_, gettext_
from market.models import Order, OrderLine, OrderStatus, Role, User
from market.orders import STATUS_LABELS
from market.places import THANH_HOA, describe
from payments import ledger

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _producer(user: User) -> int:
    if user.role != Role.PRODUCER or user.organisation_id is None:
        raise PermissionDenied(N_("Only producers can do this."))
    return user.organisation_id


def neutralise(cell: object) -> object:
    """A CSV cell a spreadsheet will not evaluate: numbers as they are, text that looks like a
    formula behind an apostrophe (pure)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def summary(session: Session, user: User) -> dict[str, object]:
    organisation_id = _producer(user)
    by_status = session.exec(
        select(Order.status, func.count(), func.coalesce(func.sum(Order.total_vnd), 0))
        .where(Order.producer_id == organisation_id)
        .group_by(col(Order.status))
        .order_by(col(Order.status))
    ).all()
    since = utcnow() - timedelta(days=366)
    completed = session.exec(
        select(Order.closed_at, Order.total_vnd, Order.commission_vnd).where(
            Order.producer_id == organisation_id,
            Order.status == OrderStatus.COMPLETED,
            col(Order.closed_at) >= since,
        )
    ).all()
    months: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for closed_at, total, commission in completed:
        month = months[closed_at.astimezone(LOCAL).strftime("%Y-%m")] if closed_at else months["?"]
        month[0] += 1
        month[1] += total
        month[2] += commission
    return {
        "by_status": [{"status": s, "orders": n, "total_vnd": int(t)} for s, n, t in by_status],
        "completed_by_month": [
            {"month": m, "orders": n, "total_vnd": t, "commission_vnd": c, "payable_vnd": t - c}
            for m, (n, t, c) in sorted(months.items(), reverse=True)
        ],
        "payable_balance_vnd": -ledger.balance(session, ledger.payable(organisation_id)),
    }


CSV_HEADER = (
    N_("Order"),
    N_("Date"),
    N_("Status"),
    N_("Buyer"),
    N_("Phone"),
    N_("Delivery"),
    N_("Address"),
    N_("Product"),
    N_("Quantity"),
    N_("Unit"),
    N_("Unit price (đồng)"),
    N_("Line total (đồng)"),
    N_("Delivery fee (đồng)"),
    N_("Order total (đồng)"),
    N_("Buyer's note"),
)


def csv_export(session: Session, user: User) -> bytes:
    """Every order line of the caller's business, newest order first (see the module's rule)."""
    organisation_id = _producer(user)
    rows = session.exec(
        select(Order, OrderLine, User.full_name)
        .join(OrderLine, col(OrderLine.order_id) == Order.id)
        .join(User, col(User.id) == Order.buyer_id)
        .where(Order.producer_id == organisation_id)
        .order_by(col(Order.id).desc(), col(OrderLine.id))
    ).all()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext_(title) for title in CSV_HEADER])
    for order, line, buyer_name in rows:
        writer.writerow([neutralise(cell) for cell in _cells(order, line, buyer_name)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cells(order: Order, line: OrderLine, buyer_name: str) -> list[object]:
    delivery = order.delivery_method == "delivery"
    return [
        order.id,
        order.created_at.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M"),
        gettext_(STATUS_LABELS[order.status]),
        buyer_name,
        order.contact_phone,
        gettext_(N_("Delivery")) if delivery else gettext_(N_("Pickup")),
        ", ".join(p for p in (order.delivery_street, describe(THANH_HOA, order.delivery_ward_code)) if p)
        if delivery
        else "",
        line.product_name,
        line.quantity,
        line.unit,
        line.unit_price_vnd,
        line.line_total_vnd,
        order.delivery_fee_vnd,
        order.total_vnd,
        order.buyer_note,
    ]
