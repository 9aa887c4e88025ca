"""The catalogue: producers list and change only their own products; everyone browses."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market.models import Product
from tests.support import VALID_TAX_CODES, api_register, api_token, buyer_payload, producer_payload

NEM_CHUA = {
    "name": "Nem chua Thanh Hóa (hộp 20 chiếc)",
    "description": "Nem chua lá ổi truyền thống.",
    "category": "specialty",
    "unit": "hộp",
    "price_vnd": 1_250_000,
    "stock": 40,
    "ocop_stars": 4,
}


def two_producers(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    api_register(client, producer_payload("a@example.vn", VALID_TAX_CODES[0]))
    api_register(
        client, producer_payload("b@example.vn", VALID_TAX_CODES[1], organisation_name="HTX Cam Vân Du")
    )
    return api_token(client, "a@example.vn"), api_token(client, "b@example.vn")


def test_producer_lists_a_product_and_everyone_sees_it(client: TestClient) -> None:
    owner, _ = two_producers(client)
    created = client.post("/api/v1/products", json=NEM_CHUA, headers=owner)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["price_vnd"] == 1_250_000
    assert product["producer"]["name"] == "Hợp tác xã Nem chua Hạc Thành"

    listing = client.get("/api/v1/products").json()
    assert listing["total"] == 1
    assert listing["items"][0]["id"] == product["id"]
    page = client.get(f"/products/{product['id']}")
    assert page.status_code == 200
    assert "1.250.000\xa0₫" in page.text  # Vietnamese VND formatting


def test_english_page_formats_vnd_the_english_way(client: TestClient) -> None:
    owner, _ = two_producers(client)
    product = client.post("/api/v1/products", json=NEM_CHUA, headers=owner).json()
    page = client.get(f"/products/{product['id']}", params={"lang": "en"})
    assert "₫1,250,000" in page.text
    assert '<html lang="en">' in page.text


def test_producer_cannot_change_another_producers_listing(client: TestClient, db: Session) -> None:
    owner, other = two_producers(client)
    product = client.post("/api/v1/products", json=NEM_CHUA, headers=owner).json()
    response = client.patch(f"/api/v1/products/{product['id']}", json={"price_vnd": 1}, headers=other)
    assert response.status_code == 404
    assert db.exec(select(Product)).one().price_vnd == 1_250_000

    mine = client.patch(f"/api/v1/products/{product['id']}", json={"price_vnd": 1_300_000}, headers=owner)
    assert mine.status_code == 200
    assert mine.json()["price_vnd"] == 1_300_000


def test_hidden_product_is_gone_from_the_catalogue(client: TestClient) -> None:
    owner, _ = two_producers(client)
    product = client.post("/api/v1/products", json=NEM_CHUA, headers=owner).json()
    client.patch(f"/api/v1/products/{product['id']}", json={"is_active": False}, headers=owner)
    assert client.get(f"/api/v1/products/{product['id']}").status_code == 404
    assert client.get("/api/v1/products").json()["total"] == 0


def test_buyers_cannot_list_products(client: TestClient, db: Session) -> None:
    api_register(client, buyer_payload())
    buyer = api_token(client, "lan@example.vn")
    assert client.post("/api/v1/products", json=NEM_CHUA, headers=buyer).status_code == 403
    assert client.post("/api/v1/products", json=NEM_CHUA).status_code == 401
    assert db.exec(select(Product)).first() is None


def test_money_and_stock_must_be_whole_and_sane(client: TestClient, db: Session) -> None:
    owner, _ = two_producers(client)
    for bad in (
        {"price_vnd": 0},
        {"price_vnd": -5},
        {"price_vnd": 12.5},
        {"price_vnd": "1000"},
        {"price_vnd": 1000.0},
        {"stock": "3"},
        {"stock": -1},
        {"ocop_stars": 6},
        {"category": "weapons"},
        {"name": ""},
    ):
        response = client.post("/api/v1/products", json={**NEM_CHUA, **bad}, headers=owner)
        assert response.status_code == 422, bad
    assert db.exec(select(Product)).first() is None


def test_search_and_category_filter(client: TestClient) -> None:
    owner, other = two_producers(client)
    client.post("/api/v1/products", json=NEM_CHUA, headers=owner)
    cam = {
        **NEM_CHUA,
        "name": "Cam Vân Du",
        "description": "Cam chanh VietGAP.",
        "category": "fruit",
        "unit": "kg",
        "price_vnd": 40_000,
        "ocop_stars": 3,
    }
    client.post("/api/v1/products", json=cam, headers=other)
    assert [
        p["name"] for p in client.get("/api/v1/products", params={"category": "fruit"}).json()["items"]
    ] == ["Cam Vân Du"]
    assert client.get("/api/v1/products", params={"q": "Nem"}).json()["total"] == 1
    assert client.get("/api/v1/products", params={"q": "100%_"}).json()["total"] == 0  # wildcards are literal
    page = client.get("/products", params={"category": "fruit"})
    assert "Cam Vân Du" in page.text
    assert "Nem chua" not in page.text
