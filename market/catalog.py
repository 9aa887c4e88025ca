"""The product catalogue: what producers list, as buyers browse it.

Rules: a listing's value (price × stock) stays at most MAX_LISTING_VALUE_VND, so no total of
its lines can overflow (the database checks it too); stock changes either by a delta applied
in one conditional UPDATE, or absolutely only with the version the writer last saw (the
API's If-Match), so that concurrent writers never silently undo each other; every change
bumps the version.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from choso.db import utcnow
from choso.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_
from choso.text import NameRules, NoControlCharacters
from market import search
from market.models import MAX_LISTING_VALUE_VND, Organisation, Product, Role, User


class PreconditionFailed(Conflict):
    status_code = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    status_code = 428
    code = "precondition_required"


class InsufficientStock(Conflict):
    code = "insufficient_stock"


def line_total_vnd(unit_price_vnd: int, quantity: int, cap: int = MAX_LISTING_VALUE_VND) -> int:
    """``unit price × quantity``, refused (InvalidInput) above ``cap``: totals are capped
    explicitly instead of trusting that they fit in 64 bits (pure)."""
    if unit_price_vnd < 0 or quantity < 0:
        raise ValueError("prices and quantities are not negative")
    if quantity and unit_price_vnd > cap // quantity:
        raise InvalidInput(N_("The total may be at most %(max)s đồng."), params={"max": f"{cap:,}"})
    return unit_price_vnd * quantity


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
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NameRules
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), NoControlCharacters]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), NameRules]
# strict: money and quantities are JSON integers, never strings or floats to be coerced
PriceVnd = Annotated[int, Field(strict=True, gt=0, le=10_000_000_000)]
Stock = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)]
StockDelta = Annotated[int, Field(strict=True, ge=-1_000_000_000, le=1_000_000_000)]
# MAX_LISTING_VALUE_VND, written out: validation messages have no placeholders.
VALUE_TOO_HIGH = N_("A listing's value (price × stock) may be at most 10^15 đồng.")


def _value_within_cap(price_vnd: int | None, stock: int | None) -> None:
    if price_vnd is not None and stock is not None and stock > MAX_LISTING_VALUE_VND // price_vnd:
        raise ValueError(VALUE_TOO_HIGH)


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

    @model_validator(mode="after")
    def _value_capped(self) -> ProductIn:
        _value_within_cap(self.price_vnd, self.stock)
        return self


def _may_be_left_out() -> Any:
    """A field that may be left out but has no null value: ``null`` is refused (422), not ignored."""
    return Field(default=None, json_schema_extra=lambda schema: schema.pop("default", None))


class ProductUpdate(BaseModel):
    """Changes to a listing; fields left out stay as they are. ``stock`` sets the stock and
    needs the version the writer saw (If-Match); ``stock_delta`` adds to it (or takes away)."""

    model_config = ConfigDict(extra="forbid")

    description: Description = _may_be_left_out()
    price_vnd: PriceVnd = _may_be_left_out()
    stock: Stock = _may_be_left_out()
    stock_delta: StockDelta = _may_be_left_out()
    is_active: bool = _may_be_left_out()

    @model_validator(mode="after")
    def _one_way_to_change_stock(self) -> ProductUpdate:
        if "stock" in self.model_fields_set and "stock_delta" in self.model_fields_set:
            raise ValueError(N_("Send either stock or stock_delta, not both."))
        _value_within_cap(self.price_vnd, self.stock)
        return self


def _producer_organisation_id(user: User) -> int:
    if user.role != Role.PRODUCER or user.organisation_id is None:
        raise PermissionDenied(N_("Only producers can list products."))
    return user.organisation_id


def create_product(session: Session, user: User, data: ProductIn) -> Product:
    product = Product(producer_id=_producer_organisation_id(user), **data.model_dump())
    session.add(product)
    session.commit()
    return product


def update_product(
    session: Session, user: User, product_id: int, data: ProductUpdate, *, if_match: int | None = None
) -> Product:
    """Change one's own listing in one conditional UPDATE: only at version ``if_match`` when
    given (else 412), and never below zero stock (409). Another producer's listing is reported
    as missing, not as forbidden, so that ids cannot be probed."""
    organisation_id = _producer_organisation_id(user)
    values = data.model_dump(exclude_unset=True)
    if "stock" in values and if_match is None:
        raise PreconditionRequired(
            N_("Setting the stock needs the product's version (If-Match); or send stock_delta."),
            field="stock",
        )
    if "description" in values:  # the folded search text follows it (market.search)
        values.update(search.refolded(session, product_id, values["description"]))
    statement = _update_statement(product_id, organisation_id, values, if_match)
    try:
        changed = session.exec(statement).rowcount  # type: ignore[call-overload]
    except IntegrityError:  # the database's cap on price × stock
        session.rollback()
        raise InvalidInput(VALUE_TOO_HIGH, field="stock") from None
    if not changed:
        session.rollback()
        raise _why_unchanged(session, organisation_id, product_id, if_match)
    session.commit()
    return session.exec(
        select(Product).where(Product.id == product_id).execution_options(populate_existing=True)
    ).one()


def _update_statement(
    product_id: int, organisation_id: int, values: dict[str, Any], if_match: int | None
) -> Any:
    delta = values.pop("stock_delta", 0)
    statement = (
        update(Product)
        .where(col(Product.id) == product_id, col(Product.producer_id) == organisation_id)
        .values(**values, updated_at=utcnow(), version=col(Product.version) + 1)
    )
    if delta:
        statement = statement.values(stock=col(Product.stock) + delta).where(col(Product.stock) + delta >= 0)
    if if_match is not None:
        statement = statement.where(col(Product.version) == if_match)
    return statement


def _why_unchanged(
    session: Session, organisation_id: int, product_id: int, if_match: int | None
) -> DomainError:
    product = session.get(Product, product_id, populate_existing=True)
    session.rollback()
    if product is None or product.producer_id != organisation_id:
        return NotFound(N_("No such product."))
    if if_match is not None and product.version != if_match:
        return PreconditionFailed(
            N_("The product changed since you read it (now version %(version)s). Read it again."),
            params={"version": product.version},
        )
    return InsufficientStock(N_("Not enough stock for this change."), field="stock_delta")
