"""The demo market: realistic, valid, and loaded only once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select
from stdnum.vn import mst

from market import demo
from market.models import Organisation, Product, User
from tests.support import api_token


def test_demo_loads_a_valid_thanh_hoa_market_once(client: TestClient, db: Session) -> None:
    assert demo.load() is True
    assert demo.load() is False

    users = db.exec(select(User)).all()
    assert {u.role for u in users} == {"operator", "agency_officer", "producer", "buyer"}
    assert len(users) == len(demo.DEMO_LOGINS)
    organisations = db.exec(select(Organisation)).all()
    assert all(org.tax_code and mst.is_valid(org.tax_code) for org in organisations)
    assert all(org.province_code == 38 and org.ward_code for org in organisations)
    assert db.exec(select(func.count()).select_from(Product)).one() == sum(
        len(p.products) for p in demo.PRODUCERS
    )

    # every demo login works with the published password
    for email, role in demo.DEMO_LOGINS:
        headers = api_token(client, email, demo.DEMO_PASSWORD)
        assert client.get("/api/v1/me", headers=headers).json()["role"] == role

    home = client.get("/")
    assert "Nem chua Thanh Hóa" in client.get("/products").text
    assert home.status_code == 200


def test_tax_codes_are_generated_valid() -> None:
    for base in ("280100123", "280200456", "280900111", "000000000"):
        assert mst.is_valid(demo.tax_code(base))
