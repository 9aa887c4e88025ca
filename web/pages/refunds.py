"""Refund pages: a payment's refunds with their state and credit notes, and the form that
refunds it in full or in part, with a reason.

Rules are the API's (payments.refunds): whoever may see the payment sees its refunds (payer,
payee staff, operators), anyone else gets a 404; only the payee organisation's staff or an
operator refunds, with a recent password, never more than was paid (a 409 shown on the form).
A bank-transfer payment is refunded to the payer's account, given on the form, by the next
payout batch; a card payment through the card processor. The form carries an idempotency key
drawn when it is shown, so a double submit makes one refund. No SQL here.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from choso.errors import DomainError, InvalidInput
from choso.i18n import N_
from market.models import Role, User
from payments import banks, refunds, requests
from payments.errors import IdempotencyKeyReused
from payments.refunds import RefundIn
from web.actors import actor_of
from web.deps import DB, ObjectId, page_reauthenticated, page_user
from web.pages.common import form_errors_from, form_text, render
from web.pages.payments import ALREADY_SENT, CHANNELS, FORM_EXPIRED, PAYMENT_STATUSES, parse_amount

router = APIRouter()
Viewer = Annotated[User, Depends(page_user)]
Refunder = Annotated[User, Depends(page_reauthenticated(Role.PRODUCER, Role.AGENCY_OFFICER, Role.OPERATOR))]

REFUND_STATUSES = {
    "pending": N_("Waiting to be sent"),
    "submitted": N_("Sent, waiting for confirmation"),
    "succeeded": N_("Refunded"),
    "failed": N_("Failed: the money stayed where it was"),
}
REFUND_METHODS = {"card": N_("Back to the card"), "bank_transfer": N_("Bank transfer to the payer")}
FIELDS = ("amount_vnd", "reason", "bank_bin", "account_number", "holder_name")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{16,100}")


def _context(
    session: Session, user: User, payment_id: int, values: dict[str, str] | None = None
) -> dict[str, Any]:
    payment, pay_request = refunds.visible_payment(session, user, payment_id)
    may_refund = user.role == Role.OPERATOR or (
        pay_request is not None and requests.can_manage(user, pay_request)
    )
    return {
        "payment": payment,
        "pr": pay_request,
        "rows": refunds.refunds_of_payment(session, user, payment_id),
        "left_vnd": payment.amount_vnd - payment.refunded_vnd,
        "may_refund": may_refund and payment.status in refunds.REFUNDABLE,
        "by_transfer": payment.channel != "card",
        "banks": banks.current_banks(),
        "refund_statuses": REFUND_STATUSES,
        "refund_methods": REFUND_METHODS,
        "payment_statuses": PAYMENT_STATUSES,
        "channels": CHANNELS,
        "values": values or {"idempotency_key": secrets.token_urlsafe(18), "holder_name": payment.payer_name},
        "errors": {},
    }


@router.get("/payments/{payment_id}/refunds", response_class=HTMLResponse)
def refunds_page(payment_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    return render(request, "payments/refunds.html", _context(session, user, payment_id))


@router.post("/payments/{payment_id}/refunds", response_class=HTMLResponse)
async def create_refund(payment_id: ObjectId, request: Request, session: DB, user: Refunder) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create, request, session, user, payment_id, form)


def _create(request: Request, session: Session, user: User, payment_id: int, form: FormData) -> Response:
    values = {name: form_text(form, name, 500) for name in (*FIELDS, "idempotency_key")}
    key = values["idempotency_key"]
    try:
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(FORM_EXPIRED)
        data = _refund_in(values)
        refund = refunds.create_refund(
            session, user, payment_id, data, idempotency_key=key, actor=actor_of(request, user)
        )
    except IdempotencyKeyReused:
        # Sent before with other content (back button, edit, send): a new form to check.
        values["idempotency_key"] = secrets.token_urlsafe(18)
        return _form_error(request, session, user, payment_id, values, InvalidInput(ALREADY_SENT))
    except (ValidationError, DomainError) as exc:
        return _form_error(request, session, user, payment_id, values, exc)
    return RedirectResponse(f"/payments/{payment_id}/refunds?created={refund.id}", status_code=303)


def _refund_in(values: dict[str, str]) -> RefundIn:
    """The form as the API's input: an empty amount refunds all that is left; account numbers
    are taken as people copy them (spaces, dots, dashes)."""
    return RefundIn.model_validate(
        {
            "amount_vnd": parse_amount(values["amount_vnd"]) if values["amount_vnd"] else None,
            "reason": values["reason"],
            "bank_bin": values["bank_bin"] or None,
            "account_number": re.sub(r"[\s.\-]", "", values["account_number"]) or None,
            "holder_name": values["holder_name"] or None,
        }
    )


def _form_error(
    request: Request,
    session: Session,
    user: User,
    payment_id: int,
    values: dict[str, str],
    exc: ValidationError | DomainError,
) -> Response:
    session.rollback()
    context = {**_context(session, user, payment_id, values), "errors": form_errors_from(exc)}
    status = exc.status_code if isinstance(exc, DomainError) else 422
    return render(request, "payments/refunds.html", context, status=status)
