"""Arranging a small matching market and acting in it through the API, as producers, buyers and
an operator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from market.models import Notification, OrganisationKind, Role, User
from matching.models import MarketPost, MatchProposal
from matching.posts import local_today
from tests import factories
from tests.conftest import eventually
from tests.payments.helpers import bearer

# Points near Thanh Hóa city: 0.1° of latitude ≈ 11.12 km.
CITY = (19.80, 105.77)


@dataclass
class Party:
    user: User
    headers: dict[str, str]
    organisation_id: int | None = None


def _headers(user: User) -> dict[str, str]:
    # Messages in English, so that assertions read them (a test checks the Vietnamese).
    return {**bearer(user), "Accept-Language": "en"}


def producer() -> Party:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    return Party(owner, _headers(owner), org.id)


def buyer() -> Party:
    user = factories.user(Role.BUYER)
    return Party(user, _headers(user))


def operator() -> Party:
    user = factories.user(Role.OPERATOR)
    return Party(user, _headers(user))


def officer() -> Party:
    org, user = factories.staff(OrganisationKind.AGENCY)
    return Party(user, _headers(user), org.id)


def days(start: int, end: int) -> tuple[str, str]:
    today = local_today()
    return (today + timedelta(days=start)).isoformat(), (today + timedelta(days=end)).isoformat()


def supply_body(quantity: int = 100, price: int = 12_000, **changes: Any) -> dict[str, Any]:
    window = days(0, 6)
    body: dict[str, Any] = {
        "side": "supply",
        "title": "Gạo tẻ loại 2 vụ mùa",
        "category": "rice",
        "grade": 2,
        "quantity": quantity,
        "unit": "kg",
        "limit_price_vnd": price,
        "window_from": window[0],
        "window_to": window[1],
        "latitude": CITY[0],
        "longitude": CITY[1],
    }
    body.update(changes)
    return body


def demand_body(quantity: int = 60, price: int = 15_000, **changes: Any) -> dict[str, Any]:
    window = days(1, 4)
    body: dict[str, Any] = {
        "side": "demand",
        "title": "Gạo cho bếp ăn trường Hàm Rồng",
        "category": "rice",
        "grade": 1,
        "quantity": quantity,
        "unit": "kg",
        "limit_price_vnd": price,
        "window_from": window[0],
        "window_to": window[1],
        "latitude": CITY[0] + 0.05,
        "longitude": CITY[1],
        "max_distance_km": 20.0,
    }
    body.update(changes)
    return body


def post(client: TestClient, party: Party, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/matching/posts", json=body, headers=party.headers)
    assert response.status_code == 201, response.text
    return response.json()


def run_round(client: TestClient, operator: Party) -> dict[str, Any]:
    response = client.post("/api/v1/matching/rounds", headers=operator.headers)
    assert response.status_code == 201, response.text
    return response.json()


def proposals_of(client: TestClient, party: Party, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/matching/proposals", params=params, headers=party.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def act(client: TestClient, party: Party, proposal_id: int, action: str) -> Any:
    return client.post(f"/api/v1/matching/proposals/{proposal_id}/{action}", headers=party.headers)


def post_row(db: Session, post_id: int) -> MarketPost:
    db.rollback()
    return db.get_one(MarketPost, post_id, populate_existing=True)


def proposal_row(db: Session, proposal_id: int) -> MatchProposal:
    db.rollback()
    return db.get_one(MatchProposal, proposal_id, populate_existing=True)


def today() -> date:
    return local_today()


def notified(db: Session, user_id: int | None, kind: str) -> bool:
    """Whether the user got a notification of this kind (jobs run asynchronously: polled)."""

    def found() -> bool:
        db.rollback()
        return (
            db.exec(
                select(Notification.id).where(Notification.user_id == user_id, Notification.kind == kind)
            ).first()
            is not None
        )

    return bool(eventually(found))
