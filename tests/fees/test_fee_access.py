"""Who may see and do what: two agencies, a producer, a buyer, an operator, and nobody at all;
public links cannot be guessed or enumerated, and expose no personal data beyond the payer's."""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from market.models import OrganisationKind, Role
from tests import factories
from tests.fees import helpers
from tests.payments.helpers import bearer
from tests.support import make_operator


def main_of(page: str) -> str:
    return page[page.index("<main>") : page.index("</main>")]


def test_object_level_authorisation_matrix(client: TestClient) -> None:
    a, b = helpers.agency(), helpers.agency()
    producer_org, producer = factories.staff(OrganisationKind.PRODUCER)
    buyer = factories.user(Role.BUYER)
    make_operator("ops-fees@example.vn")
    operator = helpers.api_user("ops-fees@example.vn")
    published = helpers.create_service(client, a, helpers.fixed_payload(a.account.id, "HKD"))
    draft = helpers.create_service(client, a, helpers.fixed_payload(a.account.id, "NHAP", published=False))
    issued = helpers.issue(client, a, helpers.notice_payload(published["id"]))
    outsiders = {"agency B": b.auth, "producer": bearer(producer), "buyer": bearer(buyer)}

    for name, auth in outsiders.items():
        assert client.get(f"/api/v1/fees/services/{draft['id']}", headers=auth).status_code == 404, name
        assert client.get(f"/api/v1/fees/services/{published['id']}", headers=auth).status_code == 200, name
        put = client.put(
            f"/api/v1/fees/services/{published['id']}",
            json=helpers.fixed_payload(a.account.id, "HKD"),
            headers=auth,
        )
        assert put.status_code in (403, 404), name
        notice_status = 404 if name == "agency B" else 403
        assert (
            client.get(f"/api/v1/fees/notices/{issued['id']}", headers=auth).status_code == notice_status
        ), name
        cancel = client.post(
            f"/api/v1/fees/notices/{issued['id']}/cancel", json={"reason": "thử"}, headers=auth
        )
        assert cancel.status_code == notice_status, name
        report = client.get(f"/api/v1/fees/reports?on=2026-05-01&agency_id={a.org.id}", headers=auth)
        assert report.status_code == notice_status, name
    # Agency B cannot issue a notice for A's service, nor use A's bank account in its catalogue.
    assert (
        client.post(
            "/api/v1/fees/notices",
            json=helpers.notice_payload(published["id"]),
            headers={**b.auth, "Idempotency-Key": "b-steals-0001"},
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/fees/services", json=helpers.fixed_payload(a.account.id, "X1"), headers=b.auth
        ).status_code
        == 422
    )
    # B's list shows none of A's notices; A's shows its own; the operator reads all, changes nothing.
    assert client.get("/api/v1/fees/notices", headers=b.auth).json()["total"] == 0
    assert client.get("/api/v1/fees/notices", headers=a.auth).json()["total"] == 1
    assert client.get(f"/api/v1/fees/notices/{issued['id']}", headers=operator).status_code == 200
    assert (
        client.get(f"/api/v1/fees/reports?on=2026-05-01&agency_id={a.org.id}", headers=operator).status_code
        == 200
    )
    assert (
        client.post(
            f"/api/v1/fees/notices/{issued['id']}/cancel", json={"reason": "thử"}, headers=operator
        ).status_code
        == 403
    )
    # Nobody logged in: the public catalogue only, never drafts.
    anonymous = TestClient(client.app)
    services = anonymous.get(f"/api/v1/fees/agencies/{a.org.id}/services").json()
    assert [s["code"] for s in services] == ["HKD"]
    assert anonymous.get(f"/api/v1/fees/notices/{issued['id']}").status_code == 401
    assert anonymous.get(f"/fees/agencies/{a.org.id}").status_code == 200
    assert "NHAP" not in anonymous.get(f"/fees/agencies/{a.org.id}").text
    assert producer_org.id  # the producer's organisation exists, it simply is no agency
    assert anonymous.get(f"/fees/agencies/{producer_org.id}").status_code == 404


def test_public_links_cannot_be_guessed_and_show_only_what_the_payer_needs(client: TestClient) -> None:
    a = helpers.agency()
    service = helpers.create_service(client, a, helpers.fixed_payload(a.account.id))
    issued = helpers.issue(
        client,
        a,
        helpers.notice_payload(service["id"], payer_email="binh@example.vn", payer_address="12 Lê Lợi"),
    )
    token = helpers.token_of(issued["public_url"])
    anonymous = TestClient(client.app)
    page = anonymous.get(f"/fees/n/{token}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store" and "noindex" in page.headers["x-robots-tag"]
    for private in (helpers.CITIZEN_ID, "binh@example.vn", "0912345678", "12 Lê Lợi"):
        assert private not in page.text
    missing = anonymous.get("/this-page-does-not-exist")
    wrong_tokens = [
        secrets.token_urlsafe(24),  # the same shape, random
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # one character off
        token[:16],  # a prefix
        str(issued["id"]),  # the notice's number as a token
        issued["reference_code"],  # the printed reference code
        "../" + token,
    ]
    for wrong in wrong_tokens:
        for path in (f"/fees/n/{wrong}", f"/fees/n/{wrong}/qr.svg"):
            response = anonymous.get(path)
            assert response.status_code == 404, (path, response.status_code)
        api = anonymous.get(f"/api/v1/fees/public/{wrong}")
        assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"
        page = anonymous.get(f"/fees/n/{wrong}")
        assert main_of(page.text) == main_of(missing.text)  # the same 404 as any other
    # The public JSON carries the masked ID only.
    public = anonymous.get(f"/api/v1/fees/public/{token}").json()
    assert public["payer_id_masked"] == "•••••••••345" and helpers.CITIZEN_ID not in str(public)
