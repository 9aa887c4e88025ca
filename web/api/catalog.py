"""The catalogue: browsing (public), and producers changing their own listings."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import Field

from choso.i18n import N_
from choso.money import MAX_AMOUNT_VND
from choso.text import SafeText
from market import catalog, search
from market.models import Organisation, Product, Role, User
from web.api.schemas import ErrorOut, Page, ProductOut
from web.deps import DB, MAX_ID, ObjectId, api_role

router = APIRouter(prefix="/products", tags=["catalogue"])


class ProductPage(Page[ProductOut]):
    """A page of the catalogue. ``total`` is exact unless ``total_capped``: then at least
    ``total`` listings match, probably more (a broad search is not counted to the end)."""

    total_capped: bool = Field(
        default=False, description="`total` is a lower bound: more than 1,000 listings match."
    )


@router.get("", response_model=ProductPage)
def list_products(
    session: DB,
    q: Annotated[
        SafeText | None, Query(max_length=100, description="Words, with or without diacritics")
    ] = None,
    category: Annotated[SafeText | None, Query(max_length=40)] = None,
    producer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ward_code: Annotated[int | None, Query(ge=1, le=99_999, description="The producer's ward")] = None,
    ocop_min: Annotated[int | None, Query(ge=3, le=5, description="At least this many OCOP stars")] = None,
    price_min_vnd: Annotated[int | None, Query(ge=1, le=MAX_AMOUNT_VND)] = None,
    price_max_vnd: Annotated[int | None, Query(ge=1, le=MAX_AMOUNT_VND)] = None,
    sort: search.Sort | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ProductPage:
    """Search the catalogue: every word of `q` must start a word of the name or description
    (diacritics and case ignored; name matches first), with filters; `sort` defaults to
    `relevance` with `q`, else `newest`. The order is total, so pages never overlap."""
    filters = search.Filters(
        query=q,
        category=category,
        producer_id=producer_id,
        ward_code=ward_code,
        ocop_min=ocop_min,
        price_min_vnd=price_min_vnd,
        price_max_vnd=price_max_vnd,
        sort=sort,
    )
    found = search.search_page(session, filters, limit=limit, offset=offset)
    return ProductPage(
        items=[ProductOut.of(p, o) for p, o in found.rows],
        total=found.total,
        total_capped=found.total_capped,
        limit=limit,
        offset=offset,
    )


def etag(product: Product) -> str:
    return f'"{product.version}"'


def _if_match_version(if_match: str | None) -> int | None:
    """The version an If-Match names; None for none or ``*`` (any); 412 if it names none of ours."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = _ETAG.fullmatch(if_match.strip())
    if match is None:
        raise catalog.PreconditionFailed(N_("If-Match must be the ETag of the product, as read."))
    return int(match.group(1))


_ETAG = re.compile(r'"([1-9][0-9]{0,9})"')


@router.get("/{product_id}", response_model=ProductOut)
def get_product(product_id: ObjectId, session: DB, response: Response) -> ProductOut:
    """One listing; its ETag (also `version`) is what If-Match takes to change its stock."""
    product, producer = catalog.get_product(session, product_id)
    response.headers["ETag"] = etag(product)
    return ProductOut.of(product, producer)


Producer = Annotated[User, Depends(api_role(Role.PRODUCER))]


@router.post("", status_code=201, response_model=ProductOut)
def create_product(data: catalog.ProductIn, user: Producer, session: DB, response: Response) -> ProductOut:
    """List a product for the caller's own business."""
    product = catalog.create_product(session, user, data)
    response.headers["ETag"] = etag(product)
    return ProductOut.of(*catalog.get_product(session, product.id or 0))


@router.patch(
    "/{product_id}",
    response_model=ProductOut,
    responses={
        409: {"model": ErrorOut, "description": "`stock_delta` would take the stock below zero"},
        412: {"model": ErrorOut, "description": "If-Match does not name the product's current version"},
        428: {"model": ErrorOut, "description": "`stock` was sent without If-Match"},
    },
)
def update_product(
    product_id: ObjectId,
    data: catalog.ProductUpdate,
    user: Producer,
    session: DB,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> ProductOut:
    """Change price, stock, description or visibility of one of the caller's own listings.

    Stock: `stock_delta` adds (or, negative, takes away) units, refused with 409 below zero;
    `stock` sets it, and needs `If-Match: <the ETag you read>` (428 without; 412 if the product
    changed since). Any change with If-Match is refused (412) if the product changed since.
    `null` is not a value of any field (422): leave a field out to keep it."""
    product = catalog.update_product(session, user, product_id, data, if_match=_if_match_version(if_match))
    producer = session.get_one(Organisation, product.producer_id)
    response.headers["ETag"] = etag(product)
    return ProductOut.of(product, producer)
