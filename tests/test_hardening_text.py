"""Unicode spoofing in names and unnormalised text (issue 5 item 8)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import migrate
from market.models import Organisation, Product, User
from tests.support import VALID_TAX_CODES, api_register, api_token, buyer_payload, producer_payload
from tests.test_catalog import NEM_CHUA
from tests.test_migrations import empty_engine  # noqa: F401 - a fixture

SPOOFS = {
    "right-to-left override": "Nem chua \u202etxt.exe",
    "zero-width space": "Nem\u200b chua",
    "zero-width joiner": "Nem\u200dchua",
    "C1 next line": "Nem\u0085chua",
    "C1 control": "Nem chua\u009b",
    "first strong isolate": "Nem \u2068chua\u2069",
    "soft hyphen": "Nem chu\u00ada",
    "hangul filler": "Nem\u3164chua",
}


@pytest.fixture
def producer(client: TestClient) -> dict[str, str]:
    api_register(client, producer_payload())
    return api_token(client, "htx@example.vn")


@pytest.mark.parametrize("name", SPOOFS.values(), ids=SPOOFS.keys())
def test_spoofing_characters_in_product_names_are_a_clear_422(
    client: TestClient, producer: dict[str, str], db: Session, name: str
) -> None:
    response = client.post("/api/v1/products", json={**NEM_CHUA, "name": name}, headers=producer)
    assert response.status_code == 422, name
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "name"
    assert "character" in detail["message"].lower() or "ký tự" in detail["message"]
    db.rollback()
    assert db.exec(select(Product)).first() is None


def test_spoofing_characters_in_people_and_business_names_are_refused(
    client: TestClient, db: Session
) -> None:
    for payload in (
        buyer_payload(full_name="Nguyễn\u200b Thị Lan"),
        buyer_payload(full_name="Lan \u202eadmin"),
        producer_payload(organisation_name="HTX\u2066 Nem chua", tax_code=VALID_TAX_CODES[1]),
        buyer_payload(address={"ward_code": 14797, "street": "12 Lê\u200b Hoàn"}),
    ):
        assert client.post("/api/v1/auth/register", json=payload).status_code == 422
    db.rollback()
    assert db.exec(select(User)).first() is None


def test_descriptions_refuse_direction_overrides_and_c1_but_keep_line_breaks(
    client: TestClient, producer: dict[str, str]
) -> None:
    for bad in ("Ngon \u202e!", "Ngon\u0085lắm"):
        response = client.post("/api/v1/products", json={**NEM_CHUA, "description": bad}, headers=producer)
        assert response.status_code == 422, bad
    fine = {**NEM_CHUA, "description": "Dòng một.\nDòng hai.\tHết."}
    assert client.post("/api/v1/products", json=fine, headers=producer).status_code == 201


def test_decomposed_text_is_stored_composed_and_found_by_search(
    client: TestClient, producer: dict[str, str], db: Session
) -> None:
    decomposed = unicodedata.normalize("NFD", "Nem chua Thanh Hóa")
    assert decomposed != "Nem chua Thanh Hóa"
    created = client.post("/api/v1/products", json={**NEM_CHUA, "name": decomposed}, headers=producer)
    assert created.status_code == 201
    assert created.json()["name"] == "Nem chua Thanh Hóa"
    db.rollback()
    assert db.exec(select(Product.name)).one() == "Nem chua Thanh Hóa"
    for query in ("Thanh Hóa", unicodedata.normalize("NFD", "Thanh Hóa")):
        assert client.get("/api/v1/products", params={"q": query}).json()["total"] == 1, ascii(query)
        assert "Nem chua" in client.get("/products", params={"q": query}).text


def test_names_measure_their_length_composed(client: TestClient, producer: dict[str, str]) -> None:
    name = "Hóa" * 60  # 180 composed characters, 240 decomposed: within the 200 limit as stored
    response = client.post(
        "/api/v1/products", json={**NEM_CHUA, "name": unicodedata.normalize("NFD", name)}, headers=producer
    )
    assert response.status_code == 201


def test_migration_normalises_text_written_before(empty_engine: sa.Engine, tmp_path: Path) -> None:  # noqa: F811
    migrate.upgrade(empty_engine, revision="0002")
    decomposed = unicodedata.normalize("NFD", "Hợp tác xã Nem chua Hạc Thành")
    with empty_engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO organisation (kind, name, street, created_at) VALUES ('producer', :n, '', :t)"
            ),
            {"n": decomposed, "t": "2026-01-01 00:00:00"},
        )
    migrate.upgrade(empty_engine, revision="0003")
    with empty_engine.connect() as connection:
        [name] = connection.execute(sa.select(Organisation.__table__.c.name)).scalars().all()
    assert name == unicodedata.normalize("NFC", decomposed)
