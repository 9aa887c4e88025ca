"""Tables of the market: parties, credentials, notifications and the product catalogue."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.db import UTCDateTime, utcnow


class Role(StrEnum):
    BUYER = "buyer"
    PRODUCER = "producer"
    AGENCY_OFFICER = "agency_officer"
    OPERATOR = "operator"


class OrganisationKind(StrEnum):
    PRODUCER = "producer"  # farms, cooperatives, OCOP producers, shops
    AGENCY = "agency"  # government agencies collecting public-service fees


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AddressFields(SQLModel):
    """A place in Vietnam's two-level administration (province, ward) plus an optional point."""

    province_code: int | None = Field(default=None)
    ward_code: int | None = Field(default=None)
    street: str = Field(default="", max_length=200)
    latitude: float | None = None
    longitude: float | None = None


class Organisation(AddressFields, table=True):
    __tablename__ = "organisation"
    __table_args__ = (sa.CheckConstraint(_in("kind", OrganisationKind), name="kind"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: OrganisationKind = Field(sa_type=sa.String(20))
    name: str = Field(max_length=200)
    # Compact form: 10 digits, or 13 for a branch (the 3-digit suffix without the dash).
    tax_code: str | None = Field(default=None, max_length=13, unique=True)
    created_at: datetime = created_at_field()


class User(AddressFields, table=True):
    __tablename__ = "user_account"
    __table_args__ = (sa.CheckConstraint(_in("role", Role), name="role"),)

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


class UserSession(SQLModel, table=True):
    """A browser login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class ApiToken(SQLModel, table=True):
    """A bearer token for the JSON API. Shown once; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    name: str = Field(default="api", max_length=80)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """One failed password check; the login rate limit counts these in a sliding window."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    ip_address: str = Field(max_length=45, index=True)
    failed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


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
