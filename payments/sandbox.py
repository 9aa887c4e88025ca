"""Sandbox: a simulated bank transfer, delivered through the real SePay webhook path.

The simulator builds the body SePay would send for a transfer into the request's bank
account, signs it with the configured secret, and hands it to the same
:func:`payments.webhooks.accept` the webhook route calls, so the demo and the tests exercise
verification, the inbox, the job and settlement exactly as a real bank notification does.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlmodel import Session, select

from choso.errors import NotFound, PermissionDenied
from choso.i18n import N_
from choso.settings import get_settings
from market.models import User
from payments import requests, webhooks
from payments.bank_feeds import BankNotification
from payments.models import BankAccount, WebhookEvent
from payments.vietqr import qr_purpose


def simulate_transfer(session: Session, user: User, request_id: int, *, amount_vnd: int | None = None) -> int:
    """Send a signed SePay notification paying ``request_id`` (default: what is outstanding);
    returns how many new events were queued (the API's answer)."""
    return _send(session, user, request_id, amount_vnd)[0]


def simulate_transfer_event(
    session: Session, user: User, request_id: int, *, amount_vnd: int | None = None
) -> int:
    """The same; returns the id of the stored notification, which the pay page watches until
    its job has processed it (a count of 1 is not an id: that page then watched event 1)."""
    _queued, external_id = _send(session, user, request_id, amount_vnd)
    found = select(WebhookEvent.id).where(
        WebhookEvent.source == "sepay", WebhookEvent.external_id == external_id
    )
    return session.exec(found).one() or 0


def _send(session: Session, user: User, request_id: int, amount_vnd: int | None) -> tuple[int, str]:
    if not get_settings().sandbox:
        raise NotFound(N_("This page or object does not exist."))
    request = requests.get_request_for(session, user, request_id)
    if not requests.can_see(user, request):
        raise PermissionDenied(N_("Your role does not allow this."))
    account = session.get_one(BankAccount, request.bank_account_id)
    amount = amount_vnd or request.outstanding_vnd or request.amount_vnd
    notice = BankNotification(
        source="sepay",
        external_id=f"sandbox{secrets.randbelow(10**12)}",
        account_number=account.account_number,
        bank_hint="Sandbox",
        amount_vnd=amount,
        direction="in",
        # What a bank app makes of the QR's memo: a bank prefix, the purpose, a suffix.
        memo=f"MBVCB.{secrets.randbelow(10**9)}.{qr_purpose(request.reference_code, request.description)}.CT",
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        bank_reference=f"FT{secrets.randbelow(10**10):010d}",
        payer_name=request.payer_name,
    )
    feed = webhooks.feed("sepay")
    body = feed.encode(notice)
    session.commit()  # end the read: accept() is its own unit of work
    queued = webhooks.accept(session, "sepay", feed.signed_headers(body, datetime.now(UTC)), body)
    return queued, notice.external_id
