"""Product changes (issue 5 item 11): explicit nulls, versioned stock, stock deltas, capped totals."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.errors import InvalidInput
from market.catalog import line_total_vnd
from market.models import MAX_LISTING_VALUE_VND, Product
from tests.support import api_register, api_token, producer_payload
from tests.test_catalog import NEM_CHUA


@pytest.fixture
def owner(client: TestClient) -> dict[str, str]:
    api_register(client, producer_payload())
    return api_token(client, "htx@example.vn")


@pytest.fixture
def product(client: TestClient, owner: dict[str, str]) -> dict:
    created = client.post("/api/v1/products", json=NEM_CHUA, headers=owner)
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    return created.json()


def test_explicit_null_is_refused_not_ignored(
    client: TestClient, owner: dict[str, str], product: dict
) -> None:
    for field in ("price_vnd", "stock", "stock_delta", "description", "is_active"):
        response = client.patch(f"/api/v1/products/{product['id']}", json={field: None}, headers=owner)
        assert response.status_code == 422, field
        assert response.json()["error"]["details"][0]["field"] == field
    assert client.get(f"/api/v1/products/{product['id']}").json()["price_vnd"] == NEM_CHUA["price_vnd"]


def test_update_schema_does_not_offer_null(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["ProductUpdate"]
    for name, field in schema["properties"].items():
        assert "anyOf" not in field and field.get("type") != "null", name
        assert "default" not in field, name


def test_setting_stock_needs_the_version_read(
    client: TestClient, owner: dict[str, str], product: dict
) -> None:
    url = f"/api/v1/products/{product['id']}"
    missing = client.patch(url, json={"stock": 10}, headers=owner)
    assert missing.status_code == 428
    etag = client.get(url).headers["ETag"]
    first = client.patch(url, json={"stock": 10}, headers={**owner, "If-Match": etag})
    assert first.status_code == 200
    assert first.json()["stock"] == 10
    assert first.headers["ETag"] == '"2"'
    # a second writer who read before the first wrote is refused, not allowed to undo it
    stale = client.patch(url, json={"stock": 55}, headers={**owner, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert client.get(url).json()["stock"] == 10
    for bad in ('"abc"', 'W/"2"', "2"):
        assert client.patch(url, json={"stock": 1}, headers={**owner, "If-Match": bad}).status_code == 412


def test_other_changes_with_a_stale_version_are_refused_too(
    client: TestClient, owner: dict[str, str], product: dict
) -> None:
    url = f"/api/v1/products/{product['id']}"
    client.patch(url, json={"price_vnd": 1_300_000}, headers=owner)  # version 2
    stale = client.patch(url, json={"price_vnd": 1_100_000}, headers={**owner, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert client.get(url).json()["price_vnd"] == 1_300_000


def test_stock_delta_never_goes_below_zero(client: TestClient, owner: dict[str, str], product: dict) -> None:
    url = f"/api/v1/products/{product['id']}"
    assert client.patch(url, json={"stock_delta": -40}, headers=owner).json()["stock"] == 0
    refused = client.patch(url, json={"stock_delta": -1}, headers=owner)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "insufficient_stock"
    assert client.patch(url, json={"stock_delta": 5}, headers=owner).json()["stock"] == 5
    both = client.patch(url, json={"stock_delta": 1, "stock": 3}, headers=owner)
    assert both.status_code == 422


def test_concurrent_stock_deltas_are_all_counted(
    client: TestClient, owner: dict[str, str], product: dict, db: Session
) -> None:
    """Last-writer-wins would lose most of these; each delta is one conditional UPDATE."""
    url = f"/api/v1/products/{product['id']}"

    def take_one(_: int) -> int:
        return client.patch(url, json={"stock_delta": -1}, headers=owner).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = Counter(pool.map(take_one, range(50)))
    assert statuses == {200: 40, 409: 10}
    db.rollback()
    row = db.exec(select(Product)).one()
    assert row.stock == 0
    assert row.version == 41


def test_listing_value_is_capped_so_totals_cannot_overflow(
    client: TestClient, owner: dict[str, str], product: dict
) -> None:
    # both bounds at once would be 10^19, past a signed 64-bit integer
    huge = {**NEM_CHUA, "price_vnd": 10_000_000_000, "stock": 1_000_000_000}
    assert client.post("/api/v1/products", json=huge, headers=owner).status_code == 422
    url = f"/api/v1/products/{product['id']}"
    assert client.patch(url, json={"price_vnd": 10_000_000_000}, headers=owner).status_code == 200
    etag = client.get(url).headers["ETag"]
    # stock 100 000 × 10^10 = 10^15: the cap exactly; one more unit is refused, by either way
    assert client.patch(url, json={"stock": 100_000}, headers={**owner, "If-Match": etag}).status_code == 200
    refused = client.patch(url, json={"stock_delta": 1}, headers=owner)
    assert refused.status_code == 422
    assert client.get(url).json()["stock"] == 100_000


def test_line_totals_are_capped_explicitly() -> None:
    assert line_total_vnd(10_000_000_000, 100_000) == MAX_LISTING_VALUE_VND
    with pytest.raises(InvalidInput):
        line_total_vnd(10_000_000_000, 1_000_000_000)
    with pytest.raises(InvalidInput):
        line_total_vnd(1_000_000, 2_000_000, cap=10**12)
    assert line_total_vnd(1_250_000, 0) == 0
