"""Bad input anywhere gives a clear 4xx in one shape and changes nothing; never a 500."""

from __future__ import annotations

import string

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import Session, select

from market.models import User
from tests.support import api_register, buyer_payload


def assert_error_shape(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/register", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error_shape(response, 422)


def test_json_of_the_wrong_type_is_422(client: TestClient) -> None:
    for body in ([], "text", 42, None, {"email": ["a"]}):
        response = client.post("/api/v1/auth/register", json=body)
        error = assert_error_shape(response, 422)
        assert error["details"], body


def test_unknown_fields_are_refused(client: TestClient) -> None:
    error = assert_error_shape(client.post("/api/v1/auth/register", json=buyer_payload(is_admin=True)), 422)
    assert any(detail["field"] == "is_admin" for detail in error["details"])


def test_unknown_api_route_is_json_404_and_unknown_page_is_html_404(client: TestClient) -> None:
    assert_error_shape(client.get("/api/v1/nothing-here"), 404)
    page = client.get("/nothing-here")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")


def test_wrong_method_is_405(client: TestClient) -> None:
    assert_error_shape(client.delete("/api/v1/me"), 405)


def test_bad_query_parameters_are_422(client: TestClient) -> None:
    for params in ({"limit": 0}, {"limit": 10_000}, {"offset": -1}, {"limit": "many"}, {"q": "x" * 101}):
        assert_error_shape(client.get("/api/v1/products", params=params), 422)
    assert client.get("/products", params={"page": 0}).status_code == 422
    assert client.get("/products/not-a-number").status_code == 422


def test_huge_ids_are_404_not_500(client: TestClient) -> None:
    assert_error_shape(client.get("/api/v1/products/99999999999999999999"), 422)
    assert_error_shape(client.get("/api/v1/products/2147483647"), 404)


def test_errors_are_translated_by_accept_language(client: TestClient) -> None:
    vi = client.get("/api/v1/me", headers={"Accept-Language": "vi-VN,vi;q=0.9"}).json()["error"]["message"]
    en = client.get("/api/v1/me", headers={"Accept-Language": "en-US,en;q=0.9"}).json()["error"]["message"]
    assert en == "A valid API token is required."
    assert vi != en


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)
registration_like = st.fixed_dictionaries(
    {},
    optional={
        "email": st.one_of(st.emails(), st.text(max_size=40)),
        "password": st.text(max_size=40),
        "full_name": st.text(max_size=40),
        "role": st.sampled_from(["buyer", "producer", "operator", "agency_officer", "x"]),
        "tax_code": st.text(alphabet=string.digits + "-", max_size=16),
        "organisation_name": st.text(max_size=20),
        "phone": st.text(max_size=25),
        "address": st.one_of(
            json_values, st.fixed_dictionaries({"ward_code": st.integers(), "province_code": st.integers()})
        ),
        "locale": st.text(max_size=3),
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=registration_like)
def test_registration_never_answers_5xx(client: TestClient, payload: dict) -> None:
    response = client.post("/api/v1/auth/register", json=payload)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]["message"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_token_endpoint_never_answers_5xx(client: TestClient, body: object) -> None:
    response = client.post("/api/v1/auth/token", json=body)
    assert 400 <= response.status_code < 500


def test_rejected_request_changes_nothing(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    before = db.exec(select(func.count()).select_from(User)).one()
    client.post("/api/v1/auth/register", json=buyer_payload(email="second@example.vn", password="x"))
    client.post("/api/v1/auth/register", json=buyer_payload(email="lan@example.vn"))
    db.rollback()
    assert db.exec(select(func.count()).select_from(User)).one() == before


def test_oversized_body_is_413_before_it_is_read(client: TestClient, db: Session) -> None:
    big = "x" * (1024 * 1024 + 1)
    assert_error_shape(
        client.post("/api/v1/auth/register", content=big, headers={"Content-Type": "application/json"}), 413
    )
    page = client.post("/register", data={"full_name": big})
    assert page.status_code == 413
    assert db.exec(select(func.count()).select_from(User)).one() == 0


def test_pages_carry_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Language"] == "vi"


def test_malformed_form_bodies_are_4xx(client: TestClient) -> None:
    client.get("/login")
    bodies = [
        ("multipart/form-data", b"garbage"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nbroken"),
        ("application/x-www-form-urlencoded", b"%%%=&&=%zz"),
        ("text/plain", b"email=a"),
    ]
    for path in ("/login", "/register", "/logout"):
        for content_type, body in bodies:
            response = client.post(path, content=body, headers={"Content-Type": content_type})
            assert 400 <= response.status_code < 500, (path, content_type, response.status_code)


def test_control_characters_are_refused_with_422_on_every_backend(client: TestClient, db: Session) -> None:
    """PostgreSQL cannot store NUL in text; such input must be a clear 422, never a driver error."""
    for payload in (
        buyer_payload(full_name="Lan\x00"),
        buyer_payload(address={"ward_code": 14797, "street": "12\x00 Lê Hoàn"}),
        buyer_payload(role="producer", organisation_name="HTX\x00", tax_code="0100233583"),
    ):
        error = assert_error_shape(client.post("/api/v1/auth/register", json=payload), 422)
        assert error["details"]
    assert_error_shape(client.post("/api/v1/auth/token", json={"email": "a\x00@b.vn", "password": "x"}), 422)
    assert_error_shape(client.get("/api/v1/products", params={"q": "nem\x00"}), 422)
    assert_error_shape(client.get("/api/v1/products", params={"category": "\x00"}), 422)
    assert client.get("/products", params={"q": "\x00"}).status_code == 422
    db.rollback()
    assert db.exec(select(func.count()).select_from(User)).one() == 0


def test_control_characters_in_login_form_do_not_break_login(client: TestClient) -> None:
    api_register(client, buyer_payload())
    from tests.support import page_csrf

    token = page_csrf(client, "/login")
    response = client.post(
        "/login",
        data={"email": "lan@example.vn\x00", "password": "wrong-password", "csrf_token": token},
    )
    assert response.status_code == 401
