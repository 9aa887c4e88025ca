"""Response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from choso.text import SafeText
from market.models import ApiToken, Organisation, Product, Role, User, UserSession
from market.places import describe
from market.taxcode import format_tax_code


class OrganisationOut(BaseModel):
    id: int
    kind: str
    name: str
    tax_code: str | None
    place: str

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls(
            id=org.id or 0,
            kind=org.kind,
            name=org.name,
            tax_code=format_tax_code(org.tax_code) if org.tax_code else None,
            place=describe(org.province_code, org.ward_code),
        )


class UserOut(BaseModel):
    id: int
    email: str
    full_name: str
    phone: str | None
    role: Role
    locale: str
    place: str
    organisation: OrganisationOut | None
    created_at: datetime

    @classmethod
    def of(cls, user: User, organisation: Organisation | None) -> UserOut:
        return cls(
            **{
                name: getattr(user, name)
                for name in ("id", "email", "full_name", "phone", "role", "locale", "created_at")
            },
            place=describe(user.province_code, user.ward_code),
            organisation=OrganisationOut.of(organisation) if organisation else None,
        )


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: SafeText = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    name: SafeText = Field(default="api", min_length=1, max_length=80)
    totp_code: str = Field(default="", max_length=10, description="Required once TOTP is set up (staff).")
    recovery_code: str = Field(default="", max_length=40, description="Instead of totp_code, once.")


class ReauthRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


class SessionOut(BaseModel):
    """One of the caller's browser sessions."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime = Field(description="The latest it can last; idleness ends it sooner.")
    ip_address: str
    user_agent: str

    @classmethod
    def of(cls, row: UserSession) -> SessionOut:
        return cls.model_validate(row, from_attributes=True)


class ApiTokenOut(BaseModel):
    """One of the caller's API tokens (never the token itself)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime = Field(description="The latest it can last; idleness ends it sooner.")
    current: bool = Field(description="The token this request was made with.")

    @classmethod
    def of(cls, row: ApiToken, current_id: int) -> ApiTokenOut:
        fields = {
            name: getattr(row, name) for name in ("id", "name", "created_at", "last_used_at", "expires_at")
        }
        return cls(**fields, current=row.id == current_id)


class NotificationOut(BaseModel):
    id: int
    kind: str
    message: str
    created_at: datetime
    read: bool


class ProductOut(BaseModel):
    id: int
    name: str
    description: str
    category: str
    unit: str
    price_vnd: int
    stock: int
    ocop_stars: int | None
    version: int = Field(
        description="Changes with every change; the ETag. Send it as If-Match to set `stock`."
    )
    producer: OrganisationOut

    @classmethod
    def of(cls, product: Product, producer: Organisation) -> ProductOut:
        fields = {name: getattr(product, name) for name in cls.model_fields if name != "producer"}
        return cls(**fields, producer=OrganisationOut.of(producer))


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class WardOut(BaseModel):
    code: int
    name: str


class ProvinceOut(BaseModel):
    code: int
    name: str


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable: invalid_input, not_found, rate_limited, …")
    message: str = Field(description="For people, in the request's language (Accept-Language).")
    field: str | None = Field(default=None, description="The input field at fault, when there is one.")
    details: list[ErrorDetail] | None = Field(default=None, description="One entry per invalid field.")


class ErrorOut(BaseModel):
    """Every error of the API has this shape."""

    error: ErrorInfo


class HealthOut(BaseModel):
    status: str
    database: str
    broker: str
