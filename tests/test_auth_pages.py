"""Registration, login and logout through the pages, with CSRF protection."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from choso.settings import get_settings
from market import notifications
from market.models import Notification, User, UserSession
from tests.conftest import eventually
from tests.support import PASSWORD, WARD_HAC_THANH, api_register, buyer_payload, page_csrf, page_login

FORM = {
    "role": "buyer",
    "full_name": "Trần Văn Minh",
    "email": "minh@example.vn",
    "phone": "0912 345 678",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
    "ward_code": str(WARD_HAC_THANH),
    "street": "10 Trần Phú",
}


def users(db: Session) -> int:
    db.rollback()
    return db.exec(select(func.count()).select_from(User)).one()


def test_register_page_creates_account_logs_in_and_welcomes(client: TestClient, db: Session) -> None:
    token = page_csrf(client, "/register")
    response = client.post("/register", data={**FORM, "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert "httponly" in response.headers["set-cookie"].lower()

    account = client.get("/account")
    assert account.status_code == 200
    assert "Trần Văn Minh" in account.text
    assert "Phường Hạc Thành" in account.text

    # the welcome notification is written by a background job, after the commit
    def welcome() -> Notification | None:
        db.rollback()
        return db.exec(select(Notification).where(Notification.kind == "welcome")).first()

    notification = eventually(welcome)
    assert notification.params == {"name": "Trần Văn Minh"}
    assert notifications.render(notification) in client.get("/account").text


def test_register_page_shows_field_errors_and_keeps_input(client: TestClient, db: Session) -> None:
    token = page_csrf(client, "/register")
    form = {**FORM, "email": "not-an-email", "password_confirm": PASSWORD, "csrf_token": token}
    response = client.post("/register", data=form)
    assert response.status_code == 422
    assert 'value="Trần Văn Minh"' in response.text
    assert 'class="error"' in response.text
    assert users(db) == 0


def test_register_page_producer_with_bad_tax_code(client: TestClient, db: Session) -> None:
    token = page_csrf(client, "/register")
    form = {**FORM, "role": "producer", "organisation_name": "HTX Cam Vân Du", "tax_code": "1234567890"}
    response = client.post("/register", data={**form, "csrf_token": token})
    assert response.status_code == 422
    assert 'value="1234567890"' in response.text
    assert users(db) == 0


def test_register_page_password_confirmation_must_match(client: TestClient, db: Session) -> None:
    token = page_csrf(client, "/register")
    response = client.post(
        "/register", data={**FORM, "password_confirm": "Khác-hẳn-2026", "csrf_token": token}
    )
    assert response.status_code == 422
    assert users(db) == 0


def test_login_and_logout(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    response = page_login(client, "lan@example.vn")
    assert response.status_code == 303
    assert client.get("/account").status_code == 200

    token = page_csrf(client, "/account")
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    assert client.get("/account", follow_redirects=False).status_code == 303
    db.rollback()
    assert db.exec(select(func.count()).select_from(UserSession)).one() == 0


def test_login_page_wrong_password(client: TestClient) -> None:
    api_register(client, buyer_payload())
    response = page_login(client, "lan@example.vn", "wrong-password")
    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_login_page_rate_limit(client: TestClient) -> None:
    api_register(client, buyer_payload())
    for _ in range(get_settings().login_max_failures):
        assert page_login(client, "lan@example.vn", "wrong-password").status_code == 401
    blocked = page_login(client, "lan@example.vn")
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_post_without_csrf_token_is_rejected_and_changes_nothing(client: TestClient, db: Session) -> None:
    client.get("/register")  # has the CSRF cookie, but does not send the token
    response = client.post("/register", data=FORM)
    assert response.status_code == 403
    assert users(db) == 0


def test_csrf_token_from_another_browser_is_rejected(
    make_client: Callable[[], TestClient], db: Session
) -> None:
    attacker, victim = make_client(), make_client()
    attackers_token = page_csrf(attacker, "/register")
    victim.get("/register")
    response = victim.post("/register", data={**FORM, "csrf_token": attackers_token})
    assert response.status_code == 403
    assert users(db) == 0


def test_forged_csrf_cookie_and_token_pair_is_rejected(
    make_client: Callable[[], TestClient], db: Session
) -> None:
    browser = make_client()
    browser.cookies.set("choso_csrf", "a-seed-the-attacker-chose-123")
    response = browser.post("/register", data={**FORM, "csrf_token": "a-seed-the-attacker-chose-123"})
    assert response.status_code == 403
    assert users(db) == 0


def test_logout_requires_csrf(client: TestClient) -> None:
    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    assert client.post("/logout", follow_redirects=False).status_code == 403
    assert client.get("/account").status_code == 200  # still logged in


def test_login_redirects_only_within_the_site(client: TestClient) -> None:
    api_register(client, buyer_payload())
    for target, expected in (
        ("/products?page=2", "/products?page=2"),
        ("//evil.example", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
    ):
        client.cookies.clear()
        token = page_csrf(client, "/login")
        response = client.post(
            "/login",
            data={"email": "lan@example.vn", "password": PASSWORD, "csrf_token": token, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == expected, target


def test_pages_needing_login_redirect_to_login(client: TestClient) -> None:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account"


def test_expired_session_is_not_accepted(client: TestClient, db: Session) -> None:
    from datetime import timedelta

    from choso.db import utcnow

    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    row = db.exec(select(UserSession)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_login_replaces_the_previous_session_and_csrf_seed(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    first_session = client.cookies["choso_session"]
    seed_before = client.cookies["choso_csrf"]
    response = page_login(client, "lan@example.vn")
    assert response.status_code == 303
    assert client.cookies["choso_session"] != first_session
    assert client.cookies["choso_csrf"] != seed_before
    db.rollback()
    assert db.exec(select(func.count()).select_from(UserSession)).one() == 1  # the old one ended


def test_login_switches_to_the_users_language(client: TestClient) -> None:
    api_register(client, buyer_payload(locale="en"))
    page_login(client, "lan@example.vn")
    page = client.get("/account")
    assert '<html lang="en">' in page.text
    assert "My account" in page.text


def test_csrf_token_may_come_in_a_header(client: TestClient) -> None:
    api_register(client, buyer_payload())
    page_login(client, "lan@example.vn")
    token = page_csrf(client, "/account")
    response = client.post("/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/account", follow_redirects=False).status_code == 303
