"""Self-service API tokens: create (API and page, shown once, audited, staff re-authenticate),
list and revoke one's own, and nobody else's (404)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from choso.audit import AuditEntry
from choso.db import session_scope, utcnow
from choso.settings import get_settings
from market import credentials
from market.models import ApiToken, Role, UserSession
from tests import factories
from tests.support import PASSWORD, api_token, page_csrf, page_login

_NEW_TOKEN = re.compile(r'<code id="new-token">(chs_[A-Za-z0-9_-]+)</code>')


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _stale(model: type[ApiToken] | type[UserSession], column: str) -> None:
    with session_scope() as session:
        then = utcnow() - timedelta(minutes=get_settings().reauth_minutes + 1)
        session.exec(update(model).values({column: then}))  # type: ignore[call-overload]
        session.commit()


def test_buyer_creates_lists_uses_and_revokes_a_token(client: TestClient, db: Session) -> None:
    buyer = factories.user(Role.BUYER)
    login = api_token(client, buyer.email)
    created = client.post("/api/v1/me/tokens", json={"name": "Sổ sách", "expires_in_days": 90}, headers=login)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith("chs_") and body["name"] == "Sổ sách"
    row = db.get_one(ApiToken, body["id"])
    assert row.personal and row.expires_at - row.created_at == timedelta(days=90)

    mine = client.get("/api/v1/me/tokens", headers=_bearer(body["token"]))
    assert mine.status_code == 200
    listed = {row["id"]: row for row in mine.json()}
    assert body["id"] in listed and listed[body["id"]]["current"] is True
    assert "token" not in listed[body["id"]]
    db.rollback()
    [audit] = db.exec(select(AuditEntry).where(AuditEntry.action == "api_token.created")).all()
    assert audit.actor_id == buyer.id and audit.object_id == str(body["id"])

    assert client.delete(f"/api/v1/me/tokens/{body['id']}", headers=login).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(body["token"])).status_code == 401


def test_token_input_is_checked(client: TestClient) -> None:
    login = api_token(client, factories.user(Role.BUYER).email)
    for bad in (
        {"name": "x", "expires_in_days": 0},
        {"name": "x", "expires_in_days": 366},
        {"name": "", "expires_in_days": 5},
        {"name": "x"},
        {"name": "x", "expires_in_days": 5, "scope": "all"},
    ):
        response = client.post("/api/v1/me/tokens", json=bad, headers=login)
        assert response.status_code == 422, bad
    assert client.post("/api/v1/me/tokens", json={"name": "x", "expires_in_days": 5}).status_code == 401


def test_a_personal_token_outlives_the_staff_session_cap(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    login = api_token(client, officer.email)
    created = client.post("/api/v1/me/tokens", json={"name": "kế toán", "expires_in_days": 30}, headers=login)
    assert created.status_code == 201, created.text
    hours = get_settings().session_hours_staff + 1
    with session_scope() as session:
        ago = utcnow() - timedelta(hours=hours)
        session.exec(
            update(ApiToken).values(created_at=ago, last_used_at=ago, authenticated_at=ago)  # type: ignore[call-overload]
        )
        session.commit()
        assert credentials.purge(session, utcnow()) == 1  # the login token, not the personal one
        session.commit()
    assert client.get("/api/v1/me", headers=_bearer(created.json()["token"])).status_code == 200
    assert client.get("/api/v1/me", headers=login).status_code == 401


def test_staff_need_a_recent_password_to_create_a_token(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    login = api_token(client, officer.email)
    _stale(ApiToken, "authenticated_at")
    refused = client.post("/api/v1/me/tokens", json={"name": "x", "expires_in_days": 1}, headers=login)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "reauthentication_required"
    assert (
        client.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD}, headers=login).status_code
        == 204
    )
    assert (
        client.post("/api/v1/me/tokens", json={"name": "x", "expires_in_days": 1}, headers=login).status_code
        == 201
    )

    buyer_login = api_token(client, factories.user(Role.BUYER).email)
    _stale(ApiToken, "authenticated_at")
    created = client.post("/api/v1/me/tokens", json={"name": "x", "expires_in_days": 1}, headers=buyer_login)
    assert created.status_code == 201


def test_nobody_sees_or_revokes_another_users_token(client: TestClient) -> None:
    owners = [factories.user(Role.BUYER), factories.staff()[1], factories.staff("agency")[1]]
    logins = [api_token(client, owner.email) for owner in owners]
    made = [
        client.post("/api/v1/me/tokens", json={"name": f"t{i}", "expires_in_days": 7}, headers=login).json()[
            "id"
        ]
        for i, login in enumerate(logins)
    ]
    for i, login in enumerate(logins):
        visible = {row["id"] for row in client.get("/api/v1/me/tokens", headers=login).json()}
        assert made[i] in visible
        for j, token_id in enumerate(made):
            if i == j:
                continue
            assert token_id not in visible
            response = client.delete(f"/api/v1/me/tokens/{token_id}", headers=login)
            assert response.status_code == 404
    for i, login in enumerate(logins):
        assert made[i] in {row["id"] for row in client.get("/api/v1/me/tokens", headers=login).json()}


def test_page_creates_a_token_shown_once(make_client: Callable[[], TestClient]) -> None:
    buyer_browser, other_browser = make_client(), make_client()
    buyer = factories.user(Role.BUYER)
    page_login(buyer_browser, buyer.email)
    security_page = buyer_browser.get("/account/security")
    assert 'action="/account/tokens"' in security_page.text
    form = {
        "name": "Máy tính bảng",
        "expires_in_days": "14",
        "csrf_token": page_csrf(buyer_browser, "/account/security"),
    }
    assert buyer_browser.post("/account/tokens", data={**form, "csrf_token": "forged"}).status_code == 403
    shown = buyer_browser.post("/account/tokens", data=form)
    assert shown.status_code == 200
    token = _NEW_TOKEN.search(shown.text).group(1)  # type: ignore[union-attr]
    assert buyer_browser.get("/api/v1/me", headers=_bearer(token)).json()["email"] == buyer.email
    again = buyer_browser.get("/account/security")
    assert "Máy tính bảng" in again.text and token not in again.text

    bad = buyer_browser.post("/account/tokens", data={**form, "expires_in_days": "400"})
    assert bad.status_code == 422 and "365" in bad.text

    # Another user cannot revoke it from their page.
    token_id = buyer_browser.get("/api/v1/me/tokens", headers=_bearer(token)).json()[0]["id"]
    other = factories.user(Role.BUYER)
    page_login(other_browser, other.email)
    csrf = page_csrf(other_browser, "/account/security")
    assert (
        other_browser.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 404
    )
    assert buyer_browser.get("/api/v1/me", headers=_bearer(token)).status_code == 200


def test_staff_page_asks_for_the_password_before_a_token(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    assert page_login(client, officer.email).status_code == 303
    _stale(UserSession, "reauthenticated_at")
    form = {"name": "báo cáo", "expires_in_days": "7", "csrf_token": page_csrf(client, "/account/security")}
    refused = client.post("/account/tokens", data=form)
    assert refused.status_code == 401 and 'action="/reauth"' in refused.text
    client.post("/reauth", data={"password": PASSWORD, "csrf_token": page_csrf(client, "/reauth")})
    assert _NEW_TOKEN.search(client.post("/account/tokens", data=form).text)
