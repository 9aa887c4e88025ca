"""Roles: who may reach which page and endpoint; operators create agency officers."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market.models import Organisation, User
from tests.support import (
    PASSWORD,
    WARD_HAC_THANH,
    api_register,
    api_token,
    buyer_payload,
    make_operator,
    page_csrf,
    page_login,
    producer_payload,
)

OFFICER = {
    "email": "canbo@example.vn",
    "password": PASSWORD,
    "full_name": "Lê Văn Hùng",
    "agency_name": "Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa",
    "address": {"ward_code": WARD_HAC_THANH, "street": "28 Đại lộ Lê Lợi"},
}


def test_buyer_and_producer_get_403_on_operator_page(client: TestClient) -> None:
    api_register(client, buyer_payload())
    api_register(client, producer_payload())
    for email in ("lan@example.vn", "htx@example.vn"):
        client.cookies.clear()
        page_login(client, email)
        response = client.get("/operator")
        assert response.status_code == 403, email
        assert "Vận hành" not in response.text or "403" in response.text


def test_anonymous_visitor_is_sent_to_login_for_operator_page(client: TestClient) -> None:
    response = client.get("/operator", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/operator"


def test_operator_reaches_operator_page(client: TestClient) -> None:
    make_operator()
    page_login(client, "ops@example.vn")
    response = client.get("/operator")
    assert response.status_code == 200
    assert 'action="/operator/agency-officers"' in response.text


def test_operator_api_refuses_other_roles(client: TestClient) -> None:
    api_register(client, buyer_payload())
    buyer = api_token(client, "lan@example.vn")
    assert client.get("/api/v1/operator/users", headers=buyer).status_code == 403
    assert client.post("/api/v1/operator/agency-officers", json=OFFICER, headers=buyer).status_code == 403
    assert client.get("/api/v1/operator/users").status_code == 401


def test_operator_creates_agency_officer_via_api(client: TestClient, db: Session) -> None:
    make_operator()
    operator = api_token(client, "ops@example.vn")
    response = client.post("/api/v1/operator/agency-officers", json=OFFICER, headers=operator)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["role"] == "agency_officer"
    assert body["organisation"]["kind"] == "agency"
    # the officer can log in and is an officer, not an operator
    officer = api_token(client, "canbo@example.vn")
    assert client.get("/api/v1/me", headers=officer).json()["role"] == "agency_officer"
    assert client.get("/api/v1/operator/users", headers=officer).status_code == 403
    users = client.get("/api/v1/operator/users", headers=operator, params={"role": "agency_officer"}).json()
    assert [u["email"] for u in users] == ["canbo@example.vn"]


def test_second_officer_joins_existing_agency(client: TestClient, db: Session) -> None:
    make_operator()
    operator = api_token(client, "ops@example.vn")
    client.post("/api/v1/operator/agency-officers", json=OFFICER, headers=operator)
    second = {**OFFICER, "email": "canbo2@example.vn", "full_name": "Nguyễn Thị Hạnh"}
    assert client.post("/api/v1/operator/agency-officers", json=second, headers=operator).status_code == 201
    agencies = db.exec(select(Organisation).where(Organisation.kind == "agency")).all()
    assert len(agencies) == 1
    officers = db.exec(select(User).where(User.organisation_id == agencies[0].id)).all()
    assert len(officers) == 2


def test_operator_creates_agency_officer_via_page(client: TestClient, db: Session) -> None:
    make_operator()
    page_login(client, "ops@example.vn")
    token = page_csrf(client, "/operator")
    form = {
        "csrf_token": token,
        "agency_name": "Ủy ban nhân dân phường Sầm Sơn",
        "full_name": "Nguyễn Thị Hạnh",
        "email": "hanh@example.vn",
        "password": PASSWORD,
        "ward_code": str(WARD_HAC_THANH),
    }
    response = client.post("/operator/agency-officers", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert db.exec(select(User).where(User.email == "hanh@example.vn")).one().role == "agency_officer"
    bad = client.post(
        "/operator/agency-officers", data={**form, "email": "hanh2@example.vn", "ward_code": "x"}
    )
    assert bad.status_code == 422
    assert db.exec(select(User).where(User.email == "hanh2@example.vn")).first() is None


def test_operator_form_needs_csrf(client: TestClient, db: Session) -> None:
    make_operator()
    page_login(client, "ops@example.vn")
    form = {
        "agency_name": "UBND",
        "full_name": "A B",
        "email": "x@example.vn",
        "password": PASSWORD,
        "ward_code": "1",
    }
    assert client.post("/operator/agency-officers", data=form).status_code == 403
    assert db.exec(select(User).where(User.email == "x@example.vn")).first() is None
