"""Registration, tokens and the login rate limit through the JSON API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from choso.settings import get_settings
from market.models import ApiToken, Organisation, User
from tests.support import (
    PASSWORD,
    VALID_TAX_CODES,
    api_register,
    api_token,
    buyer_payload,
    producer_payload,
)


def count(db: Session, model: type) -> int:
    db.rollback()  # see rows committed by the app since this session's last read
    return db.exec(select(func.count()).select_from(model)).one()


def test_buyer_registers_and_reads_own_profile(client: TestClient) -> None:
    body = api_register(client, buyer_payload(email="Lan@Example.VN"))
    assert body["email"] == "lan@example.vn"
    assert body["role"] == "buyer"
    assert body["place"] == "Phường Hạc Thành, Thanh Hóa"
    assert "password" not in str(body).lower()

    headers = api_token(client, "LAN@example.vn")
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]


def test_password_is_stored_as_argon2id(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    user = db.exec(select(User)).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_producer_registers_with_business_and_tax_code(client: TestClient, db: Session) -> None:
    body = api_register(client, producer_payload(tax_code="0100233583-001"))
    assert body["role"] == "producer"
    assert body["organisation"]["tax_code"] == "0100233583-001"
    organisation = db.exec(select(Organisation)).one()
    assert organisation.tax_code == "0100233583001"
    assert organisation.kind == "producer"


def test_invalid_tax_code_is_a_clear_422_and_creates_nothing(client: TestClient, db: Session) -> None:
    response = client.post("/api/v1/auth/register", json=producer_payload(tax_code="0100233584"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == "tax_code"
    assert "tax code" in error["message"].lower() or "mã số thuế" in error["message"].lower()
    assert count(db, User) == 0
    assert count(db, Organisation) == 0


def test_producer_without_tax_code_is_refused(client: TestClient, db: Session) -> None:
    payload = producer_payload()
    del payload["tax_code"]
    response = client.post("/api/v1/auth/register", json=payload, headers={"Accept-Language": "vi"})
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert "mã số thuế" in detail["message"]  # our validator's own message, translated
    assert count(db, User) == 0


def test_duplicate_email_and_tax_code_are_conflicts(client: TestClient, db: Session) -> None:
    api_register(client, producer_payload())
    again = client.post("/api/v1/auth/register", json=buyer_payload(email="HTX@example.vn"))
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "email"
    same_business = client.post(
        "/api/v1/auth/register", json=producer_payload(email="other@example.vn", tax_code=VALID_TAX_CODES[0])
    )
    assert same_business.status_code == 409
    assert same_business.json()["error"]["field"] == "tax_code"
    assert count(db, User) == 1
    assert count(db, Organisation) == 1


def test_privileged_roles_cannot_be_self_registered(client: TestClient, db: Session) -> None:
    for role in ("operator", "agency_officer"):
        response = client.post("/api/v1/auth/register", json=buyer_payload(role=role))
        assert response.status_code == 403, role
    assert client.post("/api/v1/auth/register", json=buyer_payload(role="king")).status_code == 422
    assert count(db, User) == 0


def test_ward_must_belong_to_province(client: TestClient, db: Session) -> None:
    hanoi_ward = 70  # Phường Hoàn Kiếm, Hà Nội
    response = client.post(
        "/api/v1/auth/register", json=buyer_payload(address={"province_code": 38, "ward_code": hanoi_ward})
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "ward_code"
    assert count(db, User) == 0


def test_weak_and_oversized_passwords_are_refused(client: TestClient, db: Session) -> None:
    for password in ("short", "x" * 129, "aaaaaaaaaa", "lan@example.vn"):
        response = client.post("/api/v1/auth/register", json=buyer_payload(password=password))
        assert response.status_code == 422, password
    assert count(db, User) == 0


def test_wrong_password_is_401_without_saying_which_part_was_wrong(client: TestClient) -> None:
    api_register(client, buyer_payload())
    wrong_password = client.post(
        "/api/v1/auth/token", json={"email": "lan@example.vn", "password": "nope-nope"}
    )
    unknown_user = client.post(
        "/api/v1/auth/token", json={"email": "who@example.vn", "password": "nope-nope"}
    )
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json()["error"]["message"] == unknown_user.json()["error"]["message"]


def test_failed_logins_are_rate_limited_even_for_the_right_password(client: TestClient) -> None:
    api_register(client, buyer_payload())
    limit = get_settings().login_max_failures
    for _ in range(limit):
        response = client.post(
            "/api/v1/auth/token", json={"email": "lan@example.vn", "password": "guess-guess"}
        )
        assert response.status_code == 401
    blocked = client.post("/api/v1/auth/token", json={"email": "lan@example.vn", "password": PASSWORD})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json()["error"]["code"] == "rate_limited"
    # another account from the same address is not locked by this one
    api_register(client, buyer_payload(email="minh@example.vn"))
    assert (
        client.post("/api/v1/auth/token", json={"email": "minh@example.vn", "password": PASSWORD}).status_code
        == 200
    )


def test_failures_per_address_are_limited_across_accounts(client: TestClient, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "login_max_failures_per_ip", 3)
    api_register(client, buyer_payload())
    for index in range(3):
        response = client.post(
            "/api/v1/auth/token", json={"email": f"x{index}@example.vn", "password": "guess-guess"}
        )
        assert response.status_code == 401
    blocked = client.post("/api/v1/auth/token", json={"email": "lan@example.vn", "password": PASSWORD})
    assert blocked.status_code == 429


def test_successful_login_resets_the_account_counter(client: TestClient) -> None:
    api_register(client, buyer_payload())
    limit = get_settings().login_max_failures
    for _ in range(limit - 1):
        client.post("/api/v1/auth/token", json={"email": "lan@example.vn", "password": "guess-guess"})
    api_token(client, "lan@example.vn")
    for _ in range(limit - 1):
        assert (
            client.post(
                "/api/v1/auth/token", json={"email": "lan@example.vn", "password": "guess-guess"}
            ).status_code
            == 401
        )
    api_token(client, "lan@example.vn")


def test_logout_revokes_the_token(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    headers = api_token(client, "lan@example.vn")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    token = db.exec(select(ApiToken)).one()
    assert token.revoked_at is not None
    assert token.token_hash not in headers["Authorization"]  # only the digest is stored


def test_api_ignores_session_cookies(client: TestClient) -> None:
    """A browser's cookie must never authorise an API call (the API has no CSRF check)."""
    api_register(client, buyer_payload())
    from tests.support import page_login

    assert page_login(client, "lan@example.vn").status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_malformed_tokens_are_401(client: TestClient) -> None:
    for header in ("Bearer", "Bearer ", "Basic abc", "Bearer chs_not-a-real-token", "bearer  x y"):
        assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401, header
