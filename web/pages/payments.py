"""Payment pages: the pay page with its VietQR, the list of payment requests, receipts (HTML,
PDF, public verification), an organisation's bank accounts and the operator's suspense queue.

Rule: a request, its QR and its receipts are shown to whoever may see the request (payer,
payee staff, operators); to anyone else they are a 404 exactly like a missing page. Forms
carry the CSRF token (the pages router checks it); the manual-request form also carries an
idempotency key drawn when the form is shown, so a double submit makes one request. Changing
bank accounts and resolving suspense items need a recent password (page_reauthenticated).
Every lookup and change is one call into the payments domain; there is no SQL here.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from choso.money import MAX_AMOUNT_VND
from choso.settings import get_settings
from market.models import Role, User
from payments import bank_accounts, banks, qr_render, receipts, requests, sandbox, statements
from payments.bank_accounts import BankAccountIn
from payments.errors import IdempotencyKeyReused
from payments.models import Receipt, RequestStatus
from payments.receipt_render import render_receipt_pdf
from payments.requests import PaymentRequestIn
from web.actors import actor_of
from web.deps import DB, MAX_ID, ObjectId, page_reauthenticated, page_role, page_user, page_user_optional
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
Viewer = Annotated[User, Depends(page_user)]
OptionalViewer = Annotated[User | None, Depends(page_user_optional)]
STAFF_ROLES = (Role.PRODUCER, Role.AGENCY_OFFICER)
Staff = Annotated[User, Depends(page_role(*STAFF_ROLES))]
BankEditor = Annotated[User, Depends(page_reauthenticated(*STAFF_ROLES))]
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
SuspenseResolver = Annotated[User, Depends(page_reauthenticated(Role.OPERATOR))]

PAGE_SIZE = 50
NOT_FOUND = N_("This page or object does not exist.")  # the message of every other 404
REQUEST_STATUSES = {
    "open": N_("Waiting for payment"),
    "paid": N_("Paid"),
    "expired": N_("Expired"),
    "cancelled": N_("Cancelled"),
}
PAYMENT_STATUSES = {
    "settled": N_("Counted towards the request"),
    "refund_due": N_("To be refunded"),
    "suspense": N_("Waiting for an operator"),
    "refunded": N_("Refunded"),
}
SUSPENSE_STATUSES = {"open": N_("To resolve"), "assigned": N_("Assigned"), "refund": N_("Marked for refund")}
SUSPENSE_REASONS = {
    "unknown reference": N_("The memo names a reference code that no request has."),
    "no reference": N_("The memo has no reference code."),
    "paid into another bank account than the request's": N_(
        "The money reached another bank account than the request's."
    ),
}
CHANNELS = {"vietqr": N_("Bank transfer (VietQR)"), "card": N_("Card")}
LIFETIMES = {
    1: N_("1 hour"),
    24: N_("1 day"),
    72: N_("3 days"),
    168: N_("7 days"),
    720: N_("30 days"),
}
DEFAULT_LIFETIME_HOURS = 72
PDF_NAMES = {"receipt": "bien-lai", "credit_note": "phieu-hoan-tien"}

# Amounts as people type them: 150000, 150.000, 150,000 or 150 000, maybe with ₫ or đ after.
_AMOUNT = re.compile(r"\d{1,3}(?:[.,\s]\d{3})+|\d{1,13}")
_AMOUNT_MESSAGE = N_("Enter the amount in whole đồng, for example 150.000.")
FORM_EXPIRED = N_("The form has expired or did not come from this site. Reload and try again.")
ALREADY_SENT = N_("This form was already sent with other content. Check it and send it again.")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{16,100}")
_VERIFICATION_CODE = re.compile(r"[0-9a-f]{24,32}")


def parse_amount(text: str, field: str = "amount_vnd") -> int:
    """Whole đồng from what someone typed; :class:`InvalidInput` if it is not an amount."""
    cleaned = text.strip().removesuffix("₫").removesuffix("đ").strip()
    amount = int(re.sub(r"\D", "", cleaned)) if _AMOUNT.fullmatch(cleaned) else 0
    if not 0 < amount <= MAX_AMOUNT_VND:
        raise InvalidInput(_AMOUNT_MESSAGE, field=field)
    return amount


def _new_key() -> str:
    return secrets.token_urlsafe(18)


def _status_of(exc: ValidationError | DomainError) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


# --- the pay page ---------------------------------------------------------------------------


def _pay_context(session: Session, user: User, request_id: int, event: int | None) -> dict[str, Any]:
    view = requests.request_view(session, user, request_id)
    return {
        "view": view,
        "pr": view.request,
        "bank": banks.find_bank(view.account.bank_bin),
        "excess_vnd": sum(payment.excess_vnd for payment in view.payments),
        "can_manage": requests.can_manage(user, view.request),
        "sandbox": get_settings().sandbox,
        "processing": event is not None and requests.transfer_pending(session, event),
        "simulated": event is not None,
        "request_statuses": REQUEST_STATUSES,
        "payment_statuses": PAYMENT_STATUSES,
        "channels": CHANNELS,
        "errors": {},
    }


@router.get("/pay/{request_id}", response_class=HTMLResponse)
def pay_page(
    request_id: ObjectId,
    request: Request,
    session: DB,
    user: Viewer,
    event: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """How to pay a request (bank, account, reference, QR), its state and what has arrived.
    ``event`` is a simulated transfer just sent: while it waits for its job the page reloads."""
    return render(request, "payments/pay.html", _pay_context(session, user, request_id, event))


@router.get("/pay/{request_id}/qr.{image_format}")
def pay_qr(
    request_id: ObjectId,
    image_format: Annotated[str, Path(pattern="^(png|svg)$")],
    session: DB,
    user: Viewer,
) -> Response:
    """The VietQR of an open request; a closed one has none (paying it would only mean a refund)."""
    pay_request = requests.get_request_for(session, user, request_id)
    if pay_request.status != RequestStatus.OPEN:
        raise NotFound(NOT_FOUND)
    fmt: qr_render.ImageFormat = "png" if image_format == "png" else "svg"
    image = qr_render.render(requests.vietqr_payload(session, pay_request), fmt)
    return Response(
        image, media_type=qr_render.MEDIA_TYPES[fmt], headers={"Cache-Control": "private, no-store"}
    )


@router.post("/pay/{request_id}/simulate-transfer")
async def simulate_transfer(request_id: ObjectId, request: Request, session: DB, user: Viewer) -> Response:
    """Sandbox only: a bank transfer for this request, through the signed webhook path."""
    form = await request.form()
    return await run_in_threadpool(_simulate, request, session, user, request_id, form)


def _simulate(request: Request, session: Session, user: User, request_id: int, form: FormData) -> Response:
    typed = form_text(form, "amount_vnd", 40)
    try:
        amount = parse_amount(typed) if typed else None
        event = sandbox.simulate_transfer_event(session, user, request_id, amount_vnd=amount)
    except InvalidInput as exc:
        session.rollback()
        context = {**_pay_context(session, user, request_id, None), "errors": form_errors_from(exc)}
        return render(request, "payments/pay.html", context, status=exc.status_code)
    return RedirectResponse(f"/pay/{request_id}?event={event}", status_code=303)


@router.post("/pay/{request_id}/cancel")
def cancel_request(request_id: ObjectId, request: Request, session: DB, user: Viewer) -> Response:
    requests.cancel_request(session, user, request_id, actor=actor_of(request, user))
    return RedirectResponse(f"/pay/{request_id}", status_code=303)


# --- the list of payment requests, and the manual request form ------------------------------


def _list_context(
    session: Session, user: User, status: str | None, page: int, values: dict[str, str] | None = None
) -> dict[str, Any]:
    rows, total = requests.list_requests_for(
        session, user, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    is_staff = user.role in STAFF_ROLES and user.organisation_id is not None
    accounts = [a for a in bank_accounts.list_bank_accounts(session, user) if a.is_active] if is_staff else []
    return {
        "rows": rows,
        "total": total,
        "status": status or "",
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "payees": requests.payee_names(session, rows),
        "is_staff": is_staff,
        "accounts": accounts,
        "bank_names": {a.bin: a.short_name for a in banks.current_banks()},
        "lifetimes": LIFETIMES,
        "request_statuses": REQUEST_STATUSES,
        "values": values or {"expires_in_hours": str(DEFAULT_LIFETIME_HOURS), "idempotency_key": _new_key()},
        "errors": {},
    }


@router.get("/payments", response_class=HTMLResponse)
def payments_list(
    request: Request,
    session: DB,
    user: Viewer,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """The requests the user pays or receives (all of them for an operator)."""
    status = status if status in REQUEST_STATUSES else None
    return render(request, "payments/list.html", _list_context(session, user, status, page))


@router.post("/payments", response_class=HTMLResponse)
async def create_request(request: Request, session: DB, user: Staff) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create_request, request, session, user, form)


REQUEST_FIELDS = ("amount_vnd", "description", "payer_name", "expires_in_hours", "bank_account_id")


def _create_request(request: Request, session: Session, user: User, form: FormData) -> Response:
    values = {name: form_text(form, name, 200) for name in (*REQUEST_FIELDS, "idempotency_key")}
    key = values["idempotency_key"]
    try:
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(FORM_EXPIRED)
        created = requests.create_request(
            session, user, _request_in(values), idempotency_key=key, actor=actor_of(request, user)
        )
    except IdempotencyKeyReused:
        # Sent before with other content (back button, edit, send): show it again as a new form.
        values["idempotency_key"] = _new_key()
        return _request_form_error(request, session, user, values, InvalidInput(ALREADY_SENT))
    except (ValidationError, DomainError) as exc:
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            values["idempotency_key"] = _new_key()
        return _request_form_error(request, session, user, values, exc)
    return RedirectResponse(f"/pay/{created.id}", status_code=303)


def _request_form_error(
    request: Request, session: Session, user: User, values: dict[str, str], exc: ValidationError | DomainError
) -> Response:
    session.rollback()
    context = {**_list_context(session, user, None, 1, values), "errors": form_errors_from(exc)}
    return render(request, "payments/list.html", context, status=_status_of(exc))


def _request_in(values: dict[str, str]) -> PaymentRequestIn:
    hours = (
        int(values["expires_in_hours"]) if values["expires_in_hours"].isdigit() else DEFAULT_LIFETIME_HOURS
    )
    account = values["bank_account_id"]
    return PaymentRequestIn.model_validate(
        {
            "amount_vnd": parse_amount(values["amount_vnd"]),
            "description": values["description"],
            "payer_name": values["payer_name"],
            "expires_in_hours": hours if hours in LIFETIMES else DEFAULT_LIFETIME_HOURS,
            "bank_account_id": int(account) if account.isdigit() and len(account) < 10 else None,
        }
    )


# --- receipts -------------------------------------------------------------------------------


def _receipt_context(receipt: Receipt) -> dict[str, Any]:
    qr_svg = qr_render.render_svg(receipt.content["verification_url"], box_size=4, border=2)
    return {
        "receipt": receipt,
        "content": receipt.content,
        "channel_label": CHANNELS.get(receipt.content.get("channel", ""), ""),
        "verification_qr": "data:image/svg+xml;base64," + base64.b64encode(qr_svg).decode(),
    }


@router.get("/receipts/verify/{code}", response_class=HTMLResponse)
def verify_receipt(code: str, request: Request, session: DB, _viewer: OptionalViewer) -> HTMLResponse:
    """Public: a receipt is authentic if its code is known and its signature holds; any other
    code gets the same 404 as a missing page."""
    try:
        if not _VERIFICATION_CODE.fullmatch(code):
            raise NotFound(NOT_FOUND)
        receipt = receipts.verify(session, code)
    except NotFound:
        raise NotFound(NOT_FOUND) from None
    context = {**_receipt_context(receipt), "standing": receipts.standing(session, receipt)}
    return render(request, "payments/verify.html", context)


@router.get("/receipts/{receipt_id}.pdf")
def receipt_pdf(receipt_id: ObjectId, session: DB, user: Viewer) -> Response:
    receipt = requests.get_receipt_for(session, user, receipt_id)
    content = receipt.content
    series = re.sub(r"[^A-Za-z0-9]+", "-", content["series"]).strip("-")
    filename = f"{PDF_NAMES.get(receipt.kind, 'bien-lai')}-{series}-{content['number_text']}.pdf"
    return Response(
        render_receipt_pdf(content),
        media_type="application/pdf",
        headers={"Content-Disposition": f"inline; filename={filename}", "Cache-Control": "private"},
    )


@router.get("/receipts/{receipt_id}", response_class=HTMLResponse)
def receipt_page(receipt_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    receipt = requests.get_receipt_for(session, user, receipt_id)
    return render(request, "payments/receipt.html", _receipt_context(receipt))


# --- an organisation's bank accounts --------------------------------------------------------


def _bank_context(session: Session, user: User, values: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "accounts": bank_accounts.list_bank_accounts(session, user),
        "banks": banks.current_banks(),
        "bank_names": {bank.bin: bank.short_name for bank in banks.current_banks()},
        "values": values or {},
        "errors": {},
    }


@router.get("/account/bank-accounts", response_class=HTMLResponse)
def bank_accounts_page(request: Request, session: DB, user: Staff) -> HTMLResponse:
    return render(request, "payments/bank_accounts.html", _bank_context(session, user))


@router.post("/account/bank-accounts", response_class=HTMLResponse)
async def add_bank_account(request: Request, session: DB, user: BankEditor) -> Response:
    form = await request.form()
    return await run_in_threadpool(_add_bank_account, request, session, user, form)


def _add_bank_account(request: Request, session: Session, user: User, form: FormData) -> Response:
    values = {name: form_text(form, name, 100) for name in ("bank_bin", "account_number", "holder_name")}
    # People copy account numbers with the spaces, dots or dashes their bank app shows.
    number = re.sub(r"[\s.\-]", "", values["account_number"])
    try:
        data = BankAccountIn.model_validate({**values, "account_number": number})
        bank_accounts.add_bank_account(session, user, data, actor=actor_of(request, user))
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = {**_bank_context(session, user, values), "errors": form_errors_from(exc)}
        return render(request, "payments/bank_accounts.html", context, status=_status_of(exc))
    return RedirectResponse("/account/bank-accounts?added=1", status_code=303)


@router.post("/account/bank-accounts/{account_id}/deactivate")
def deactivate_bank_account(
    account_id: ObjectId, request: Request, session: DB, user: BankEditor
) -> Response:
    bank_accounts.deactivate_bank_account(session, user, account_id, actor=actor_of(request, user))
    return RedirectResponse("/account/bank-accounts?deactivated=1", status_code=303)


# --- the operator's suspense queue ----------------------------------------------------------


def _suspense_context(session: Session, status: str, page: int) -> dict[str, Any]:
    rows, total = requests.list_suspense(
        session, status=status or None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return {
        "rows": rows,
        "total": total,
        "status": status,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "suspense_statuses": SUSPENSE_STATUSES,
        "reasons": SUSPENSE_REASONS,
        # What a bank statement's matcher suggests for a payment (confirmed by assigning it).
        "suggestions": statements.suggestions_for(session, [payment.id or 0 for _item, payment in rows]),
        "errors": {},
        "values": {},
    }


@router.get("/operator/suspense", response_class=HTMLResponse)
def suspense_queue(
    request: Request,
    session: DB,
    _operator: Operator,
    status: Annotated[str, Query(max_length=20)] = "open",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """Payments nobody claims, oldest first, each to assign to a request or to mark for refund."""
    status = status if status in SUSPENSE_STATUSES else ""
    return render(request, "payments/suspense.html", _suspense_context(session, status, page))


@router.post("/operator/suspense/{item_id}/assign", response_class=HTMLResponse)
async def assign_suspense(
    item_id: ObjectId, request: Request, session: DB, operator: SuspenseResolver
) -> Response:
    form = await request.form()
    return await run_in_threadpool(_resolve_suspense, request, session, operator, item_id, form, "assign")


@router.post("/operator/suspense/{item_id}/refund", response_class=HTMLResponse)
async def refund_suspense(
    item_id: ObjectId, request: Request, session: DB, operator: SuspenseResolver
) -> Response:
    form = await request.form()
    return await run_in_threadpool(_resolve_suspense, request, session, operator, item_id, form, "refund")


def _resolve_suspense(
    request: Request, session: Session, operator: User, item_id: int, form: FormData, decision: str
) -> Response:
    target, note = form_text(form, "target", 40), form_text(form, "note", 500)
    actor = actor_of(request, operator)
    try:
        if decision == "assign":
            request_id = _request_id_from(session, target)
            requests.assign_suspense(
                session, operator, item_id, request_id=request_id, note=note, actor=actor
            )
        else:
            requests.refund_suspense(session, operator, item_id, note=note, actor=actor)
    except DomainError as exc:
        session.rollback()
        context = _suspense_context(session, "open", 1)
        context["errors"] = {item_id: exc.translated()}
        context["values"] = {item_id: {"target": target, "note": note}}
        return render(request, "payments/suspense.html", context, status=exc.status_code)
    return RedirectResponse(f"/operator/suspense?done={decision}", status_code=303)


def _request_id_from(session: Session, target: str) -> int:
    """A request number (``42``, ``#42``) or a reference code as a person types it."""
    number = target.removeprefix("#")
    if number.isdigit() and 0 < len(number) < 10:
        return int(number)
    found = requests.find_request_by_reference(session, target) if target else None
    if found is None:
        raise InvalidInput(N_("Enter a payment request number or a valid reference code."), field="target")
    return found.id or 0
