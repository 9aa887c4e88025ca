"""Who may see what: the operator against a producer, an agency officer, a buyer and nobody, on
every dashboard, audit-log and pilot endpoint (API and pages); and the audit log's search and
export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import pilots
from choso.audit import AuditEntry
from choso.db import session_scope
from market.models import OrganisationKind, Role, User
from tests import factories
from tests.downloads_helpers import assert_private_file
from tests.payments.helpers import bearer
from tests.support import csrf_from, page_login


def _people() -> dict[str, User]:
    _producer_org, producer = factories.staff(OrganisationKind.PRODUCER)
    _agency_org, officer = factories.staff(OrganisationKind.AGENCY)
    return {
        "operator": factories.user(Role.OPERATOR),
        "producer": producer,
        "officer": officer,
        "buyer": factories.user(Role.BUYER),
    }


def _pilot_body() -> dict[str, object]:
    today = pilots.today()
    return {
        "service": "matching.market",
        "name": "Thí điểm chợ ghép",
        "ward_codes": [],
        "organisation_ids": [],
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=3)).isoformat(),
    }


def test_api_authorisation_matrix(client: TestClient) -> None:
    people = _people()
    auth = {name: bearer(user) for name, user in people.items()}
    producer, officer = people["producer"], people["officer"]
    pilot_body = {**_pilot_body(), "organisation_ids": [producer.organisation_id]}
    created = client.post("/api/v1/operator/pilots", json=pilot_body, headers=auth["operator"])
    assert created.status_code == 201, created.text
    pilot_id = created.json()["id"]
    operator_only = [
        ("GET", "/api/v1/dashboard/operator?range=30d", None),
        ("GET", "/api/v1/dashboard/operator/lists/orders", None),
        ("GET", "/api/v1/dashboard/operator/lists/job-failures", None),
        ("GET", "/api/v1/operator/audit", None),
        ("POST", "/api/v1/operator/audit/export", {}),
        ("GET", "/api/v1/operator/pilots", None),
        ("POST", "/api/v1/operator/pilots", pilot_body),
        ("GET", f"/api/v1/operator/pilots/{pilot_id}/report", None),
        ("POST", f"/api/v1/operator/pilots/{pilot_id}/end", None),
    ]
    anonymous = TestClient(client.app)
    for method, path, body in operator_only:
        for name in ("producer", "officer", "buyer"):
            response = client.request(method, path, json=body, headers=auth[name])
            assert response.status_code == 403, (name, method, path, response.status_code)
        assert anonymous.request(method, path, json=body).status_code == 401, (method, path)
    for method, path, body in operator_only:
        response = client.request(method, path, json=body, headers=auth["operator"])
        assert response.status_code in (200, 201), (method, path, response.text)
    # An organisation's dashboard: its own staff and operators; nobody else.
    own = "/api/v1/dashboard/organisation"
    assert client.get(own, headers=auth["producer"]).json()["organisation_id"] == producer.organisation_id
    assert "sales" in client.get(own, headers=auth["producer"]).json()
    assert "collections" in client.get(own, headers=auth["officer"]).json()
    assert (
        client.get(f"{own}?organisation_id={officer.organisation_id}", headers=auth["producer"]).status_code
        == 404
    )
    assert (
        client.get(f"{own}?organisation_id={producer.organisation_id}", headers=auth["officer"]).status_code
        == 404
    )
    assert client.get(own, headers=auth["buyer"]).status_code == 404
    assert client.get(own, headers=auth["operator"]).status_code == 404  # an operator names one
    assert (
        client.get(f"{own}?organisation_id={officer.organisation_id}", headers=auth["operator"]).status_code
        == 200
    )
    assert client.get(f"{own}?organisation_id=999999", headers=auth["operator"]).status_code == 404
    assert anonymous.get(own).status_code == 401


@pytest.mark.parametrize("name", ["producer", "officer", "buyer"])
def test_page_authorisation_matrix(client: TestClient, name: str) -> None:
    people = _people()
    operator_pages = [
        "/operator/dashboard",
        "/operator/dashboard/lists/payments",
        "/operator/audit",
        "/operator/pilots",
    ]
    anonymous = TestClient(client.app, follow_redirects=False)
    for path in operator_pages:
        assert anonymous.get(path).status_code in (302, 303), path
    assert anonymous.get("/dashboard").status_code in (302, 303)
    user = people[name]
    assert page_login(client, user.email).status_code == 303
    for path in operator_pages:
        assert client.get(path).status_code == 403, (name, path)
    token = csrf_from(client.get("/account"))
    for path in ("/operator/audit/export", "/operator/pilots", "/operator/pilots/1/end"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, (name, path)
    assert client.get("/dashboard").status_code == (404 if name == "buyer" else 200)


def test_operator_pages_and_audit_search_and_export(client: TestClient, db: Session) -> None:
    operator = factories.user(Role.OPERATOR, email="ops-audit@example.vn")
    assert page_login(client, operator.email).status_code == 303
    for path in ("/operator/dashboard", "/operator/audit", "/operator/pilots", "/open-data"):
        assert client.get(path).status_code == 200, path
    token = csrf_from(client.get("/operator/pilots"))
    today = pilots.today()
    form = {
        "csrf_token": token,
        "service": "payments.card",
        "name": "Thẻ ở Hạc Thành",
        "ward_codes": "14797",
        "organisation_ids": "",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=7)).isoformat(),
    }
    assert client.post("/operator/pilots", data=form, follow_redirects=False).status_code == 303
    refused = client.post("/operator/pilots", data={**form, "ends_on": "2000-01-01"})
    assert refused.status_code == 422 and 'class="error"' in refused.text
    db.rollback()
    pilot = db.exec(select(pilots.Pilot)).one()
    assert client.get(f"/operator/pilots/{pilot.id}").status_code == 200
    assert client.post(f"/operator/pilots/{pilot.id}/graduate", data={"csrf_token": token}).status_code == 200
    # A record someone tried to make dangerous, written like any other.
    with session_scope() as session:
        session.add(
            AuditEntry(actor_id=None, action="=cmd|'/C calc'!A0", object_type="test", object_id="-1+1")
        )
        session.commit()
    auth = bearer(operator)
    found = client.get("/api/v1/operator/audit?actor=ops-audit@example.vn&action=pilot.", headers=auth).json()
    assert [row["action"] for row in found["items"]] == ["pilot.graduate", "pilot.define"]
    assert found["items"][0]["actor_email"] == "ops-audit@example.vn" and found["items"][0]["ip_address"]
    by_object = client.get(
        f"/api/v1/operator/audit?object_type=pilot&object_id={pilot.id}", headers=auth
    ).json()
    assert by_object["total"] == 2
    assert (
        client.get("/api/v1/operator/audit?from=2001-01-01&to=2001-12-31", headers=auth).json()["total"] == 0
    )
    assert client.get("/api/v1/operator/audit?from=2001-02-01&to=2001-01-01", headers=auth).status_code == 422
    page = client.get("/operator/audit?action=pilot.")
    assert page.status_code == 200 and "pilot.define" in page.text
    exported = client.post("/api/v1/operator/audit/export", json={"object_type": "test"}, headers=auth)
    assert_private_file(exported, "audit-log.csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [(r["action"], r["object_id"]) for r in rows] == [("'=cmd|'/C calc'!A0", "'-1+1")]
    page_export = client.post("/operator/audit/export", data={"csrf_token": token, "action": "pilot."})
    assert page_export.status_code == 200 and "pilot.define" in page_export.text
    assert_private_file(page_export, "audit-log.csv")
    db.rollback()
    exports = db.exec(select(AuditEntry).where(AuditEntry.action == "audit_log.export")).all()
    assert len(exports) == 2 and exports[0].after["filter"] == {"object_type": "test"}
    for odd in ("²", "٣", "9" * 30):  # digits Python counts but int() or a 64-bit column refuse
        answer = client.post("/api/v1/operator/audit/export", json={"actor": odd}, headers=auth)
        assert answer.status_code == 200, (odd, answer.text)
        assert client.get("/api/v1/operator/audit", params={"actor": odd}, headers=auth).json()["total"] == 0
    # Nobody edits the log, not even through the database.
    with pytest.raises(sa.exc.DatabaseError), session_scope() as session:
        session.exec(sa.text("UPDATE audit_log SET action = 'x'"))  # type: ignore[call-overload]
        session.commit()
