"""Acting as the card side of the world: Stripe.js in the payer's browser, and Stripe's webhooks.

Stripe.js is played by the official SDK against localstripe (a payment method made from a
test card, the 3-D Secure step that localstripe's stand-in performs in a browser). Events are
delivered as localstripe delivers them (its JSON, signed ``t=…,v1=…`` with the webhook secret);
localstripe emits no refund events, so those are built from the real refund objects it holds,
as Stripe would send them.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any
from urllib.request import Request, urlopen

import stripe
from fastapi.testclient import TestClient
from httpx2 import Response

from choso.settings import get_settings
from market.models import OrganisationKind, Role
from payments.models import BankAccount, PaymentRequest
from tests import factories
from tests.payments.conftest import STRIPE_WEBHOOK_SECRET
from tests.payments.helpers import bearer

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000341"
NEEDS_AUTHENTICATION = "4000002500003155"


def stripe_client() -> stripe.StripeClient:
    settings = get_settings()
    return stripe.StripeClient(settings.stripe_secret_key, base_addresses={"api": settings.stripe_api_base})


def payment_method(number: str = SUCCEEDS) -> str:
    """What Stripe.js makes of the card typed in the browser: a payment method id."""
    card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"}
    return str(stripe_client().v1.payment_methods.create(params={"type": "card", "card": card}).id)


def authenticate(intent_id: str, client_secret: str, *, success: bool = True) -> dict[str, Any]:
    """The 3-D Secure step localstripe's Stripe.js stand-in performs in the browser."""
    answer = stripe_client().raw_request(
        "post",
        f"/v1/payment_intents/{intent_id}/_authenticate",
        client_secret=client_secret,
        success="true" if success else "false",
    )
    return dict(json.loads(answer.body))


def intent(intent_id: str) -> dict[str, Any]:
    return dict(stripe_client().v1.payment_intents.retrieve(intent_id).to_dict())


def events_about(object_id: str, kind: str | None = None) -> list[dict[str, Any]]:
    """The events localstripe recorded about one object (oldest first)."""
    params: dict[str, Any] = {"limit": 100, **({"type": kind} if kind else {})}
    events = [event.to_dict() for event in stripe_client().v1.events.list(params=params).auto_paging_iter()]
    found = [event for event in events if event["data"]["object"].get("id") == object_id]
    return sorted(found, key=lambda event: (event["created"], event["id"]))


def event_of(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as Stripe sends it, around a real object (for what localstripe does not emit)."""
    return {
        "id": "evt_" + secrets.token_hex(8),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": kind,
        "data": {"object": data},
    }


def refund_object(refund_id: str) -> dict[str, Any]:
    return dict(stripe_client().v1.refunds.retrieve(refund_id).to_dict())


def signed(
    event: dict[str, Any], *, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery (localstripe's JSON layout, Stripe's signature)."""
    payload = json.dumps(event, indent=2, sort_keys=True)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp or int(time.time()))
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json; charset=utf-8"}


def deliver(client: TestClient, event: dict[str, Any], **signing: Any) -> Response:
    body, headers = signed(event, **signing)
    return client.post("/webhooks/stripe", content=body, headers=headers)


# --- arranging a payee, a payer and a request -----------------------------------------------------


@dataclass
class Scene:
    organisation_id: int
    staff_id: int
    payer_id: int
    account: BankAccount
    request: PaymentRequest
    staff: dict[str, str]
    payer: dict[str, str]


def scene(amount_vnd: int = 150_000, kind: str = OrganisationKind.PRODUCER) -> Scene:
    org, staff = factories.staff(kind)
    payer = factories.user(Role.BUYER)
    account = factories.bank_account(org.id)
    request = factories.payment_request(org.id or 0, account.id or 0, amount_vnd, payer_user_id=payer.id)
    return Scene(org.id or 0, staff.id or 0, payer.id or 0, account, request, bearer(staff), bearer(payer))


def start(client: TestClient, scene_: Scene) -> dict[str, Any]:
    answer = client.post(f"/api/v1/payment-requests/{scene_.request.id}/card-attempts", headers=scene_.payer)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def pay_by_card(client: TestClient, scene_: Scene, number: str = SUCCEEDS) -> dict[str, Any]:
    """Start, and confirm with a card (what the card page's script does)."""
    attempt = start(client, scene_)
    answer = client.post(
        f"/api/v1/card-attempts/{attempt['attempt_id']}/confirm",
        json={"payment_method": payment_method(number)},
        headers=scene_.payer,
    )
    assert answer.status_code in (200, 402), answer.text
    return {**attempt, **answer.json()}


def run_ledger_check_cli() -> None:
    """``choso ledger check`` as an operator runs it, in its own process."""
    result = subprocess.run(
        [sys.executable, "-m", "choso.cli", "ledger", "check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- a network path that loses answers ------------------------------------------------------------


class LosingProxy:
    """An HTTP proxy to localstripe that forwards requests but, for the first ``losses``
    requests to a path, drops the connection instead of returning the answer (the request
    did reach the server): a "dropped response". It records each forwarded request."""

    def __init__(self, target: str, *, path: str, losses: int) -> None:
        self.target, self.path, self.losses = target, path, losses
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                proxy.seen.append((self.command, self.path, dict(self.headers)))
                request = Request(  # noqa: S310 - localstripe
                    proxy.target + self.path, data=body or None, headers=headers, method=self.command
                )
                try:
                    with urlopen(request, timeout=10) as answer:  # noqa: S310 - localstripe
                        status, content = answer.status, answer.read()
                except Exception as error:  # an HTTP error answer is still an answer
                    status, content = getattr(error, "code", 502), getattr(error, "read", lambda: b"")()
                if self.path == proxy.path and proxy.losses > 0:
                    proxy.losses -= 1
                    self.close_connection = True
                    return  # the answer is lost
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[LosingProxy]:
        thread = Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
