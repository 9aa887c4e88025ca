"""The card option of the pay page (a card form whose details go straight to Stripe.js), and
an organisation's payout account.

Rule: card numbers never reach Choso. The page loads Stripe.js from the configured URL (the
sandbox server's stand-in in sandbox mode; no CDN is written into a template), Stripe.js turns
the card into a payment method id, and only that id comes back here. The page's own
Content-Security-Policy adds the Stripe.js and Stripe API origins and nothing else.

Flow: POST /pay/{id}/card (start or resume an attempt) → GET the card page → the script posts
the payment method to …/confirm (JSON, CSRF header) → after any authentication the browser
comes to …/return, which posts …/complete: the success is recorded, once, whoever else
(the webhook) reports it. The same pages serve a fee notice's link holder, without an account,
under /fees/n/{token}/card (web/pages/fee_cards.py, through :class:`CardUrls`).

The payout account is one of the organisation's own bank accounts; changing it needs a recent
password, and is audited and announced (payments.payouts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from choso.errors import DomainError, NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market.models import Role, User
from payments import bank_accounts, banks, cards, payouts
from payments.card_schemas import CardConfirmIn
from payments.models import CardAttemptStatus, PaymentRequest, RequestStatus
from web.actors import actor_of
from web.deps import DB, MAX_ID, ObjectId, page_reauthenticated, page_role, page_user
from web.i18n import templates
from web.pages.common import render

router = APIRouter()
Viewer = Annotated[User, Depends(page_user)]
STAFF_ROLES = (Role.PRODUCER, Role.AGENCY_OFFICER)
Staff = Annotated[User, Depends(page_role(*STAFF_ROLES))]
PayoutEditor = Annotated[User, Depends(page_reauthenticated(*STAFF_ROLES))]
templates.env.globals.setdefault("card_payments_enabled", cards.configured)
templates.env.globals.setdefault("card_offered", cards.offered)  # configured, and not outside a pilot

# Cards that the sandbox (localstripe, and Stripe's test mode) treats in a known way.
TEST_CARDS = (
    ("4242 4242 4242 4242", N_("succeeds")),
    ("4000 0000 0000 0341", N_("is declined")),
    ("4000 0025 0000 3155", N_("asks for authentication (3-D Secure)")),
)
NOT_FOUND = N_("This page or object does not exist.")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy() -> str:
    """The site's policy, plus Stripe.js (script, frames) and the Stripe API (fetch)."""
    settings = get_settings()
    script = _origin(cards.stripe_js_url())
    api = _origin(settings.stripe_api_base) if settings.stripe_api_base else "https://api.stripe.com"
    frames = script if settings.stripe_api_base else f"{script} https://hooks.stripe.com"
    return (
        f"default-src 'self'; img-src 'self' data:; script-src 'self' {script}; connect-src 'self' {api}; "
        f"frame-src {frames}; frame-ancestors 'none'; form-action 'self'"
    )


@dataclass(frozen=True)
class CardUrls:
    """Where one way into the card pages leads: its attempts' pages under ``base``, and
    ``back`` (the pay page; a fee notice's public page for its link's holder)."""

    base: str
    back: str

    def attempt(self, attempt_id: int, suffix: str = "") -> str:
        return f"{self.base}/{attempt_id}{suffix}"


def _urls(request_id: int) -> CardUrls:
    return CardUrls(base=f"/pay/{request_id}/card", back=f"/pay/{request_id}")


@router.post("/pay/{request_id}/card")
def start_card_payment(request_id: ObjectId, session: DB, user: Viewer) -> Response:
    """Start (or resume) paying by card; a processor that does not answer is a 503 page."""
    checkout = cards.start_checkout(session, user, request_id)
    return RedirectResponse(_urls(request_id).attempt(checkout.attempt.id or 0), status_code=303)


@router.get("/pay/{request_id}/card/{attempt_id}", response_class=HTMLResponse)
def card_page(
    request_id: ObjectId, attempt_id: ObjectId, request: Request, session: DB, user: Viewer
) -> Response:
    checkout, pay_request = cards.look(session, user, attempt_id)
    if checkout.attempt.request_id != request_id:
        raise NotFound(NOT_FOUND)
    return card_page_response(request, checkout, pay_request, _urls(request_id))


def card_page_response(
    request: Request,
    checkout: cards.Checkout,
    pay_request: PaymentRequest,
    urls: CardUrls,
    headers: dict[str, str] | None = None,
) -> Response:
    """The card form of an attempt, or back to the payment once there is nothing left to pay."""
    attempt_id = checkout.attempt.id or 0
    if pay_request.status != RequestStatus.OPEN or checkout.attempt.status == CardAttemptStatus.SUCCEEDED:
        return RedirectResponse(urls.back, status_code=303)
    context: dict[str, Any] = {
        "pr": pay_request,
        "checkout": checkout,
        "client_secret": checkout.intent.client_secret if checkout.intent else "",
        "confirm_url": urls.attempt(attempt_id, "/confirm"),
        "return_url": urls.attempt(attempt_id, "/return"),
        "restart_url": urls.base,
        "back_url": urls.back,
        "test_cards": TEST_CARDS if get_settings().sandbox else (),
    }
    response = render(request, "payments/card.html", context, headers=headers)
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["Cache-Control"] = "no-store"  # the page carries the intent's client secret
    return response


@router.post("/pay/{request_id}/card/{attempt_id}/confirm")
async def confirm_card_payment(
    request_id: ObjectId, attempt_id: ObjectId, request: Request, session: DB, user: Viewer
) -> JSONResponse:
    """The card page's script sends the payment method Stripe.js made (JSON, X-CSRF-Token)."""
    return await confirm_response(request, session, user, attempt_id, _urls(request_id))


async def confirm_response(
    request: Request, session: DB, payer: cards.Payer, attempt_id: int, urls: CardUrls
) -> JSONResponse:
    try:
        data = CardConfirmIn.model_validate(await request.json())
    except (ValueError, ValidationError):
        return JSONResponse({"message": _translated(N_("The card form sent something unexpected."))}, 422)
    return await run_in_threadpool(_confirm, session, payer, attempt_id, data.payment_method, urls)


def _confirm(
    session: DB, payer: cards.Payer, attempt_id: int, payment_method: str, urls: CardUrls
) -> JSONResponse:
    try:
        checkout = cards.confirm(session, payer, attempt_id, payment_method=payment_method)
    except DomainError as error:
        session.rollback()
        return JSONResponse({"message": error.translated()}, error.status_code, headers=error.headers)
    attempt = checkout.attempt
    body = {
        "status": attempt.status,
        "client_secret": checkout.intent.client_secret if checkout.intent else "",
        "next": urls.attempt(attempt_id, "/return"),
    }
    return JSONResponse(body)


@router.get("/pay/{request_id}/card/{attempt_id}/return", response_class=HTMLResponse)
def card_return(
    request_id: ObjectId, attempt_id: ObjectId, request: Request, session: DB, user: Viewer
) -> Response:
    """Back from the card form or from authentication: a form that records the outcome (sent
    by the page's script at once; a button without scripts). A GET never writes."""
    attempt, _pay_request = cards.attempt_for(session, user, attempt_id)
    if attempt.request_id != request_id:
        raise NotFound(NOT_FOUND)
    return return_page(request, _urls(request_id), attempt_id)


def return_page(
    request: Request, urls: CardUrls, attempt_id: int, headers: dict[str, str] | None = None
) -> Response:
    context = {"complete_url": urls.attempt(attempt_id, "/complete")}
    return render(request, "payments/card_return.html", context, headers=headers)


@router.post("/pay/{request_id}/card/{attempt_id}/complete")
def complete_card_payment(request_id: ObjectId, attempt_id: ObjectId, session: DB, user: Viewer) -> Response:
    checkout = cards.complete(session, user, attempt_id)
    if checkout.attempt.request_id != request_id:
        raise NotFound(NOT_FOUND)
    return after_complete(checkout, _urls(request_id))


def after_complete(checkout: cards.Checkout, urls: CardUrls) -> Response:
    if checkout.attempt.status in cards.REUSABLE:  # declined, or authentication not done: try again
        return RedirectResponse(urls.attempt(checkout.attempt.id or 0), status_code=303)
    return RedirectResponse(urls.back, status_code=303)


def _translated(message: str) -> str:
    from choso.i18n import gettext_

    return gettext_(message)


# --- the payout account -------------------------------------------------------------------------


@router.get("/account/payout-account", response_class=HTMLResponse)
def payout_account_page(request: Request, session: DB, user: Staff) -> HTMLResponse:
    accounts = [account for account in bank_accounts.list_bank_accounts(session, user) if account.is_active]
    chosen = payouts.get_payout_account(session, user)
    current = next((a for a in accounts if chosen and a.id == chosen.bank_account_id), None)
    context = {
        "accounts": accounts,
        "current": current,
        "bank_names": {bank.bin: bank.short_name for bank in banks.current_banks()},
    }
    return render(request, "payments/payout_account.html", context)


@router.post("/account/payout-account")
async def set_payout_account(request: Request, session: DB, user: PayoutEditor) -> Response:
    form = await request.form()
    chosen = form.get("bank_account_id")
    if not isinstance(chosen, str) or not chosen.isdigit() or not 1 <= int(chosen[:12]) <= MAX_ID:
        raise NotFound(NOT_FOUND)
    data = payouts.PayoutAccountIn(bank_account_id=int(chosen))
    await run_in_threadpool(payouts.set_payout_account, session, user, data, actor=actor_of(request, user))
    return RedirectResponse("/account/payout-account?saved=1", status_code=303)
