"""Session and token lifetimes, listing and revoking one's own, and re-authentication before
sensitive actions (issue 5 item 6)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, select

from choso.db import session_scope, utcnow
from choso.settings import get_settings
from market.models import ApiToken, Role, User, UserSession
from tests.support import (
    PASSWORD,
    api_register,
    api_token,
    buyer_payload,
    make_operator,
    page_csrf,
    page_login,
)
from web.deps import api_reauthenticated, page_reauthenticated
from web.pages import router as pages_router


def age(model: type[UserSession] | type[ApiToken], **ago: timedelta) -> None:
    """Move the credentials' times into the past, as if that much time had gone by."""
    with session_scope() as session:
        now = utcnow()
        session.exec(update(model).values({column: now - delta for column, delta in ago.items()}))  # type: ignore[call-overload]
        session.commit()


def logged_in(client: TestClient) -> bool:
    return client.get("/account", follow_redirects=False).status_code == 200


# --- idle timeout and absolute cap ----------------------------------------------------------


def test_operator_session_ends_after_30_idle_minutes(client: TestClient) -> None:
    make_operator()
    page_login(client, "ops@example.vn")
    age(UserSession, last_seen_at=timedelta(minutes=29))
    assert logged_in(client)
    age(UserSession, last_seen_at=timedelta(minutes=31))
    assert not logged_in(client)


def test_buyer_session_survives_30_idle_minutes_but_not_its_own_timeout(client: TestClient) -> None:
    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    age(UserSession, last_seen_at=timedelta(minutes=31))
    assert logged_in(client)
    age(UserSession, last_seen_at=timedelta(minutes=get_settings().session_idle_minutes + 1))
    assert not logged_in(client)


def test_activity_keeps_a_session_alive_but_not_past_its_cap(client: TestClient, db: Session) -> None:
    make_operator()
    page_login(client, "ops@example.vn")
    age(UserSession, last_seen_at=timedelta(minutes=20))
    assert logged_in(client)  # this use is recorded…
    db.rollback()
    assert utcnow() - db.exec(select(UserSession.last_seen_at)).one() < timedelta(minutes=1)
    age(UserSession, created_at=timedelta(hours=get_settings().session_hours_staff, minutes=1))
    assert not logged_in(client)  # …but the absolute cap holds whatever the activity


def test_session_cookie_lives_no_longer_than_the_cap(client: TestClient) -> None:
    api_register(client, buyer_payload())
    response = page_login(client, "lan@example.vn")
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("choso_session="))
    assert f"Max-Age={get_settings().session_days * 24 * 3600}" in cookie


def test_api_token_idle_and_absolute_limits(client: TestClient) -> None:
    api_register(client, buyer_payload())
    headers = api_token(client, "lan@example.vn")
    age(ApiToken, last_used_at=timedelta(days=get_settings().api_token_idle_days - 1))
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    age(ApiToken, last_used_at=timedelta(days=get_settings().api_token_idle_days, minutes=1))
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    fresh = api_token(client, "lan@example.vn")
    age(ApiToken, created_at=timedelta(days=get_settings().api_token_days, minutes=1))
    assert client.get("/api/v1/me", headers=fresh).status_code == 401


def test_operator_tokens_follow_the_staff_limits(client: TestClient) -> None:
    make_operator()
    headers = api_token(client, "ops@example.vn")
    age(ApiToken, last_used_at=timedelta(minutes=31))
    assert client.get("/api/v1/me", headers=headers).status_code == 401


# --- listing and revoking one's own ---------------------------------------------------------


def test_user_lists_and_ends_own_sessions_on_the_page(make_client: Any, db: Session) -> None:
    phone, laptop = make_client(), make_client()
    api_register(phone, buyer_payload())
    page_login(phone, "lan@example.vn")
    page_login(laptop, "lan@example.vn")
    page = laptop.get("/account/security")
    assert page.status_code == 200
    assert page.text.count('/end"') == 1  # the other session can be ended; this one is marked
    db.rollback()
    phone_session = db.exec(select(UserSession).order_by(UserSession.id)).first()
    token = page_csrf(laptop, "/account/security")
    ended = laptop.post(f"/account/sessions/{phone_session.id}/end", data={"csrf_token": token})
    assert ended.status_code == 200
    assert not logged_in(phone)
    assert logged_in(laptop)


def test_end_all_other_sessions(make_client: Any) -> None:
    browsers = [make_client() for _ in range(3)]
    api_register(browsers[0], buyer_payload())
    for browser in browsers:
        page_login(browser, "lan@example.vn")
    token = page_csrf(browsers[2], "/account/security")
    browsers[2].post("/account/sessions/end-others", data={"csrf_token": token})
    assert [logged_in(browser) for browser in browsers] == [False, False, True]


def test_user_lists_and_revokes_own_tokens_through_the_api(client: TestClient) -> None:
    api_register(client, buyer_payload())
    laptop, script = api_token(client, "lan@example.vn"), api_token(client, "lan@example.vn")
    listed = client.get("/api/v1/me/tokens", headers=laptop).json()
    assert len(listed) == 2
    assert sum(token["current"] for token in listed) == 1
    assert "token_hash" not in str(listed)
    other = next(token for token in listed if not token["current"])
    assert client.delete(f"/api/v1/me/tokens/{other['id']}", headers=laptop).status_code == 204
    assert client.get("/api/v1/me", headers=script).status_code == 401
    assert client.get("/api/v1/me", headers=laptop).status_code == 200


def test_api_lists_and_ends_browser_sessions(client: TestClient) -> None:
    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    headers = api_token(client, "lan@example.vn")
    [browser] = client.get("/api/v1/me/sessions", headers=headers).json()
    assert browser["user_agent"] == "testclient"
    assert client.delete(f"/api/v1/me/sessions/{browser['id']}", headers=headers).status_code == 204
    assert not logged_in(client)


def test_nobody_can_end_someone_elses_sessions_or_tokens(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    api_register(client, buyer_payload(email="minh@example.vn"))
    page_login(client, "lan@example.vn")
    lans_token = api_token(client, "lan@example.vn")
    minh = api_token(client, "minh@example.vn")
    db.rollback()
    lans_session = db.exec(select(UserSession)).one()
    lans_token_id = db.exec(select(ApiToken.id).order_by(ApiToken.id)).first()
    assert client.delete(f"/api/v1/me/sessions/{lans_session.id}", headers=minh).status_code == 404
    assert client.delete(f"/api/v1/me/tokens/{lans_token_id}", headers=minh).status_code == 404
    assert logged_in(client)
    assert client.get("/api/v1/me", headers=lans_token).status_code == 200


# --- re-authentication before sensitive actions ---------------------------------------------


@pytest.fixture
def sensitive_app(app: FastAPI) -> FastAPI:
    """The app with routes that use the re-authentication dependencies, as payments will."""
    pages = APIRouter()

    @pages.get("/test-sensitive")
    def sensitive_page(user: Annotated[User, Depends(page_reauthenticated())]) -> dict[str, str]:
        return {"ok": user.email}

    @pages.post("/test-sensitive")
    def sensitive_form(user: Annotated[User, Depends(page_reauthenticated(Role.BUYER))]) -> dict[str, str]:
        return {"ok": user.email}

    api = APIRouter()

    @api.post("/api/v1/test-sensitive")
    def sensitive_api(user: Annotated[User, Depends(api_reauthenticated())]) -> dict[str, str]:
        return {"ok": user.email}

    before = len(app.router.routes)
    app.include_router(pages, dependencies=pages_router.dependencies)
    app.include_router(api)
    # ahead of the site's own routes, so that no catch-all page path takes them
    app.router.routes[:] = app.router.routes[before:] + app.router.routes[:before]
    return app


@pytest.fixture
def browser(sensitive_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(sensitive_app, base_url="http://testserver") as test_client:
        api_register(test_client, buyer_payload())
        page_login(test_client, "lan@example.vn")
        yield test_client


def test_fresh_login_may_do_sensitive_actions(browser: TestClient) -> None:
    assert browser.get("/test-sensitive").json() == {"ok": "lan@example.vn"}


def test_stale_session_is_sent_to_reauthenticate_and_back(browser: TestClient) -> None:
    age(UserSession, reauthenticated_at=timedelta(minutes=get_settings().reauth_minutes + 1))
    response = browser.get("/test-sensitive", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/reauth?next=/test-sensitive"
    form = browser.get("/reauth?next=/test-sensitive")
    assert form.status_code == 200
    wrong = browser.post(
        "/reauth",
        data={
            "password": "nope-nope",
            "next": "/test-sensitive",
            "csrf_token": page_csrf(browser, "/reauth"),
        },
    )
    assert wrong.status_code == 401
    done = browser.post(
        "/reauth",
        data={"password": PASSWORD, "next": "/test-sensitive", "csrf_token": page_csrf(browser, "/reauth")},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/test-sensitive"
    assert browser.get("/test-sensitive").json() == {"ok": "lan@example.vn"}


def test_stale_session_form_gets_401_with_the_password_form(browser: TestClient) -> None:
    age(UserSession, reauthenticated_at=timedelta(minutes=get_settings().reauth_minutes + 1))
    token = page_csrf(browser, "/account")
    response = browser.post(
        "/test-sensitive",
        data={"csrf_token": token},
        headers={"Referer": "http://testserver/account?tab=bank"},
    )
    assert response.status_code == 401
    assert 'action="/reauth"' in response.text
    assert 'name="next" value="/account?tab=bank"' in response.text


def test_reauthentication_is_rate_limited_like_a_login(browser: TestClient) -> None:
    age(UserSession, reauthenticated_at=timedelta(hours=1))
    statuses = []
    for _ in range(get_settings().login_max_failures + 1):
        token = page_csrf(browser, "/reauth")
        statuses.append(
            browser.post("/reauth", data={"password": "nope-nope", "csrf_token": token}).status_code
        )
    assert statuses[-1] == 429
    token = page_csrf(browser, "/reauth")
    assert browser.post("/reauth", data={"password": PASSWORD, "csrf_token": token}).status_code == 429


def test_stale_api_token_gets_a_step_up_challenge_and_can_reauthenticate(sensitive_app: FastAPI) -> None:
    with TestClient(sensitive_app, base_url="http://testserver") as api:
        api_register(api, buyer_payload())
        headers = api_token(api, "lan@example.vn")
        assert api.post("/api/v1/test-sensitive", headers=headers).status_code == 200
        age(ApiToken, authenticated_at=timedelta(minutes=get_settings().reauth_minutes + 1))
        refused = api.post("/api/v1/test-sensitive", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "reauthentication_required"
        challenge = refused.headers["WWW-Authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert f'max_age="{get_settings().reauth_minutes * 60}"' in challenge
        wrong = api.post("/api/v1/auth/reauthenticate", json={"password": "nope-nope"}, headers=headers)
        assert wrong.status_code == 401
        ok = api.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD}, headers=headers)
        assert ok.status_code == 204
        assert api.post("/api/v1/test-sensitive", headers=headers).status_code == 200
