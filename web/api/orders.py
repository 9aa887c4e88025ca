"""Orders (JSON API): a buyer's own orders, a producer's incoming orders, their moves, the
producer's delivery terms and sales.

Moves are `POST /orders/{id}/{action}`: the buyer may `cancel` (before acceptance; a paid
order is refunded in full) and `confirm` receipt of a delivered order; the producer may
`accept`, `reject` (a paid order, refunded in full), `ship` (with a tracking note in `note`)
and `deliver`. A move the order's status does not allow is a 409 `invalid_transition`; a move
the caller's side never makes is a 403; someone else's order is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from market import cart, checkout, orders, sales
from market.checkout import DeliveryOptionIn
from market.models import OrderStatus, Role, User
from web.actors import actor_of
from web.api.schemas import ErrorOut, Page
from web.api.shop_schemas import DeliveryOptionOut, OrderDetailOut, OrderOut, SalesSummaryOut, TransitionIn
from web.deps import DB, MAX_ID, ObjectId, api_role, api_user
from web.downloads import csv_attachment

router = APIRouter(tags=["orders"])
Caller = Annotated[User, Depends(api_user)]
Producer = Annotated[User, Depends(api_role(Role.PRODUCER))]
Action = Annotated[str, Path(pattern="^(" + "|".join(orders.ACTIONS) + ")$")]


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(
    user: Caller,
    session: DB,
    status: OrderStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[OrderOut]:
    """Buyers: their orders. Producers: the orders to their business. Operators: all. Newest first."""
    rows, total = orders.list_orders_for(session, user, status=status, limit=limit, offset=offset)
    names = orders.producer_names(session, rows)
    lines = orders.lines_of(session, [o.id or 0 for o in rows])
    items = [OrderOut.of(o, names.get(o.producer_id, ""), lines.get(o.id or 0, [])) for o in rows]
    return Page[OrderOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/orders/{order_id}", response_model=OrderDetailOut)
def get_order(order_id: ObjectId, user: Caller, session: DB) -> OrderDetailOut:
    """One order with its timeline, what the caller may do next, and (buyer) the receipts."""
    return OrderDetailOut.of_view(orders.order_view(session, user, order_id))


@router.post(
    "/orders/{order_id}/{action}",
    response_model=OrderDetailOut,
    responses={409: {"model": ErrorOut, "description": "`invalid_transition`: not allowed in this status"}},
)
def move_order(
    order_id: ObjectId, action: Action, data: TransitionIn, request: Request, user: Caller, session: DB
) -> OrderDetailOut:
    orders.act(session, user, order_id, action, note=data.note, actor=actor_of(request, user))
    return OrderDetailOut.of_view(orders.order_view(session, user, order_id))


@router.get("/shop/delivery", response_model=DeliveryOptionOut)
def get_delivery_option(user: Producer, session: DB) -> DeliveryOptionOut:
    """The caller's business's delivery terms (pickup only until set)."""
    return DeliveryOptionOut.of(cart.delivery_option(session, user.organisation_id or 0))


@router.put("/shop/delivery", response_model=DeliveryOptionOut)
def set_delivery_option(data: DeliveryOptionIn, user: Producer, session: DB) -> DeliveryOptionOut:
    """Offer delivery within Thanh Hóa for a flat fee per order (0: free), or pickup only."""
    return DeliveryOptionOut.of(checkout.set_delivery_option(session, user, data))


@router.get("/shop/sales", response_model=SalesSummaryOut)
def sales_summary(user: Producer, session: DB) -> SalesSummaryOut:
    """Orders and money by status, completed sales by month, and what the platform owes now."""
    return SalesSummaryOut.model_validate(sales.summary(session, user))


@router.get(
    "/shop/sales.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per order line"}},
)
def sales_csv(user: Producer, session: DB) -> Response:
    """Every order line of the caller's business as CSV (UTF-8 with BOM, for spreadsheets)."""
    return csv_attachment(sales.csv_export(session, user), "choso-sales.csv")  # buyers' names and phones
