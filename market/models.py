"""Tables of the market: parties, credentials, notifications and the product catalogue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.columns import created_at_field, money_field, one_of
from choso.db import UTCDateTime, utcnow


class Role(StrEnum):
    BUYER = "buyer"
    PRODUCER = "producer"
    AGENCY_OFFICER = "agency_officer"
    OPERATOR = "operator"


class OrganisationKind(StrEnum):
    PRODUCER = "producer"  # farms, cooperatives, OCOP producers, shops
    AGENCY = "agency"  # government agencies collecting public-service fees
    PLATFORM = "platform"  # Chợ Số itself: the payee of checkouts (one row, no members)


# The value of a listing (price × stock), and so any total of one of its lines, stays below this:
# far from 2**63 (≈ 9.2 × 10**18), so sums of many such totals still fit a 64-bit integer.
MAX_LISTING_VALUE_VND = 10**15


class AddressFields(SQLModel):
    """A place in Vietnam's two-level administration (province, ward) plus an optional point."""

    province_code: int | None = Field(default=None)
    ward_code: int | None = Field(default=None)
    street: str = Field(default="", max_length=200)
    latitude: float | None = None
    longitude: float | None = None


class Organisation(AddressFields, table=True):
    __tablename__ = "organisation"
    __table_args__ = (sa.CheckConstraint(one_of("kind", OrganisationKind), name="kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: OrganisationKind = Field(sa_type=sa.String(20))
    name: str = Field(max_length=200)
    # Compact form: 10 digits, or 13 for a branch (the 3-digit suffix without the dash).
    tax_code: str | None = Field(default=None, max_length=13, unique=True)
    created_at: datetime = created_at_field()


class User(AddressFields, table=True):
    __tablename__ = "user_account"
    __table_args__ = (sa.CheckConstraint(one_of("role", Role), name="role"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # stored lower-cased
    full_name: str = Field(max_length=120)
    phone: str | None = Field(default=None, max_length=20)
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=sa.String(20))
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    locale: str = Field(default="vi", max_length=5)
    is_active: bool = True
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the owner proved they read this address (market.account_email); None: not yet.
    email_verified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


def _text_field(max_length: int) -> Any:
    return Field(default="", max_length=max_length, sa_column_kwargs={"server_default": ""})


class UserSession(SQLModel, table=True):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored.

    It ends at ``expires_at`` (the absolute cap, fixed at login), or earlier when idle for
    longer than the user's role allows (``last_seen_at``). ``reauthenticated_at`` is when
    the password was last entered in it (login, or the re-authentication page).
    """

    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    last_seen_at: datetime = created_at_field()
    reauthenticated_at: datetime = created_at_field()
    ip_address: str = _text_field(45)
    user_agent: str = _text_field(200)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API. Shown once; only its SHA-256 is stored.

    Like a browser session it has an absolute cap and an idle timeout; ``authenticated_at``
    is when the password was last given for it (issue, or ``/auth/reauthenticate``).
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = Field(default="api", max_length=80)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime = created_at_field()
    authenticated_at: datetime = created_at_field()
    # Made by its owner on the account page or /me/tokens for an integration: it lasts until
    # its own expires_at (1–365 days) or its revocation, whatever the role (market.tokens).
    personal: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class RateLimit(SQLModel, table=True):
    """One rate-limit counter (login per account and address, per address, registration…).

    ``key_hash`` is the SHA-256 of the counter's name and key, so no email or address is kept
    here. ``hits`` counts within the fixed window starting at ``window_start``; no attempt is
    allowed before ``next_allowed_at`` (progressive delay). Rows are locked while an attempt
    is reserved, so concurrent requests, in any number of processes, cannot overshoot.
    """

    __tablename__ = "rate_limit"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(max_length=64, unique=True)
    hits: int = Field(default=0)
    window_start: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    next_allowed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Notification(SQLModel, table=True):
    """A message shown on a user's account page, written by a background job.

    ``dedupe_key`` makes delivery idempotent: a job that runs twice writes one row.
    """

    __tablename__ = "notification"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=40)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    dedupe_key: str = Field(max_length=120, unique=True)
    created_at: datetime = created_at_field()
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Product(SQLModel, table=True):
    """A producer's listing: price in whole đồng per unit, stock in units."""

    __tablename__ = "product"
    __table_args__ = (
        sa.CheckConstraint("price_vnd > 0", name="price_positive"),
        sa.CheckConstraint("stock >= 0", name="stock_non_negative"),
        sa.CheckConstraint("ocop_stars IS NULL OR ocop_stars BETWEEN 3 AND 5", name="ocop_stars"),
        # price × stock never overflows 64 bits: written as a division so that checking it cannot.
        sa.CheckConstraint(
            f"price_vnd > 0 AND stock <= {MAX_LISTING_VALUE_VND} / price_vnd", name="stock_value_capped"
        ),
        # Newest first (walked backwards): a search's page reads the newest listings and stops
        # (market.search, the newest window; migration 0014).
        sa.Index("ix_product_created_at_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    producer_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=200)
    description: str = Field(default="", sa_type=sa.Text)
    category: str = Field(max_length=40, index=True)
    unit: str = Field(max_length=20)
    price_vnd: int = Field(sa_type=sa.BigInteger)
    stock: int = Field(default=0, sa_type=sa.BigInteger)
    ocop_stars: int | None = None
    is_active: bool = True
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    # Bumped by every change; the API's ETag, so that a stale writer gets 412, not last-writer-wins.
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # Folded name, and folded name + description, for search (market.search keeps them current).
    name_folded: str = Field(default=" ", sa_type=sa.Text, sa_column_kwargs={"server_default": " "})
    search_folded: str = Field(default=" ", sa_type=sa.Text, sa_column_kwargs={"server_default": " "})


# --- orders: photos, carts, checkouts, orders (issue 8) ----------------------------------------


# The trigram index that serves search on PostgreSQL (pg_trgm, created by migration 0006); SQLite
# has no such index type, and there the index is empty (a partial index on a false condition).
sa.Index(
    "ix_product_search_folded_trgm",
    Product.__table__.c.search_folded,  # type: ignore[attr-defined]
    postgresql_using="gin",
    postgresql_ops={"search_folded": "gin_trgm_ops"},
    sqlite_where=sa.text("0"),
)
# The same on the folded name (migration 0014): the name matches of a query read alone.
sa.Index(
    "ix_product_name_folded_trgm",
    Product.__table__.c.name_folded,  # type: ignore[attr-defined]
    postgresql_using="gin",
    postgresql_ops={"name_folded": "gin_trgm_ops"},
    sqlite_where=sa.text("0"),
)
# At most one platform organisation.
sa.Index(
    "uq_organisation_platform",
    Organisation.__table__.c.kind,  # type: ignore[attr-defined]
    unique=True,
    postgresql_where=sa.text("kind = 'platform'"),
    sqlite_where=sa.text("kind = 'platform'"),
)


class ProductPhoto(SQLModel, table=True):
    """A product photo, re-encoded at fixed widths; the files live in photo storage under
    ``storage_key`` (market.photos), never the uploaded bytes themselves."""

    __tablename__ = "product_photo"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    storage_key: str = Field(max_length=64, unique=True)
    widths: list[int] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    width: int  # of the largest rendition
    height: int
    uploaded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()


class DeliveryOption(SQLModel, table=True):
    """How a producer hands over orders: always pickup; delivery within Thanh Hóa for a flat fee
    if it offers it."""

    __tablename__ = "delivery_option"
    __table_args__ = (sa.CheckConstraint("delivery_fee_vnd >= 0", name="fee_non_negative"),)

    organisation_id: int = Field(foreign_key="organisation.id", primary_key=True)
    offers_delivery: bool = False
    delivery_fee_vnd: int = money_field(default=0)
    pickup_note: str = Field(default="", max_length=300)
    updated_at: datetime = created_at_field()


class CartItem(SQLModel, table=True):
    """A line of a buyer's cart: the quantity, and the unit price the buyer last saw."""

    __tablename__ = "cart_item"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "product_id", name="uq_cart_item_user_product"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    product_id: int = Field(foreign_key="product.id", index=True)
    quantity: int = Field(sa_type=sa.BigInteger)
    price_seen_vnd: int = money_field()
    added_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    ACCEPTED = "accepted"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


class DeliveryMethod(StrEnum):
    PICKUP = "pickup"
    DELIVERY = "delivery"


class StockState(StrEnum):
    """Where an order's units are: held for it, sold, or given back to the listing (once)."""

    RESERVED = "reserved"
    CONSUMED = "consumed"
    RELEASED = "released"


class Checkout(SQLModel, table=True):
    """One checkout of a buyer's cart: its orders (one per producer) share one payment request."""

    __tablename__ = "checkout"
    __table_args__ = (sa.UniqueConstraint("buyer_id", "idempotency_key", name="uq_checkout_idempotency"),)

    id: int | None = Field(default=None, primary_key=True)
    buyer_id: int = Field(foreign_key="user_account.id", index=True)
    idempotency_key: str = Field(max_length=100)
    fingerprint: str = Field(max_length=64)
    total_vnd: int = money_field()
    payment_request_id: int | None = Field(default=None, foreign_key="payment_request.id", index=True)
    created_at: datetime = created_at_field()


class Order(SQLModel, table=True):
    """What one buyer bought from one producer in one checkout."""

    __tablename__ = "customer_order"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", OrderStatus), name="status"),
        sa.CheckConstraint(one_of("delivery_method", DeliveryMethod), name="delivery_method"),
        sa.CheckConstraint(one_of("stock_state", StockState), name="stock_state"),
        sa.CheckConstraint("subtotal_vnd > 0 AND delivery_fee_vnd >= 0", name="amounts"),
        sa.CheckConstraint("total_vnd = subtotal_vnd + delivery_fee_vnd", name="total"),
        sa.Index("ix_customer_order_producer_status", "producer_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    checkout_id: int = Field(foreign_key="checkout.id", index=True)
    buyer_id: int = Field(foreign_key="user_account.id", index=True)
    producer_id: int = Field(foreign_key="organisation.id", index=True)
    payment_request_id: int | None = Field(default=None, foreign_key="payment_request.id", index=True)
    status: OrderStatus = Field(default=OrderStatus.PENDING_PAYMENT, sa_type=sa.String(20), index=True)
    stock_state: StockState = Field(default=StockState.RESERVED, sa_type=sa.String(10))
    subtotal_vnd: int = money_field()
    delivery_fee_vnd: int = money_field(default=0)
    total_vnd: int = money_field()
    commission_vnd: int = money_field(default=0)  # fixed at completion
    delivery_method: DeliveryMethod = Field(sa_type=sa.String(10))
    delivery_ward_code: int | None = None
    delivery_street: str = Field(default="", max_length=200)
    contact_phone: str = Field(default="", max_length=20)
    buyer_note: str = Field(default="", max_length=500)
    tracking_note: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    """A product in an order, with its name, unit and price as they were at checkout."""

    __tablename__ = "order_line"
    __table_args__ = (sa.CheckConstraint("quantity > 0 AND unit_price_vnd > 0", name="positive"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    product_name: str = Field(max_length=200)
    unit: str = Field(max_length=20)
    unit_price_vnd: int = money_field()
    quantity: int = Field(sa_type=sa.BigInteger)
    line_total_vnd: int = money_field()


class OrderEvent(SQLModel, table=True):
    """One transition of an order: from, to, who and when (the order's timeline)."""

    __tablename__ = "order_event"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    actor_user_id: int | None = Field(default=None, foreign_key="user_account.id")
    actor_role: str = Field(default="system", max_length=20)
    note: str = Field(default="", max_length=300)
    at: datetime = created_at_field()


# The search hooks keep Product's folded columns current on every ORM write (imported last:
# market.search needs the classes above).
import market.search  # noqa: E402,F401
