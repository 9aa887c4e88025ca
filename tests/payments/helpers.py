"""Acting as the outside world of payments: signed bank webhooks, API callers."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from httpx2 import Response

from choso.db import session_scope
from market import parties
from market.models import User
from payments.bank_feeds import BankNotification, SePayFeed

SEPAY = SePayFeed(mode="hmac", secret="test-sepay-secret")
_txn = itertools.count(1)


def bearer(user: User) -> dict[str, str]:
    with session_scope() as session:
        token, _row = parties.issue_api_token(session, session.get_one(User, user.id))
    return {"Authorization": f"Bearer {token}"}


def notice(
    account_number: str, amount_vnd: int, memo: str, external_id: str | None = None
) -> BankNotification:
    return BankNotification(
        source="sepay",
        external_id=external_id or f"9{next(_txn):08d}",
        account_number=account_number,
        bank_hint="Vietcombank",
        amount_vnd=amount_vnd,
        direction="in",
        memo=memo,
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        bank_reference="FT26330123456",
        payer_name="",
    )


def sepay_body(item: BankNotification) -> bytes:
    return SEPAY.encode(item)


def post_sepay(client: TestClient, body: bytes, *, age: timedelta = timedelta(0)) -> Response:
    headers = SEPAY.signed_headers(body, datetime.now(UTC) - age)
    return client.post(
        "/webhooks/sepay", content=body, headers={**headers, "Content-Type": "application/json"}
    )
