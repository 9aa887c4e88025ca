"""Supply and demand posts through the API: who may post what, ownership (others get 404),
validation, default locations, changes bumping the version, withdrawal."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from choso.db import session_scope
from market.models import Organisation, User
from matching.posts import PROVINCE_CENTRE
from tests import factories
from tests.matching.market_support import (
    buyer,
    days,
    demand_body,
    officer,
    operator,
    post,
    post_row,
    producer,
    supply_body,
)
from tests.payments.helpers import bearer


def test_producers_post_supply_and_buyers_post_demand(client: TestClient) -> None:
    farm, kitchen = producer(), buyer()
    supply = post(client, farm, supply_body())
    demand = post(client, kitchen, demand_body())
    assert supply["side"] == "supply" and supply["status"] == "open" and supply["version"] == 1
    assert supply["free_quantity"] == 100 and supply["location_source"] == "given"
    assert demand["max_distance_km"] == 20.0 and demand["grade"] == 1
    # before any round the quote says so
    assert supply["quote"]["round_id"] is None and supply["explanation"] is None
    # each side posts only its own kind
    wrong = client.post("/api/v1/matching/posts", json=demand_body(), headers=farm.headers)
    assert wrong.status_code == 403
    wrong = client.post("/api/v1/matching/posts", json=supply_body(), headers=kitchen.headers)
    assert wrong.status_code == 403
    for stranger in (officer(), operator()):
        response = client.post("/api/v1/matching/posts", json=supply_body(), headers=stranger.headers)
        assert response.status_code == 403
    assert client.post("/api/v1/matching/posts", json=supply_body()).status_code == 401


def test_a_post_without_a_point_is_placed_at_the_posters_address(client: TestClient, db: Session) -> None:
    kitchen = buyer()
    with session_scope() as session:
        row = session.get_one(User, kitchen.user.id)
        row.latitude, row.longitude = 19.83, 105.79
        session.commit()
    body = demand_body()
    del body["latitude"], body["longitude"]
    demand = post(client, kitchen, body)
    assert (demand["latitude"], demand["longitude"], demand["location_source"]) == (19.83, 105.79, "user")
    farm = producer()
    with session_scope() as session:
        org = session.get_one(Organisation, farm.organisation_id)
        org.latitude, org.longitude = 19.9, 105.8
        session.commit()
    body = supply_body()
    del body["latitude"], body["longitude"]
    supply = post(client, farm, body)
    assert (supply["latitude"], supply["longitude"], supply["location_source"]) == (
        19.9,
        105.8,
        "organisation",
    )
    bare = producer()  # no address point anywhere: the province centre, marked approximate
    supply = post(client, bare, body)
    assert (supply["latitude"], supply["longitude"]) == PROVINCE_CENTRE
    assert supply["location_source"] == "province"


def test_posts_are_seen_and_changed_by_their_owners_only(client: TestClient) -> None:
    farm, kitchen = producer(), buyer()
    supply = post(client, farm, supply_body())
    demand = post(client, kitchen, demand_body())
    colleague = factories.user("producer", farm.organisation_id)
    # a colleague of the same organisation owns its supply posts too
    colleague_headers = bearer(colleague)
    assert client.get(f"/api/v1/matching/posts/{supply['id']}", headers=colleague_headers).status_code == 200
    listed = client.get("/api/v1/matching/posts", headers=farm.headers).json()
    assert [p["id"] for p in listed["items"]] == [supply["id"]]
    for stranger in (producer(), buyer(), officer()):
        for post_id in (supply["id"], demand["id"]):
            url = f"/api/v1/matching/posts/{post_id}"
            assert client.get(url, headers=stranger.headers).status_code == 404
            assert client.patch(url, json={"quantity": 5}, headers=stranger.headers).status_code == 404
            assert client.post(f"{url}/withdraw", headers=stranger.headers).status_code == 404
    assert client.get("/api/v1/matching/posts", headers=officer().headers).status_code == 403
    # operators see everything and change nothing
    ops = operator()
    assert client.get(f"/api/v1/matching/posts/{demand['id']}", headers=ops.headers).status_code == 200
    assert client.get("/api/v1/matching/posts", headers=ops.headers).json()["total"] == 2
    url = f"/api/v1/matching/posts/{demand['id']}"
    assert client.patch(url, json={"quantity": 5}, headers=ops.headers).status_code == 403
    assert client.get("/api/v1/matching/posts/999999", headers=farm.headers).status_code == 404


def test_changes_bump_the_version_and_withdrawal_closes_the_post(client: TestClient, db: Session) -> None:
    farm = producer()
    supply = post(client, farm, supply_body())
    url = f"/api/v1/matching/posts/{supply['id']}"
    changed = client.patch(url, json={"quantity": 80, "limit_price_vnd": 11_500}, headers=farm.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and changed.json()["quantity"] == 80
    moved = client.patch(url, json={"latitude": 19.7, "longitude": 105.6}, headers=farm.headers).json()
    assert moved["location_source"] == "given" and moved["version"] == 3
    withdrawn = client.post(f"{url}/withdraw", headers=farm.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["version"] == 4
    assert client.patch(url, json={"quantity": 5}, headers=farm.headers).status_code == 409
    # withdrawing again changes nothing
    assert client.post(f"{url}/withdraw", headers=farm.headers).json()["version"] == 4
    assert post_row(db, supply["id"]).status == "withdrawn"


BAD_SUPPLY = [
    ({"category": "gold"}, "category"),
    ({"quantity": 0}, "quantity"),
    ({"quantity": "100"}, "quantity"),
    ({"limit_price_vnd": 12.5}, "limit_price_vnd"),
    ({"grade": 9}, "grade"),
    ({"window_from": days(5, 5)[0], "window_to": days(1, 1)[0]}, "window_to"),
    ({"window_from": days(-9, -9)[0], "window_to": days(-2, -2)[0]}, "window_to"),
    ({"latitude": 91.0}, "latitude"),
    ({"longitude": None}, "__all__"),
    ({"max_distance_km": 10.0}, "max_distance_km"),
    ({"unknown": 1}, "unknown"),
    ({"title": "x"}, "title"),
    ({"quantity": 1_000_000, "limit_price_vnd": 2_000_000}, "quantity"),
]


@pytest.mark.parametrize(("change", "field"), BAD_SUPPLY)
def test_bad_posts_are_refused_with_the_field_named(client: TestClient, change: dict, field: str) -> None:
    farm = producer()
    response = client.post("/api/v1/matching/posts", json=supply_body(**change), headers=farm.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    named = {error.get("field")} | {d.get("field", "").split(".")[-1] for d in error.get("details", [])}
    assert field in named or field == "__all__", error


def test_a_demand_needs_a_distance_and_a_listing_must_be_the_producers(client: TestClient) -> None:
    kitchen, farm, other = buyer(), producer(), producer()
    body = demand_body()
    del body["max_distance_km"]
    response = client.post("/api/v1/matching/posts", json=body, headers=kitchen.headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "max_distance_km"
    theirs = factories.product(other.organisation_id or 0, category="rice")
    response = client.post(
        "/api/v1/matching/posts", json=supply_body(product_id=theirs.id), headers=farm.headers
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "product_id"
    mine = factories.product(farm.organisation_id or 0, category="fruit", unit="thùng")
    response = client.post(
        "/api/v1/matching/posts", json=supply_body(product_id=mine.id), headers=farm.headers
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "category"
    body = supply_body(product_id=mine.id, category="fruit")
    del body["unit"]
    linked = post(client, farm, body)
    assert linked["product_id"] == mine.id and linked["unit"] == "thùng"
