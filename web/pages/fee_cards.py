"""Paying a fee notice by card from its public link, without an account.

Rule: the notice's link token is the capability (payments.links). Every page here is under
/fees/n/{token}/card and acts as :class:`payments.links.LinkHolder`: a wrong token, an attempt
of another notice, or one made by a logged-in payer on the pay page is the ordinary 404. A
login changes nothing here, and the link's attempts cannot be reached through /pay/{id}/card by
anyone who could not see the request anyway. The card form, its Stripe.js and the outcome are
those of web/pages/cards.py; the way back is the notice's public page, which shows it paid and
offers the e-receipt. Like the notice page, these pages are no-store and noindex.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from market.models import User
from payments import cards, links
from web.deps import DB, ObjectId, page_user_optional
from web.pages.cards import CardUrls, after_complete, card_page_response, confirm_response, return_page

router = APIRouter()
Token = Annotated[str, Path(min_length=1, max_length=64)]
OptionalViewer = Annotated[User | None, Depends(page_user_optional)]
PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def _urls(token: str) -> CardUrls:
    return CardUrls(base=f"/fees/n/{token}/card", back=f"/fees/n/{token}")


@router.post("/fees/n/{token}/card")
def start_notice_card_payment(token: Token, session: DB, _viewer: OptionalViewer) -> Response:
    """Start (or resume) paying the notice by card; a wrong token is a 404."""
    request_id = links.get_request_by_token(session, token).id or 0
    checkout = cards.start_checkout(session, links.LinkHolder(token), request_id)
    return RedirectResponse(_urls(token).attempt(checkout.attempt.id or 0), status_code=303)


@router.get("/fees/n/{token}/card/{attempt_id}", response_class=HTMLResponse)
def notice_card_page(
    token: Token, attempt_id: ObjectId, request: Request, session: DB, _viewer: OptionalViewer
) -> Response:
    checkout, pay_request = cards.look(session, links.LinkHolder(token), attempt_id)
    return card_page_response(request, checkout, pay_request, _urls(token), headers=PUBLIC_HEADERS)


@router.post("/fees/n/{token}/card/{attempt_id}/confirm")
async def confirm_notice_card_payment(
    token: Token, attempt_id: ObjectId, request: Request, session: DB
) -> JSONResponse:
    """The card page's script sends the payment method Stripe.js made (JSON, X-CSRF-Token)."""
    return await confirm_response(request, session, links.LinkHolder(token), attempt_id, _urls(token))


@router.get("/fees/n/{token}/card/{attempt_id}/return", response_class=HTMLResponse)
def notice_card_return(
    token: Token, attempt_id: ObjectId, request: Request, session: DB, _viewer: OptionalViewer
) -> Response:
    """Back from the card form or from authentication; the form it shows records the outcome."""
    cards.attempt_for(session, links.LinkHolder(token), attempt_id)
    return return_page(request, _urls(token), attempt_id, headers=PUBLIC_HEADERS)


@router.post("/fees/n/{token}/card/{attempt_id}/complete")
def complete_notice_card_payment(token: Token, attempt_id: ObjectId, session: DB) -> Response:
    checkout = cards.complete(session, links.LinkHolder(token), attempt_id)
    return after_complete(checkout, _urls(token))
