"""Response bodies of the cart, checkout and order API (inputs are the In models of
market.cart and market.checkout)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from market import orders
from market.cart import CartView, LineView, ProducerGroup
from market.checkout import CheckoutView
from market.models import DeliveryOption, Order, OrderEvent, OrderLine
from market.orders import OrderView
from market.places import THANH_HOA, describe
from payments.schemas import PaymentRequestOut, ReceiptOut


class ProducerRef(BaseModel):
    id: int
    name: str


class CartLineOut(BaseModel):
    product_id: int
    name: str
    unit: str
    quantity: int
    unit_price_vnd: int = Field(description="The price now.")
    price_seen_vnd: int = Field(description="The price when the buyer last set this line.")
    price_changed: bool
    stock: int
    available: bool = Field(description="Still sold, and enough in stock for this quantity.")
    line_total_vnd: int

    @classmethod
    def of(cls, line: LineView) -> CartLineOut:
        product = line.product
        return cls(
            product_id=product.id or 0,
            name=product.name,
            unit=product.unit,
            quantity=line.quantity,
            unit_price_vnd=product.price_vnd,
            price_seen_vnd=line.price_seen_vnd,
            price_changed=line.price_changed,
            stock=product.stock if product.is_active else 0,
            available=line.available,
            line_total_vnd=line.total_vnd,
        )


class DeliveryOptionOut(BaseModel):
    offers_delivery: bool
    delivery_fee_vnd: int
    pickup_note: str

    @classmethod
    def of(cls, option: DeliveryOption) -> DeliveryOptionOut:
        return cls(
            offers_delivery=option.offers_delivery,
            delivery_fee_vnd=option.delivery_fee_vnd,
            pickup_note=option.pickup_note,
        )


class CartGroupOut(BaseModel):
    """The lines of one producer: at checkout they become one order."""

    producer: ProducerRef
    delivery: DeliveryOptionOut
    subtotal_vnd: int
    lines: list[CartLineOut]

    @classmethod
    def of(cls, group: ProducerGroup) -> CartGroupOut:
        return cls(
            producer=ProducerRef(id=group.producer.id or 0, name=group.producer.name),
            delivery=DeliveryOptionOut.of(group.delivery),
            subtotal_vnd=group.subtotal_vnd,
            lines=[CartLineOut.of(line) for line in group.lines],
        )


class CartOut(BaseModel):
    groups: list[CartGroupOut]
    subtotal_vnd: int = Field(description="Goods only; delivery fees depend on the choices at checkout.")
    ready: bool = Field(description="Every line can be bought as it stands.")
    price_changed: bool = Field(description="Some price changed since the buyer set its line.")

    @classmethod
    def of(cls, view: CartView) -> CartOut:
        return cls(
            groups=[CartGroupOut.of(group) for group in view.groups],
            subtotal_vnd=view.subtotal_vnd,
            ready=view.ready,
            price_changed=view.changed,
        )


class OrderLineOut(BaseModel):
    product_id: int
    product_name: str
    unit: str
    unit_price_vnd: int
    quantity: int
    line_total_vnd: int

    @classmethod
    def of(cls, line: OrderLine) -> OrderLineOut:
        return cls.model_validate(line, from_attributes=True)


class OrderEventOut(BaseModel):
    from_status: str | None
    to_status: str
    actor_role: str
    note: str
    at: datetime

    @classmethod
    def of(cls, event: OrderEvent) -> OrderEventOut:
        return cls.model_validate(event, from_attributes=True)


class OrderOut(BaseModel):
    id: int
    checkout_id: int
    status: str
    producer: ProducerRef
    buyer_id: int
    subtotal_vnd: int
    delivery_fee_vnd: int
    total_vnd: int
    commission_vnd: int
    delivery_method: str
    delivery_place: str
    delivery_street: str
    contact_phone: str
    buyer_note: str
    tracking_note: str
    payment_request_id: int | None
    pay_url: str | None = Field(description="The pay page, while the order waits for payment.")
    created_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None
    closed_at: datetime | None
    lines: list[OrderLineOut]

    @classmethod
    def of(cls, order: Order, producer_name: str, lines: list[OrderLine]) -> OrderOut:
        waiting = order.status == orders.S.PENDING_PAYMENT and order.payment_request_id
        return cls(
            **{name: getattr(order, name) for name in _ORDER_FIELDS},
            producer=ProducerRef(id=order.producer_id, name=producer_name),
            delivery_place=describe(THANH_HOA, order.delivery_ward_code) if order.delivery_ward_code else "",
            pay_url=f"/pay/{order.payment_request_id}" if waiting else None,
            lines=[OrderLineOut.of(line) for line in lines],
        )


_ORDER_FIELDS = [
    "id",
    "checkout_id",
    "status",
    "buyer_id",
    "subtotal_vnd",
    "delivery_fee_vnd",
    "total_vnd",
    "commission_vnd",
    "delivery_method",
    "delivery_street",
    "contact_phone",
    "buyer_note",
    "tracking_note",
    "payment_request_id",
    "created_at",
    "paid_at",
    "delivered_at",
    "closed_at",
]


class OrderDetailOut(OrderOut):
    events: list[OrderEventOut] = Field(description="The timeline: every transition, who and when.")
    actions: list[str] = Field(description="What the caller may do now (POST /orders/{id}/{action}).")
    receipts: list[ReceiptOut] = Field(description="Receipts of the checkout's payment (buyer only).")

    @classmethod
    def of_view(cls, view: OrderView) -> OrderDetailOut:
        base = OrderOut.of(view.order, view.producer.name, view.lines)
        return cls(
            **base.model_dump(),
            events=[OrderEventOut.of(e) for e in view.events],
            actions=view.actions,
            receipts=[ReceiptOut.of(r) for r in view.receipts],
        )


class CheckoutOut(BaseModel):
    id: int
    total_vnd: int
    orders: list[OrderOut]
    payment_request: PaymentRequestOut
    pay_url: str = Field(description="Where the buyer pays (VietQR or card).")

    @classmethod
    def of(cls, view: CheckoutView) -> CheckoutOut:
        names, lines = view.producer_names, view.lines
        return cls(
            id=view.checkout.id or 0,
            total_vnd=view.checkout.total_vnd,
            orders=[
                OrderOut.of(o, names.get(o.producer_id, ""), lines.get(o.id or 0, [])) for o in view.orders
            ],
            payment_request=PaymentRequestOut.of(view.payment_request),
            pay_url=f"/pay/{view.payment_request.id}",
        )


class TransitionIn(BaseModel):
    note: str = Field(default="", max_length=300, description="Ship: the tracking note; reject: the reason.")


class StatusTotalOut(BaseModel):
    status: str
    orders: int
    total_vnd: int


class MonthOut(BaseModel):
    month: str
    orders: int
    total_vnd: int
    commission_vnd: int
    payable_vnd: int


class SalesSummaryOut(BaseModel):
    by_status: list[StatusTotalOut]
    completed_by_month: list[MonthOut]
    payable_balance_vnd: int = Field(description="Owed to the producer now (completed, not yet paid out).")
