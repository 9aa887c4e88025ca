"""The matching pages as people use them: post forms with the location picker (vendored Leaflet,
tiles allowed by the CSP, no inline script), a post's quote and explanation, the operator's
round button, a proposal's value breakdown answered by both sides into an order."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from matching.models import MarketPost, MatchProposal
from tests.matching.market_support import Party, buyer, days, operator, producer
from tests.shop_helpers import platform_account
from tests.support import csrf_from, page_login
from web.pages.matching import map_policy, tiles_origin


def _login(make_client: Callable[[], TestClient], party: Party) -> TestClient:
    browser = make_client()
    assert page_login(browser, party.user.email).status_code == 303
    return browser


def _submit(browser: TestClient, form_path: str, action: str, fields: dict[str, str]):  # type: ignore[no-untyped-def]
    token = csrf_from(browser.get(form_path))
    return browser.post(action, data={**fields, "csrf_token": token}, follow_redirects=False)


def _supply_form(**changes: str) -> dict[str, str]:
    start, end = days(0, 6)
    form = {
        "title": "Rau cải ngồng vụ đông",
        "category": "vegetables",
        "grade": "2",
        "quantity": "200",
        "unit": "kg",
        "limit_price_vnd": "8000",
        "window_from": start,
        "window_to": end,
        "latitude": "19.80",
        "longitude": "105.77",
    }
    form.update(changes)
    return form


def _demand_form(**changes: str) -> dict[str, str]:
    start, end = days(1, 3)
    form = {
        "title": "Rau cho bếp ăn trường",
        "category": "vegetables",
        "grade": "1",
        "quantity": "50",
        "unit": "kg",
        "limit_price_vnd": "12000",
        "window_from": start,
        "window_to": end,
        "latitude": "19.84",
        "longitude": "105.78",
        "max_distance_km": "15",
    }
    form.update(changes)
    return form


def test_the_post_form_has_the_map_picker_under_the_csp(make_client: Callable[[], TestClient]) -> None:
    browser = _login(make_client, producer())
    page = browser.get("/matching/posts/new")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://tile.openstreetmap.org" in policy and "script-src" not in policy
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script
    assert 'data-tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in page.text
    assert 'name="latitude"' in page.text and 'name="max_distance_km"' not in page.text  # supply
    for asset in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/matching/location.js",
        "/static/vendor/leaflet/leaflet.css",
    ):
        assert browser.get(asset).status_code == 200


def test_tile_origins() -> None:
    assert tiles_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert (
        tiles_origin("https://{s}.tile.example.vn:8443/{z}/{x}/{y}.png") == "https://*.tile.example.vn:8443"
    )
    assert tiles_origin("") == "" and tiles_origin("javascript:alert(1)") == ""
    assert "img-src 'self' data: https://" in map_policy()


def test_posting_answering_and_ordering_through_the_pages(
    make_client: Callable[[], TestClient], db: Session
) -> None:
    platform_account()
    farm, kitchen, ops = producer(), buyer(), operator()
    seller, chef, operations = (
        _login(make_client, farm),
        _login(make_client, kitchen),
        _login(make_client, ops),
    )

    bad = _submit(seller, "/matching/posts/new", "/matching/posts", _supply_form(quantity="lots"))
    assert bad.status_code == 422 and 'class="field has-error"' in bad.text
    made = _submit(seller, "/matching/posts/new", "/matching/posts", _supply_form())
    assert made.status_code == 303, made.text
    supply_url = made.headers["location"]
    assert "Chưa có phiên khớp lệnh nào: chưa có giá tham khảo." in seller.get(supply_url).text
    made = _submit(chef, "/matching/posts/new", "/matching/posts", _demand_form())
    assert made.status_code == 303, made.text
    demand_url = made.headers["location"]
    assert chef.get(supply_url).status_code == 404  # not the buyer's post

    ran = _submit(operations, "/matching/rounds", "/matching/rounds", {})
    assert ran.status_code == 303
    round_page = operations.get(ran.headers["location"])
    assert round_page.status_code == 200 and "8.000" in round_page.text  # the vegetables' farm-gate price
    assert seller.get("/matching/rounds").status_code == 403

    db.rollback()
    proposal = db.exec(select(MatchProposal)).one()
    url = f"/matching/proposals/{proposal.id}"
    page = chef.get(url)
    assert page.status_code == 200 and 'class="lines breakdown"' in page.text
    assert f'action="/matching/proposals/{proposal.id}/accept"' in page.text
    accepted = _submit(chef, url, f"{url}/accept", {})
    assert accepted.status_code == 303
    accepted = _submit(seller, url, f"{url}/accept", {})
    assert accepted.status_code == 303
    db.rollback()
    order_id = db.get_one(MatchProposal, proposal.id, populate_existing=True).order_id
    assert order_id is not None and f'href="/orders/{order_id}"' in chef.get(url).text
    assert chef.get(f"/orders/{order_id}").status_code == 200
    assert chef.get(demand_url).status_code == 200
    assert "/matching/proposals/" in chef.get("/matching").text
    stranger = _login(make_client, buyer())
    assert stranger.get(url).status_code == 404


def test_changing_and_withdrawing_a_post_on_its_pages(
    make_client: Callable[[], TestClient], db: Session
) -> None:
    farm = producer()
    seller = _login(make_client, farm)
    made = _submit(seller, "/matching/posts/new", "/matching/posts", _supply_form())
    post_url = made.headers["location"]
    edit = seller.get(f"{post_url}/edit")
    assert edit.status_code == 200 and 'value="200"' in edit.text
    changed = _submit(seller, f"{post_url}/edit", f"{post_url}/edit", _supply_form(quantity="150"))
    assert changed.status_code == 303, changed.text
    post_id = int(post_url.rsplit("/", 1)[1])
    db.rollback()
    row = db.get_one(MarketPost, post_id, populate_existing=True)
    assert row.quantity == 150 and row.version == 2
    withdrawn = _submit(seller, post_url, f"{post_url}/withdraw", {})
    assert withdrawn.status_code == 303
    assert f'action="{post_url}/withdraw"' not in seller.get(post_url).text
    db.rollback()
    assert db.get_one(MarketPost, post_id, populate_existing=True).status == "withdrawn"
