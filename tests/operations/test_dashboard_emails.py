"""The control room's account e-mail backlog: e-mails waiting (and retrying), e-mails given up,
a tile with its drill-down list, and the same figures in /metrics."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from choso.db import session_scope, utcnow
from market.account_models import OutgoingEmail
from market.models import Role, User
from tests import factories
from tests.payments.helpers import bearer
from tests.support import api_token, make_operator, page_login

LOOPBACK = ("127.0.0.1", 50000)


def _emails() -> None:
    """Two waiting (one of them retrying after a 4xx), one given up now, one sent (not counted).
    The waiting ones are due in an hour, so the retry job leaves them alone during the test."""
    user = factories.user(Role.BUYER)
    now, later = utcnow(), utcnow() + timedelta(hours=1)
    with session_scope() as session:
        for n, fields in enumerate(
            (
                {"created_at": now - timedelta(minutes=10)},
                {"attempts": 2, "last_error": "421 busy, try later"},
                {"attempts": 1, "failed_at": now, "last_error": "550 no such mailbox"},
                {"attempts": 1, "sent_at": now},
            )
        ):
            session.add(
                OutgoingEmail(
                    user_id=user.id or 0,
                    kind="verify_email",
                    dedupe_key=f"t:{n}",
                    next_attempt_at=later,
                    **fields,
                )
            )
        session.commit()


def _operator_headers() -> dict[str, str]:
    make_operator("ops-mail@example.vn")
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "ops-mail@example.vn")).one()
    return bearer(user)


def test_emails_waiting_and_failed_are_counted_listed_and_scraped(client: TestClient) -> None:
    _emails()
    auth = _operator_headers()
    system = client.get("/api/v1/dashboard/operator?range=today", headers=auth).json()["system"]
    assert system["emails_waiting"] == 2 and system["emails_retrying"] == 1 and system["emails_failed"] == 1
    assert system["emails_oldest_seconds"] >= 599
    # A window in the past still shows the backlog, but not today's failure.
    old = client.get("/api/v1/dashboard/operator?range=custom&from=2020-01-01&to=2020-01-31", headers=auth)
    assert old.json()["system"]["emails_waiting"] == 2 and old.json()["system"]["emails_failed"] == 0

    lists = "/api/v1/dashboard/operator/lists/emails?range=today"
    every = client.get(lists, headers=auth).json()
    assert every["total"] == 3 and [row["state"] for row in every["items"]] == [
        "waiting",
        "waiting",
        "failed",
    ]
    [failed] = client.get(f"{lists}&filter=failed", headers=auth).json()["items"]
    assert failed["last_error"] == "550 no such mailbox" and failed["next_attempt_at"] is None
    assert client.get(f"{lists}&filter=waiting", headers=auth).json()["total"] == 2
    assert client.get(f"{lists}&filter=sent", headers=auth).status_code == 422
    _org, producer = factories.staff("producer")
    assert client.get(lists, headers=api_token(client, producer.email)).status_code == 403

    scraped = TestClient(client.app, client=LOOPBACK).get("/metrics").text
    for line in (
        "choso_emails_waiting 2.0",
        "choso_emails_retrying 1.0",
        "choso_emails_failed_last_hour 1.0",
    ):
        assert line in scraped


def test_the_tile_opens_the_list_on_the_page(client: TestClient) -> None:
    _emails()
    make_operator("ops-mail-page@example.vn")
    assert page_login(client, "ops-mail-page@example.vn").status_code == 303
    page = client.get("/operator/dashboard?range=today")
    assert page.status_code == 200
    assert 'href="/operator/dashboard/lists/emails?' in page.text and "E-mail đang chờ gửi" in page.text
    assert "1 đang thử lại, 1 thất bại" in page.text
    listing = client.get("/operator/dashboard/lists/emails?range=today&filter=failed")
    assert listing.status_code == 200 and "550 no such mailbox" in listing.text
    assert "421 busy" not in listing.text
