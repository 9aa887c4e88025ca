"""Actions on accounts and credentials write their audit record (in the action's transaction)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from choso.audit import AuditEntry
from choso.db import session_scope
from market import credentials
from market.models import OrganisationKind, Role, User, UserSession
from tests import factories
from tests.mail_sink import MailSink, link_in
from tests.payments.helpers import bearer
from tests.support import PASSWORD, csrf_from, make_operator, page_login


def entries(db: Session, action: str) -> list[AuditEntry]:
    db.rollback()  # a new snapshot
    return list(db.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))))


def test_creating_an_operator_is_audited(db: Session) -> None:
    make_operator("new.ops@example.vn")
    [entry] = entries(db, "user.create_operator")
    assert entry.actor_role == "cli" and entry.after == {"email": "new.ops@example.vn", "role": "operator"}


def test_creating_an_agency_officer_is_audited_with_the_operator_and_address(
    client: TestClient, db: Session
) -> None:
    operator = factories.user(Role.OPERATOR)
    body = {
        "email": "officer.audit@example.vn",
        "password": PASSWORD,
        "full_name": "Lê Thị Hoa",
        "agency_name": "Sở Tài chính Thanh Hóa",
        "address": {"ward_code": 14797},
    }
    created = client.post("/api/v1/operator/agency-officers", json=body, headers=bearer(operator))
    assert created.status_code == 201, created.text
    [entry] = entries(db, "user.create_agency_officer")
    assert (entry.actor_id, entry.actor_role, entry.ip_address) == (operator.id, "operator", "testclient")
    assert entry.object_id == str(created.json()["id"])
    assert entry.after and entry.after["email"] == "officer.audit@example.vn"


def test_staff_logins_are_audited_on_the_page_and_the_api_and_others_are_not(
    client: TestClient, make_client, db: Session
) -> None:
    _agency, officer = factories.staff(OrganisationKind.AGENCY)
    buyer = factories.user(Role.BUYER)
    page_login(client, officer.email)  # the password step (a second factor may follow)
    make_client().post("/api/v1/auth/token", json={"email": officer.email, "password": PASSWORD})
    page_login(make_client(), buyer.email)
    logins = entries(db, "auth.login")
    assert [(e.actor_id, e.actor_role, e.organisation_id) for e in logins] == [
        (officer.id, "agency_officer", officer.organisation_id)
    ] * 2
    assert {e.ip_address for e in logins} == {"testclient"}
    page_login(make_client(), officer.email, "sai-mật-khẩu")
    assert len(entries(db, "auth.login")) == 2  # a failed login is not one
    headers = bearer(officer)
    again = client.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD}, headers=headers)
    assert again.status_code == 204
    [reauth] = entries(db, "auth.reauthenticate")
    assert reauth.actor_id == officer.id and len(entries(db, "auth.login")) == 2


def test_revoking_sessions_and_tokens_is_audited(client: TestClient, make_client, db: Session) -> None:
    user = factories.user(Role.PRODUCER)
    other = make_client()
    page_login(other, user.email)
    page_login(make_client(), user.email)
    page_login(client, user.email)
    headers = bearer(user)
    with session_scope() as session:
        fresh = session.get_one(User, user.id)
        session_ids = [row.id for row in credentials.list_sessions(session, fresh)]
        token_id = credentials.list_tokens(session, fresh)[0].id
    page = client.get("/account/security")
    current = max(session_ids)
    first = min(session_ids)
    assert (
        client.post(f"/account/sessions/{first}/end", data={"csrf_token": csrf_from(page)}).status_code == 200
    )
    page = client.get("/account/security")
    client.post("/account/sessions/end-others", data={"csrf_token": csrf_from(page)})
    assert client.delete(f"/api/v1/me/tokens/{token_id}", headers=headers).status_code == 204
    [one] = entries(db, "session.revoke")
    assert (one.actor_id, one.object_type, one.object_id) == (user.id, "user_session", str(first))
    assert one.ip_address == "testclient"
    [others] = entries(db, "session.revoke_others")
    assert others.object_id == str(user.id)
    [token] = entries(db, "api_token.revoke")
    assert (token.object_type, token.object_id) == ("api_token", str(token_id))
    db.rollback()
    assert [row.id for row in db.exec(select(UserSession).where(UserSession.user_id == user.id))] == [current]


def test_a_manual_payment_request_by_staff_is_audited_once(client: TestClient, db: Session) -> None:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    factories.bank_account(org.id)
    headers = {**bearer(owner), "Idempotency-Key": uuid.uuid4().hex}
    body = {"amount_vnd": 150_000, "description": "Nem chua Thanh Hóa, 3 chục"}
    first = client.post("/api/v1/payment-requests", json=body, headers=headers)
    again = client.post("/api/v1/payment-requests", json=body, headers=headers)  # a replay
    assert first.status_code == again.status_code == 201
    [entry] = entries(db, "payment_request.create")
    assert (entry.actor_id, entry.organisation_id, entry.object_id) == (
        owner.id,
        org.id,
        str(first.json()["id"]),
    )
    assert entry.after == {"amount_vnd": 150_000, "payee_organisation_id": org.id}


def test_a_password_reset_is_audited(client: TestClient, mail_sink: MailSink, db: Session) -> None:
    user = factories.user()
    client.post("/api/v1/auth/password-reset", json={"email": user.email})
    token = link_in(mail_sink.wait_for(user.email)[0]).rsplit("/", 1)[1]
    confirm = {"token": token, "password": "Mới-toanh-2027!"}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    [entry] = entries(db, "account.password_reset")
    assert (entry.actor_id, entry.ip_address, entry.object_id) == (user.id, "testclient", str(user.id))
