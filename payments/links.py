"""Paying by a link: a request's access token is the capability of whoever holds it.

A fee notice's public link carries a token (fees.notices); its request stores only the token's
SHA-256 in ``access_token_hash``. Whoever holds the token may see that one request and pay it
(VietQR, card) without an account; nobody else learns anything, not even that it exists: any
other token is the same NotFound as a missing request.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlmodel import Session, select

from choso.errors import NotFound
from choso.i18n import N_
from payments.models import PaymentRequest

NO_SUCH_REQUEST = N_("No such payment request.")


@dataclass(frozen=True)
class LinkHolder:
    """A payer known only by the link token they hold (logged in or not: the token decides)."""

    token: str


def token_digest(token: str) -> str:
    """What ``access_token_hash`` stores of a link token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def get_request_by_token(session: Session, token: str) -> PaymentRequest:
    """The request a link token opens; any other token looks exactly like a missing request."""
    if not 16 <= len(token) <= 64:
        raise NotFound(NO_SUCH_REQUEST)
    digest = token_digest(token)
    request = session.exec(select(PaymentRequest).where(PaymentRequest.access_token_hash == digest)).first()
    if request is None or not hmac.compare_digest(request.access_token_hash or "", digest):
        raise NotFound(NO_SUCH_REQUEST)
    return request
