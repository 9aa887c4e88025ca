"""Shop pages: catalogue filters, the cart (a visitor's in a signed cookie, merged at login),
checkout, orders with their timeline and moves, and the producer's delivery terms and sales.

Rules: every form carries the CSRF token (the pages router checks it); the checkout form also
carries an idempotency key drawn when the page is shown, so a double submit makes one
checkout; an order someone may not see is a 404 like a missing page. Each route makes one
call into the market domain; there is no SQL here.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from choso.money import MAX_AMOUNT_VND
from choso.settings import get_settings
from choso.text import has_control_characters
from market import cart, catalog, checkout, orders, photos, sales, search
from market.checkout import CheckoutIn, DeliveryOptionIn
from market.models import DeliveryMethod, OrderStatus, Product, Role, User
from market.places import THANH_HOA, wards_of
from web.actors import actor_of
from web.bodylimit import allow_larger_bodies
from web.deps import (
    DB,
    ObjectId,
    delete_cookie,
    page_role,
    page_user,
    page_user_optional,
    read_cookie,
    set_cookie,
)
from web.downloads import csv_attachment
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
Viewer = Annotated[User, Depends(page_user)]
OptionalViewer = Annotated[User | None, Depends(page_user_optional)]
Buyer = Annotated[User, Depends(page_role(Role.BUYER))]
Producer = Annotated[User, Depends(page_role(Role.PRODUCER))]

CART_COOKIE = "choso_cart"
CART_COOKIE_SECONDS = 30 * 24 * 3600
PAGE_SIZE = 30
SORT_LABELS = {
    search.Sort.RELEVANCE: N_("Best match"),
    search.Sort.NEWEST: N_("Newest"),
    search.Sort.PRICE_ASC: N_("Price: low to high"),
    search.Sort.PRICE_DESC: N_("Price: high to low"),
}
METHOD_LABELS = {DeliveryMethod.PICKUP: N_("Pickup at the producer"), DeliveryMethod.DELIVERY: N_("Delivery")}
ACTION_LABELS = {
    "cancel": N_("Cancel the order"),
    "accept": N_("Accept"),
    "reject": N_("Reject (full refund)"),
    "ship": N_("Mark shipped"),
    "deliver": N_("Mark delivered"),
    "confirm": N_("I received everything"),
}
# Actions whose form asks for a note (a tracking note, a reason).
NOTE_ACTIONS = {"ship": N_("Tracking note (carrier, tracking number)"), "reject": N_("Reason")}


# --- catalogue filters (the /products page in web.pages.public) --------------------------------


def _int_param(request: Request, name: str, low: int, high: int) -> int | None:
    value = request.query_params.get(name, "").strip()
    return int(value) if value.isdigit() and low <= int(value) <= high else None


def catalogue_filters(request: Request) -> search.Filters:
    """The filters of a catalogue page, read leniently: a page ignores what it cannot use."""
    params = request.query_params
    if has_control_characters(params.get("q", "")):
        # No keyboard types these; a clear 422 like the API's, not a silently altered search.
        raise InvalidInput(N_("Control characters are not allowed here."), field="q")
    query = params.get("q", "").strip()[:100] or None
    category = params.get("category") if params.get("category") in catalog.CATEGORIES else None
    sort = params.get("sort")
    return search.Filters(
        query=query,
        category=category,
        producer_id=_int_param(request, "producer_id", 1, 2**31 - 1),
        ward_code=_int_param(request, "ward_code", 1, 99_999),
        ocop_min=_int_param(request, "ocop_min", 3, 5),
        price_min_vnd=_int_param(request, "price_min_vnd", 1, MAX_AMOUNT_VND),
        price_max_vnd=_int_param(request, "price_max_vnd", 1, MAX_AMOUNT_VND),
        sort=search.Sort(sort) if sort in search.Sort.__members__.values() else None,
    )


def catalogue_context(filters: search.Filters) -> dict[str, Any]:
    values = {
        "q": filters.query or "",
        "category": filters.category or "",
        "producer_id": filters.producer_id or "",
        "ward_code": filters.ward_code or "",
        "ocop_min": filters.ocop_min or "",
        "price_min_vnd": filters.price_min_vnd or "",
        "price_max_vnd": filters.price_max_vnd or "",
        "sort": filters.sort.value if filters.sort else "",
    }
    return {
        **values,
        "categories": catalog.CATEGORIES,
        "sorts": SORT_LABELS,
        "wards": wards_of(THANH_HOA),
        # the pager's links keep every filter
        "filter_query": urlencode({k: v for k, v in values.items() if v != ""}),
    }


# --- the visitor's cart: a signed cookie of (product id, quantity, price seen) -----------------


def _cart_signature(payload: str) -> str:
    from market import security

    return security.sign(get_settings().effective_secret_key, f"cart:{payload}")[:32]


def visitor_lines(request: Request) -> list[tuple[int, int, int]]:
    raw = read_cookie(request, CART_COOKIE) or ""
    payload, _, signature = raw.partition(".")
    if not payload or not secrets.compare_digest(_cart_signature(payload), signature):
        return []
    try:
        lines = json.loads(base64.urlsafe_b64decode(payload.encode()))
        return [(int(p), int(q), int(s)) for p, q, s in lines][: cart.MAX_LINES]
    except (ValueError, TypeError):
        return []


def _store_visitor_lines(request: Request, response: Response, lines: list[tuple[int, int, int]]) -> None:
    payload = base64.urlsafe_b64encode(json.dumps(lines, separators=(",", ":")).encode()).decode()
    set_cookie(request, response, CART_COOKIE, f"{payload}.{_cart_signature(payload)}", CART_COOKIE_SECONDS)


def _visitor_set(
    session: Session, request: Request, product_id: int, quantity: int, *, add: bool
) -> list[tuple[int, int, int]]:
    """The visitor's lines with one line added to or set, checked like a buyer's cart."""
    lines = {p: (q, s) for p, q, s in visitor_lines(request)}
    if add and product_id in lines:
        quantity += lines[product_id][0]
    product, _producer = catalog.get_product(session, product_id)
    if quantity > cart.MAX_QUANTITY:
        raise InvalidInput(N_("At most %(max)s units per product."), params={"max": cart.MAX_QUANTITY})
    cart.check_available(product, quantity)
    if product_id not in lines and len(lines) >= cart.MAX_LINES:
        raise cart.CartFull(N_("A cart holds at most %(max)s products."), params={"max": cart.MAX_LINES})
    lines[product_id] = (quantity, product.price_vnd)
    return [(p, q, s) for p, (q, s) in lines.items()]


def merge_visitor_cart(request: Request, session: Session, user: User, response: Response) -> None:
    """At login: the visitor's cart joins the buyer's stored one, and the cookie goes."""
    lines = visitor_lines(request)
    if lines:
        cart.merge(session, user, [(product_id, quantity) for product_id, quantity, _seen in lines])
        delete_cookie(request, response, CART_COOKIE)


# --- the cart page ------------------------------------------------------------------------------


def _quantity(form: FormData) -> int:
    text = form_text(form, "quantity", 12)
    if not text.isdigit() or not 1 <= int(text) <= cart.MAX_QUANTITY:
        raise InvalidInput(N_("Enter a whole number of units, at least 1."), field="quantity")
    return int(text)


def _cart_view(session: Session, request: Request, user: User | None) -> cart.CartView:
    if user is None:
        return cart.view_lines(session, visitor_lines(request))
    if user.role != Role.BUYER:
        return cart.CartView(groups=[])
    return cart.view(session, user)


def _cart_page(
    session: Session, request: Request, user: User | None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    view = _cart_view(session, request, user)
    context = {"cart": view, "error": error, "buyer": user is None or user.role == Role.BUYER}
    return render(request, "shop/cart.html", context, status=status)


@router.get("/cart", response_class=HTMLResponse)
def cart_page(request: Request, session: DB, user: OptionalViewer) -> HTMLResponse:
    return _cart_page(session, request, user)


@router.post("/cart/add", response_class=HTMLResponse)
async def add_to_cart(request: Request, session: DB, user: OptionalViewer) -> Response:
    form = await request.form()
    product_text = form_text(form, "product_id", 12)
    try:
        product_id = int(product_text) if product_text.isdigit() else 0
        return _change_cart(session, request, user, product_id, _quantity(form), add=True)
    except DomainError as exc:
        return _cart_page(session, request, user, exc.translated(), exc.status_code)


@router.post("/cart/{product_id}", response_class=HTMLResponse)
async def update_cart(product_id: ObjectId, request: Request, session: DB, user: OptionalViewer) -> Response:
    form = await request.form()
    try:
        if form_text(form, "action", 10) == "remove":
            return _remove(session, request, user, product_id)
        return _change_cart(session, request, user, product_id, _quantity(form), add=False)
    except DomainError as exc:
        return _cart_page(session, request, user, exc.translated(), exc.status_code)


def _change_cart(
    session: Session, request: Request, user: User | None, product_id: int, quantity: int, *, add: bool
) -> Response:
    response = RedirectResponse("/cart", status_code=303)
    if user is None:
        _store_visitor_lines(request, response, _visitor_set(session, request, product_id, quantity, add=add))
    elif add:
        cart.add_item(session, user, cart.CartLineIn(product_id=product_id, quantity=quantity))
    else:
        cart.set_quantity(session, user, product_id, quantity)
    return response


def _remove(session: Session, request: Request, user: User | None, product_id: int) -> Response:
    response = RedirectResponse("/cart", status_code=303)
    if user is None:
        kept = [line for line in visitor_lines(request) if line[0] != product_id]
        _store_visitor_lines(request, response, kept)
    else:
        cart.remove_item(session, user, product_id)
    return response


# --- checkout -----------------------------------------------------------------------------------


def _methods_from(params: Any, view: cart.CartView) -> dict[int, DeliveryMethod]:
    methods = {}
    for group in view.groups:
        chosen = params.get(f"method_{group.producer.id}")
        if chosen == DeliveryMethod.DELIVERY and group.delivery.offers_delivery:
            methods[group.producer.id or 0] = DeliveryMethod.DELIVERY
    return methods


def _checkout_context(
    session: Session, user: User, methods: dict[int, DeliveryMethod], values: dict[str, str] | None = None
) -> dict[str, Any]:
    view = cart.view(session, user)
    fees = {
        group.producer.id: group.delivery.delivery_fee_vnd
        for group in view.groups
        if methods.get(group.producer.id or 0) == DeliveryMethod.DELIVERY
    }
    defaults = {
        "ward_code": str(user.ward_code or ""),
        "street": user.street or "",
        "contact_phone": user.phone or "",
    }
    return {
        "cart": view,
        "methods": methods,
        "fees": fees,
        "total": view.subtotal_vnd + sum(fees.values()),
        "needs_address": bool(fees),
        "method_labels": METHOD_LABELS,
        "wards": wards_of(THANH_HOA),
        "values": values or defaults,
        "idempotency_key": secrets.token_urlsafe(18),
        "errors": {},
    }


@router.get("/checkout", response_class=HTMLResponse)
def checkout_page(request: Request, session: DB, user: Buyer) -> HTMLResponse:
    view = cart.view(session, user)
    context = _checkout_context(session, user, _methods_from(request.query_params, view))
    return render(request, "shop/checkout.html", context)


@router.post("/checkout", response_class=HTMLResponse)
async def place_order(request: Request, session: DB, user: Buyer) -> Response:
    form = await request.form()
    # the choices as sent (not as the cart is now): a resent form must be the same checkout
    methods = {
        int(name.removeprefix("method_")): DeliveryMethod.DELIVERY
        for name, value in form.multi_items()
        if name.startswith("method_") and name[7:].isdigit() and len(name) <= 17 and value == "delivery"
    }
    values = {name: form_text(form, name, 500) for name in ("ward_code", "street", "contact_phone", "note")}
    try:
        data = _checkout_in(form, methods, values)
        result = checkout.checkout(
            session,
            user,
            data,
            idempotency_key=form_text(form, "idempotency_key", 100),
            actor=actor_of(request, user),
        )
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = {**_checkout_context(session, user, methods, values), "errors": form_errors_from(exc)}
        return render(request, "shop/checkout.html", context, status=_status_of(exc))
    return RedirectResponse(f"/pay/{result.payment_request.id}", status_code=303)


def _status_of(exc: ValidationError | DomainError) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


def _checkout_in(form: FormData, methods: dict[int, DeliveryMethod], values: dict[str, str]) -> CheckoutIn:
    expected = form_text(form, "expected_total_vnd", 16)
    address = None
    if methods:
        ward = values["ward_code"]
        address = {"ward_code": int(ward) if ward.isdigit() else 0, "street": values["street"]}
    key = form_text(form, "idempotency_key", 100)
    if not 16 <= len(key) <= 100:
        raise InvalidInput(N_("The form has expired or did not come from this site. Reload and try again."))
    return CheckoutIn.model_validate(
        {
            "expected_total_vnd": int(expected) if expected.isdigit() else 0,
            "methods": methods,
            "address": address,
            "contact_phone": values["contact_phone"] or None,
            "note": values["note"],
        }
    )


# --- orders -------------------------------------------------------------------------------------


@router.get("/orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    session: DB,
    user: Viewer,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    wanted = OrderStatus(status) if status in OrderStatus.__members__.values() else None
    rows, total = orders.list_orders_for(
        session, user, status=wanted, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "orders": rows,
        "total": total,
        "producer_names": orders.producer_names(session, rows),
        "status": wanted.value if wanted else "",
        "statuses": orders.STATUS_LABELS,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }
    return render(request, "shop/orders.html", context)


def _order_page(
    session: Session, request: Request, user: User, order_id: int, error: str | None = None, status: int = 200
) -> HTMLResponse:
    view = orders.order_view(session, user, order_id)
    context = {
        "view": view,
        "order": view.order,
        "statuses": orders.STATUS_LABELS,
        "method_labels": METHOD_LABELS,
        "action_labels": ACTION_LABELS,
        "note_actions": NOTE_ACTIONS,
        "delivery_place": _place(view.order.delivery_ward_code),
        "error": error,
    }
    return render(request, "shop/order.html", context, status=status)


def _place(ward_code: int | None) -> str:
    from market.places import describe

    return describe(THANH_HOA, ward_code) if ward_code else ""


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(order_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    return _order_page(session, request, user, order_id)


@router.post("/orders/{order_id}/{action}", response_class=HTMLResponse)
async def move_order(
    order_id: ObjectId, action: str, request: Request, session: DB, user: Viewer
) -> Response:
    form = await request.form()
    try:
        orders.act(
            session, user, order_id, action, note=form_text(form, "note", 300), actor=actor_of(request, user)
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return _order_page(session, request, user, order_id, exc.translated(), exc.status_code)
    return RedirectResponse(f"/orders/{order_id}", status_code=303)


# --- the producer's shop: delivery terms, sales, photos ------------------------------------------


@router.get("/shop/delivery", response_class=HTMLResponse)
def delivery_page(request: Request, session: DB, user: Producer) -> HTMLResponse:
    option = cart.delivery_option(session, user.organisation_id or 0)
    return render(request, "shop/delivery.html", {"option": option, "errors": {}, "saved": False})


@router.post("/shop/delivery", response_class=HTMLResponse)
async def save_delivery(request: Request, session: DB, user: Producer) -> Response:
    form = await request.form()
    fee = form_text(form, "delivery_fee_vnd", 12).replace(".", "").replace(",", "").replace(" ", "")
    try:
        data = DeliveryOptionIn(
            offers_delivery=form.get("offers_delivery") == "on",
            delivery_fee_vnd=int(fee) if fee.isdigit() else (0 if not fee else -1),
            pickup_note=form_text(form, "pickup_note", 300),
        )
        option = checkout.set_delivery_option(session, user, data)
    except (ValidationError, DomainError) as exc:
        option = cart.delivery_option(session, user.organisation_id or 0)
        context = {"option": option, "errors": form_errors_from(exc), "saved": False}
        return render(request, "shop/delivery.html", context, status=_status_of(exc))
    return render(request, "shop/delivery.html", {"option": option, "errors": {}, "saved": True})


@router.get("/shop/sales", response_class=HTMLResponse)
def sales_page(request: Request, session: DB, user: Producer) -> HTMLResponse:
    return render(
        request,
        "shop/sales.html",
        {"summary": sales.summary(session, user), "statuses": orders.STATUS_LABELS},
    )


@router.get("/shop/sales.csv")
def sales_csv(session: DB, user: Producer) -> Response:
    return csv_attachment(sales.csv_export(session, user), "choso-sales.csv")  # buyers' names and phones


def product_extras(session: Session, product: Product, user: User | None) -> dict[str, Any]:
    """What the product page adds for the shop: photos, and whether the viewer may buy it or
    manage its photos."""
    return {
        "photos": photos.list_photos(session, product.id or 0),
        "can_buy": user is None or user.role == Role.BUYER,
        "owns_product": user is not None
        and user.role == Role.PRODUCER
        and user.organisation_id == product.producer_id,
        "max_photos": photos.MAX_PHOTOS,
    }


# --- product photos: serving (public) and the producer's photo page -----------------------------

PHOTO_UPLOAD_PATH = r"/shop/products/[0-9]+/photos"
allow_larger_bodies(PHOTO_UPLOAD_PATH, photos.MAX_BYTES + 64 * 1024)  # the form's own fields too


@router.get("/media/photos/{photo_id}/{width}.jpg")
def photo_file(photo_id: ObjectId, width: Annotated[int, Path(ge=1, le=10_000)], session: DB) -> Response:
    """A photo rendition: its bytes never change, so browsers and proxies may keep it a year."""
    photo, data = photos.rendition(session, photo_id, width)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{photo.storage_key}-{width}"',
    }
    return Response(data, media_type="image/jpeg", headers=headers)


def _photos_page(
    session: Session,
    request: Request,
    user: User,
    product_id: int,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    product, _producer = catalog.get_product(session, product_id)
    if product.producer_id != user.organisation_id:
        raise NotFound(N_("No such product."))
    context = {
        "product": product,
        "photos": photos.list_photos(session, product_id),
        "max_photos": photos.MAX_PHOTOS,
        "error": error,
    }
    return render(request, "shop/photos.html", context, status=status)


@router.get("/shop/products/{product_id}/photos", response_class=HTMLResponse)
def photos_page(product_id: ObjectId, request: Request, session: DB, user: Producer) -> HTMLResponse:
    return _photos_page(session, request, user, product_id)


@router.post("/shop/products/{product_id}/photos", response_class=HTMLResponse)
async def upload_photo(product_id: ObjectId, request: Request, session: DB, user: Producer) -> Response:
    form = await request.form()
    upload = form.get("photo")
    try:
        if not isinstance(upload, UploadFile):
            raise InvalidInput(N_("Choose a photo to upload."), field="photo")
        data = await upload.read(photos.MAX_BYTES + 1)
        await run_in_threadpool(photos.add_photo, session, user, product_id, data)
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        session.rollback()
        return _photos_page(session, request, user, product_id, exc.translated(), exc.status_code)
    return RedirectResponse(f"/shop/products/{product_id}/photos", status_code=303)


@router.post("/shop/products/{product_id}/photos/{photo_id}/delete")
def delete_photo(product_id: ObjectId, photo_id: ObjectId, session: DB, user: Producer) -> Response:
    photos.delete_photo(session, user, product_id, photo_id)
    return RedirectResponse(f"/shop/products/{product_id}/photos", status_code=303)
