"""The payments API: idempotent creation, QR images, and who may see what."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from market.models import OrganisationKind, Role
from payments import vietqr
from tests import factories
from tests.payments.helpers import bearer


@pytest.fixture
def producer() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    return {"org": org, "owner": owner, "account": account, "headers": bearer(owner)}


def create(client: TestClient, headers: dict[str, str], key: str, **overrides: object):
    body = {"amount_vnd": 250_000, "description": "Gạo thơm Thiệu Hóa, 10 kg", "payer_name": "Lê Văn Nam"}
    body.update(overrides)
    return client.post("/api/v1/payment-requests", json=body, headers={**headers, "Idempotency-Key": key})


def test_creation_is_idempotent_and_a_reused_key_with_other_content_is_409(
    client: TestClient, producer: dict
) -> None:
    key = uuid.uuid4().hex
    first = create(client, producer["headers"], key)
    assert first.status_code == 201, first.text
    again = create(client, producer["headers"], key)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    other = create(client, producer["headers"], key, amount_vnd=260_000)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    body = first.json()
    assert body["reference_code"].startswith("CS") and len(body["reference_code"]) == 11
    assert (body["status"], body["outstanding_vnd"]) == ("open", 250_000)


@pytest.mark.parametrize("amount", [0, -1, 10**12 + 1, "250000", 250000.0, True, None])
def test_bad_amounts_are_422_and_create_nothing(client: TestClient, producer: dict, amount: object) -> None:
    response = create(client, producer["headers"], uuid.uuid4().hex, amount_vnd=amount)
    assert response.status_code == 422
    listing = client.get("/api/v1/payment-requests", headers=producer["headers"]).json()
    assert listing["total"] == 0


def test_a_key_is_required(client: TestClient, producer: dict) -> None:
    response = client.post(
        "/api/v1/payment-requests",
        json={"amount_vnd": 1000, "description": "xx"},
        headers=producer["headers"],
    )
    assert response.status_code == 422


def test_the_qr_encodes_the_account_amount_and_reference(client: TestClient, producer: dict) -> None:
    created = create(client, producer["headers"], uuid.uuid4().hex).json()
    png = client.get(f"/api/v1/payment-requests/{created['id']}/qr.png", headers=producer["headers"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    svg = client.get(f"/api/v1/payment-requests/{created['id']}/qr.svg", headers=producer["headers"])
    assert svg.status_code == 200 and b"<svg" in svg.content
    from choso.db import session_scope
    from payments import requests
    from payments.models import PaymentRequest

    with session_scope() as session:
        payload = requests.vietqr_payload(session, session.get_one(PaymentRequest, created["id"]))
    decoded = vietqr.decode(payload)
    assert (decoded.bin, decoded.account, decoded.amount) == (
        "970436",
        producer["account"].account_number,
        250_000,
    )
    assert decoded.purpose.startswith(created["reference_code"]) and len(decoded.purpose) <= 25
    assert decoded.purpose.isascii()


def test_object_level_authorisation_matrix(client: TestClient, producer: dict) -> None:
    """Every payment-request, payment and receipt endpoint × a foreign user of each role."""
    buyer = factories.user(Role.BUYER)
    request = factories.payment_request(
        producer["org"].id, producer["account"].id, 90_000, payer_user_id=buyer.id
    )
    foreigners = {
        "buyer": factories.user(Role.BUYER),
        "producer": factories.staff(OrganisationKind.PRODUCER)[1],
        "agency_officer": factories.staff(OrganisationKind.AGENCY)[1],
    }
    endpoints = [
        ("GET", f"/api/v1/payment-requests/{request.id}"),
        ("GET", f"/api/v1/payment-requests/{request.id}/qr.png"),
        ("GET", f"/api/v1/payment-requests/{request.id}/qr.svg"),
        ("GET", f"/api/v1/payment-requests/{request.id}/payments"),
        ("GET", f"/api/v1/payment-requests/{request.id}/receipts"),
        ("POST", f"/api/v1/payment-requests/{request.id}/cancel"),
        ("POST", f"/api/v1/payment-requests/{request.id}/simulate-transfer"),
    ]
    for role, stranger in foreigners.items():
        headers = bearer(stranger)
        for method, path in endpoints:
            response = client.request(method, path, headers=headers, json={} if method == "POST" else None)
            assert response.status_code == 404, (role, method, path, response.status_code)
        listing = client.get("/api/v1/payment-requests", headers=headers).json()
        assert listing["total"] == 0, role
        assert client.get("/api/v1/suspense", headers=headers).status_code == 403, role
    # the payer sees it but cannot cancel it; the payee's staff can
    payer = bearer(buyer)
    assert client.get(f"/api/v1/payment-requests/{request.id}", headers=payer).status_code == 200
    assert client.post(f"/api/v1/payment-requests/{request.id}/cancel", headers=payer).status_code == 403
    cancelled = client.post(f"/api/v1/payment-requests/{request.id}/cancel", headers=producer["headers"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (
        client.post(f"/api/v1/payment-requests/{request.id}/cancel", headers=producer["headers"]).status_code
        == 409
    )


def test_bank_accounts_are_validated_audited_and_private(client: TestClient, producer: dict) -> None:
    headers = producer["headers"]
    bad_bin = client.post(
        "/api/v1/bank-accounts",
        json={"bank_bin": "123456", "account_number": "0011001234567", "holder_name": "HTX"},
        headers=headers,
    )
    assert bad_bin.status_code == 422
    added = client.post(
        "/api/v1/bank-accounts",
        json={"bank_bin": "970422", "account_number": "0123456789", "holder_name": "HTX NEM CHUA"},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    assert added.json()["bank_name"] == "MBBank"
    duplicate = client.post(
        "/api/v1/bank-accounts",
        json={"bank_bin": "970422", "account_number": "0123456789", "holder_name": "HTX NEM CHUA"},
        headers=headers,
    )
    assert duplicate.status_code == 409
    stranger = bearer(factories.staff(OrganisationKind.PRODUCER)[1])
    account_id = added.json()["id"]
    assert client.post(f"/api/v1/bank-accounts/{account_id}/deactivate", headers=stranger).status_code == 404
    assert all(a["id"] != account_id for a in client.get("/api/v1/bank-accounts", headers=stranger).json())
    assert client.get("/api/v1/bank-accounts", headers=bearer(factories.user(Role.BUYER))).status_code == 403
    from sqlmodel import select

    from choso.audit import AuditEntry
    from choso.db import session_scope

    with session_scope() as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "bank_account.add")).one()
        assert entry.actor_id == producer["owner"].id and entry.after["account_number"] == "0123456789"
