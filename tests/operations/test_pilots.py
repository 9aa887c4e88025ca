"""Pilots: the rule (pure), defining/ending/graduating through the API (audited), a service
invisible outside a running pilot's scope — card payments, fee collection, the matching market —
ending a pilot never stranding a notice already issued, and the pilot report."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import pilots
from choso.audit import AuditEntry
from choso.settings import reset_settings
from market.models import OrganisationKind, Role
from market.places import THANH_HOA, wards_of
from payments.localstripe import free_port
from tests import factories
from tests.fees import helpers as fee_helpers
from tests.matching import market_support as market
from tests.payments.helpers import bearer
from tests.support import WARD_HAC_THANH, csrf_from, page_login

OTHER_WARD = next(int(w.code) for w in wards_of(THANH_HOA) if int(w.code) != WARD_HAC_THANH)


def operator() -> tuple[object, dict[str, str]]:
    user = factories.user(Role.OPERATOR)
    return user, bearer(user)


def define(client: TestClient, auth: dict[str, str], service: str, **scope: object) -> dict[str, object]:
    today = pilots.today()
    body = {
        "service": service,
        "name": f"Thí điểm {service}",
        "starts_on": (today - timedelta(days=1)).isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(),
        **scope,
    }
    response = client.post("/api/v1/operator/pilots", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_rule() -> None:
    today = date(2026, 6, 15)
    running = pilots.Pilot(
        service="x", name="a", ward_codes=[1], organisation_ids=[7], starts_on=today, ends_on=today
    )
    inside, outside = pilots.Where.of(wards=[1]), pilots.Where.of(wards=[2], organisations=[8])
    assert pilots.decide([], outside, today)  # no pilot: on everywhere
    assert pilots.decide([running], inside, today) and pilots.decide(
        [running], pilots.Where.of(organisations=[7]), today
    )
    assert not pilots.decide([running], outside, today)
    assert not pilots.decide([running], inside, today + timedelta(days=1))  # over
    assert not pilots.decide([running], inside, today - timedelta(days=1))  # not yet (and hidden elsewhere)
    graduated = pilots.Pilot(**{**running.model_dump(), "graduated_at": pilots.utcnow()})
    assert pilots.decide([graduated], outside, today)
    assert pilots.status(running, today) == "running"


def test_fee_collection_outside_the_pilot_does_not_exist(client: TestClient, db: Session) -> None:
    inside, outside = fee_helpers.agency(), fee_helpers.agency()
    services = {}
    for who in (inside, outside):  # both publish before any pilot: fees are on everywhere
        services[who.org.id] = fee_helpers.create_service(
            client, who, fee_helpers.fixed_payload(who.account.id)
        )
    issued_before = fee_helpers.issue(
        client, outside, fee_helpers.notice_payload(services[outside.org.id]["id"])
    )
    _op, auth = operator()
    pilot = define(client, auth, "fees.collection", organisation_ids=[inside.org.id])
    anonymous = TestClient(client.app)
    assert anonymous.get(f"/api/v1/fees/agencies/{inside.org.id}/services").status_code == 200
    assert anonymous.get(f"/api/v1/fees/agencies/{outside.org.id}/services").status_code == 404
    assert anonymous.get(f"/fees/agencies/{outside.org.id}").status_code == 404
    fee_helpers.issue(client, inside, fee_helpers.notice_payload(services[inside.org.id]["id"]))
    refused = client.post(
        "/api/v1/fees/notices",
        json=fee_helpers.notice_payload(services[outside.org.id]["id"]),
        headers={**outside.auth, "Idempotency-Key": "outside-0001"},
    )
    assert refused.status_code == 404
    # The notice issued before the pilot is still payable: its public page and its request work.
    token = fee_helpers.token_of(issued_before["public_url"])
    assert anonymous.get(f"/fees/n/{token}").status_code == 200
    assert anonymous.get(f"/api/v1/fees/public/{token}").json()["status"] == "open"
    # Ending the pilot turns fee collection off everywhere; graduating another turns it on.
    assert client.post(f"/api/v1/operator/pilots/{pilot['id']}/end", headers=auth).json()["status"] == "ended"
    assert anonymous.get(f"/api/v1/fees/agencies/{inside.org.id}/services").status_code == 404
    assert client.post(f"/api/v1/operator/pilots/{pilot['id']}/end", headers=auth).status_code == 409
    second = define(client, auth, "fees.collection", ward_codes=[OTHER_WARD])
    assert client.post(f"/api/v1/operator/pilots/{second['id']}/graduate", headers=auth).status_code == 200
    assert anonymous.get(f"/api/v1/fees/agencies/{outside.org.id}/services").status_code == 200
    report = client.get(f"/api/v1/operator/pilots/{pilot['id']}/report", headers=auth).json()
    assert report["inside"]["uses"] == 1 and report["inside"]["organisations"] == 1
    assert report["outside"]["uses"] == 1  # the notice issued before the pilot, the same day
    actions = db.exec(
        select(AuditEntry.action).where(AuditEntry.object_type == "pilot").order_by(AuditEntry.id)
    ).all()
    assert actions == ["pilot.define", "pilot.end", "pilot.define", "pilot.graduate"]


def test_the_matching_market_outside_the_pilot_does_not_exist(client: TestClient) -> None:
    seller, buyer = market.producer(), market.buyer()
    _op, auth = operator()
    define(client, auth, "matching.market", organisation_ids=[seller.organisation_id])
    assert (
        client.post("/api/v1/matching/posts", json=market.supply_body(), headers=seller.headers).status_code
        == 201
    )
    refused = client.post("/api/v1/matching/posts", json=market.demand_body(), headers=buyer.headers)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


@pytest.fixture
def card_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Card payments configured, towards a port where no processor answers."""
    monkeypatch.setenv("CHOSO_STRIPE_SECRET_KEY", "sk_test_pilot")
    monkeypatch.setenv("CHOSO_STRIPE_PUBLISHABLE_KEY", "pk_test_pilot")
    monkeypatch.setenv("CHOSO_STRIPE_API_BASE", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("CHOSO_STRIPE_MAX_NETWORK_RETRIES", "0")
    monkeypatch.setenv("CHOSO_STRIPE_TIMEOUT_SECONDS", "2")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()


def test_card_payments_outside_the_pilot_are_not_offered(client: TestClient, card_settings: None) -> None:
    payee_in, payee_out = factories.organisation(), factories.organisation()
    requests = {}
    for org in (payee_in, payee_out):
        requests[org.id] = factories.payment_request(org.id, factories.bank_account(org.id).id)
    _op, auth = operator()
    define(client, auth, "payments.card", organisation_ids=[payee_in.id])
    staff = factories.user(Role.PRODUCER, payee_out.id)
    staff_in = factories.user(Role.PRODUCER, payee_in.id, email="in-staff@example.vn")
    # Inside, the payment starts (and meets an unreachable processor: 503); outside it does not exist.
    started = client.post(
        f"/api/v1/payment-requests/{requests[payee_in.id].id}/card-attempts", headers=bearer(staff_in)
    )
    assert started.status_code == 503, started.text
    outside_path = f"/api/v1/payment-requests/{requests[payee_out.id].id}/card-attempts"
    refused = client.post(outside_path, headers=bearer(staff))
    assert refused.status_code == 404
    assert page_login(client, "in-staff@example.vn").status_code == 303
    page_in = client.get(f"/pay/{requests[payee_in.id].id}")
    assert page_in.status_code == 200 and f'action="/pay/{requests[payee_in.id].id}/card"' in page_in.text
    client.post("/logout", data={"csrf_token": csrf_from(page_in)})
    # The outside payee's staff sees no card option on its pay page.
    factories.user(Role.PRODUCER, payee_out.id, email="out-staff@example.vn")
    assert page_login(client, "out-staff@example.vn").status_code == 303
    page_out = client.get(f"/pay/{requests[payee_out.id].id}")
    assert page_out.status_code == 200 and '/card"' not in page_out.text
    assert factories.organisation(OrganisationKind.PRODUCER).id  # organisations outside exist all the same
