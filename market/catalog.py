"""The product catalogue: what producers list, as buyers browse it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlmodel import Session, col, select

from choso.db import utcnow
from choso.errors import NotFound, PermissionDenied
from choso.i18n import N_
from choso.text import NoControlCharacters
from market import search
from market.models import Organisation, Product, Role, User

CATEGORIES: dict[str, str] = {
    "rice": N_("Rice and grains"),
    "seafood": N_("Seafood"),
    "fruit": N_("Fruit"),
    "vegetables": N_("Vegetables"),
    "meat": N_("Meat and cured meat"),
    "specialty": N_("Regional specialties"),
    "beverages": N_("Tea and beverages"),
    "handicraft": N_("Handicrafts"),
}


def list_products(
    session: Session,
    *,
    query: str | None = None,
    category: str | None = None,
    producer_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Product, Organisation]], int]:
    """Active listings with their producer, and the total that match (see market.search)."""
    filters = search.Filters(query=query, category=category, producer_id=producer_id)
    return search.search(session, filters, limit=limit, offset=offset)


def get_product(session: Session, product_id: int) -> tuple[Product, Organisation]:
    row = session.exec(
        select(Product, Organisation)
        .join(Organisation, col(Organisation.id) == Product.producer_id)
        .where(Product.id == product_id, col(Product.is_active).is_(True))
    ).first()
    if row is None:
        raise NotFound(N_("No such product."))
    return row[0], row[1]


ProductName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NoControlCharacters
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), NoControlCharacters]
Unit = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), NoControlCharacters
]
# strict: money and quantities are JSON integers, never strings or floats to be coerced
PriceVnd = Annotated[int, Field(strict=True, gt=0, le=10_000_000_000)]
Stock = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]


class ProductIn(BaseModel):
    """A new listing; price in whole đồng per unit."""

    model_config = ConfigDict(extra="forbid")

    name: ProductName
    description: Description = ""
    category: str
    unit: Unit
    price_vnd: PriceVnd
    stock: Stock
    ocop_stars: int | None = Field(default=None, strict=True, ge=3, le=5)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(N_("Unknown category."))
        return value


class ProductUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Description | None = None
    price_vnd: PriceVnd | None = None
    stock: Stock | None = None
    is_active: bool | None = None


def _producer_organisation_id(user: User) -> int:
    if user.role != Role.PRODUCER or user.organisation_id is None:
        raise PermissionDenied(N_("Only producers can list products."))
    return user.organisation_id


def create_product(session: Session, user: User, data: ProductIn) -> Product:
    product = Product(producer_id=_producer_organisation_id(user), **data.model_dump())
    session.add(product)
    session.commit()
    return product


def update_product(session: Session, user: User, product_id: int, data: ProductUpdate) -> Product:
    """Change one's own listing. Another producer's listing is reported as missing, not as
    forbidden, so that ids cannot be probed."""
    organisation_id = _producer_organisation_id(user)
    product = session.get(Product, product_id)
    if product is None or product.producer_id != organisation_id:
        raise NotFound(N_("No such product."))
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(product, name, value)
    product.updated_at = utcnow()
    session.add(product)
    session.commit()
    return product
