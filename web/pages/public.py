"""Public pages: home, catalogue, language switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from choso.i18n import SUPPORTED_LOCALES
from market import catalog, search
from market.models import User
from market.places import describe
from market.taxcode import format_tax_code
from web.deps import DB, ObjectId, page_user_optional, set_cookie
from web.i18n import LOCALE_COOKIE, LOCALE_COOKIE_SECONDS
from web.pages import shop
from web.pages.common import render, safe_next

router = APIRouter()
Viewer = Annotated[User | None, Depends(page_user_optional)]
PAGE_SIZE = 24


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: DB, _viewer: Viewer) -> HTMLResponse:
    newest = search.search_page(session, search.Filters(), limit=8)
    context = {"products": newest.rows, "product_count": newest.total, "count_capped": newest.total_capped}
    return render(request, "home.html", context)


@router.get("/products", response_class=HTMLResponse)
def products(
    request: Request,
    session: DB,
    _viewer: Viewer,
    filters: Annotated[search.Filters, Depends(shop.catalogue_filters)],
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    found = search.search_page(session, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE), page + 1 if found.total_capped else 1)
    context = {
        "products": found.rows,
        "total": found.total,
        "total_capped": found.total_capped,
        "page": page,
        "pages": pages,
    }
    return render(request, "products.html", {**context, **shop.catalogue_context(filters)})


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_detail(product_id: ObjectId, request: Request, session: DB, viewer: Viewer) -> HTMLResponse:
    product, producer = catalog.get_product(session, product_id)
    return render(
        request,
        "product.html",
        {
            "product": product,
            "producer": producer,
            "producer_place": describe(producer.province_code, producer.ward_code),
            "producer_tax_code": format_tax_code(producer.tax_code) if producer.tax_code else "",
            "category_label": catalog.CATEGORIES.get(product.category, product.category),
            **shop.product_extras(session, product, viewer),
        },
    )


@router.get("/lang/{locale}")
def switch_language(request: Request, locale: str, next: str | None = None) -> RedirectResponse:
    response = RedirectResponse(safe_next(next, default="/"), status_code=303)
    if locale in SUPPORTED_LOCALES:
        set_cookie(request, response, LOCALE_COOKIE, locale, max_age=LOCALE_COOKIE_SECONDS)
    return response
