"""An operator resets the two-factor authentication of a user who lost their authenticator:
operators only, with a recent password, never their own (four eyes); audited, the user is
logged out everywhere, told by e-mail (a real SMTP server) and notification, logs in with the
password alone and enrols again."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from choso.audit import AuditEntry
from choso.db import session_scope, utcnow
from choso.settings import get_settings
from market import totp
from market.models import ApiToken, Notification, Role, User, UserSession
from market.totp_models import RecoveryCode, TotpCredential
from tests import factories
from tests.conftest import wait_for_jobs
from tests.mail_sink import MailSink
from tests.support import PASSWORD, TOTP_SECRET, api_token, page_csrf, page_login

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


def _enrolled_buyer() -> User:
    """A buyer who turned TOTP on (with TOTP_SECRET and recovery codes)."""
    buyer = factories.user(Role.BUYER)
    with session_scope() as session:
        session.add(totp.confirmed_credential(buyer.id or 0, TOTP_SECRET, utcnow()))
        session.add(RecoveryCode(user_id=buyer.id, code_hash=totp.recovery_code_digest(buyer.id or 0, "x")))
        session.commit()
    return buyer


def _reset_url(user: User) -> str:
    return f"/api/v1/operator/users/{user.id}/totp"


def _stale_reauthentication() -> None:
    stale = utcnow() - timedelta(minutes=get_settings().reauth_minutes + 1)
    with session_scope() as session:
        session.exec(update(UserSession).values(reauthenticated_at=stale))  # type: ignore[call-overload]
        session.exec(update(ApiToken).values(authenticated_at=stale))  # type: ignore[call-overload]
        session.commit()


def _audit(db: Session) -> list[AuditEntry]:
    db.rollback()
    return list(db.exec(select(AuditEntry).where(AuditEntry.action == "totp.reset_by_operator")).all())


def _password_step(client: TestClient, email: str) -> str:
    form = {"email": email, "password": PASSWORD, "csrf_token": page_csrf(client)}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def test_only_another_operator_with_a_recent_password_may_reset(client: TestClient, db: Session) -> None:
    buyer = _enrolled_buyer()
    _producer_org, producer = factories.staff("producer")
    _agency, officer = factories.staff("agency")
    operator = factories.user(Role.OPERATOR)
    for caller in (buyer, producer, officer):  # the user themself included
        response = client.delete(_reset_url(buyer), headers=api_token(client, caller.email))
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", caller.role
    assert client.delete(_reset_url(buyer)).status_code == 401  # no token

    headers = api_token(client, operator.email)
    own = client.delete(_reset_url(operator), headers=headers)
    assert own.status_code == 403 and own.json()["error"]["code"] == "four_eyes"
    assert client.delete("/api/v1/operator/users/999999/totp", headers=headers).status_code == 404

    _stale_reauthentication()
    stale = client.delete(_reset_url(buyer), headers=headers)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "reauthentication_required"
    assert "insufficient_user_authentication" in stale.headers["www-authenticate"]
    assert totp.is_enrolled(db, buyer) and _audit(db) == []

    assert (
        client.post("/api/v1/auth/reauthenticate", json={"password": PASSWORD}, headers=headers).status_code
        == 204
    )
    assert client.delete(_reset_url(buyer), headers=headers).status_code == 204
    again = client.delete(_reset_url(buyer), headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    [entry] = _audit(db)
    assert entry.actor_id == operator.id and entry.object_id == str(buyer.id)
    assert entry.before == {"enrolled": True, "recovery_codes_left": 1}


def test_reset_on_the_operators_user_page_logs_the_user_out_tells_them_and_they_enrol_again(
    client: TestClient, make_client: Callable[[], TestClient], mail_sink: MailSink, db: Session
) -> None:
    buyer = _enrolled_buyer()
    buyer_browser = make_client()
    assert _password_step(buyer_browser, buyer.email) == "/login/totp"  # TOTP is on

    operator = factories.user(Role.OPERATOR)
    assert page_login(client, operator.email).status_code == 303
    found = client.get(f"/operator/users?email={buyer.email.upper()}", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/operator/users/{buyer.id}"
    page = client.get(found.headers["location"])
    assert page.status_code == 200 and buyer.email in page.text
    assert f'action="/operator/users/{buyer.id}/totp/reset"' in page.text
    assert client.get("/operator/users?email=nobody@example.vn").status_code == 404

    path = f"/operator/users/{buyer.id}/totp/reset"
    assert client.post(path, data={"csrf_token": "forged"}).status_code == 403  # CSRF
    _stale_reauthentication()
    token = page_csrf(client, f"/operator/users/{buyer.id}")
    refused = client.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 401 and 'action="/reauth"' in refused.text
    assert totp.is_enrolled(db, buyer)

    client.post("/reauth", data={"password": PASSWORD, "next": "/operator", "csrf_token": token})
    done = client.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/operator/users/{buyer.id}?reset=1"
    assert "Đã đặt lại xác thực hai lớp" in client.get(done.headers["location"]).text
    db.rollback()
    assert db.exec(select(TotpCredential).where(TotpCredential.user_id == buyer.id)).first() is None
    assert db.exec(select(RecoveryCode).where(RecoveryCode.user_id == buyer.id)).first() is None
    [entry] = _audit(db)
    assert entry.actor_id == operator.id and entry.actor_role == Role.OPERATOR

    [message] = mail_sink.wait_for(buyer.email)
    assert message["Subject"] == "Xác thực hai lớp của tài khoản Chợ Số của bạn đã được đặt lại"
    assert "người vận hành Chợ Số đã gỡ xác thực hai lớp" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    wait_for_jobs()
    db.rollback()
    [note] = db.exec(select(Notification).where(Notification.user_id == buyer.id)).all()
    assert note.kind == "totp_reset" and note.params == {"by": operator.full_name}

    # The half-way login ended; the password alone now opens the account, and TOTP can be set up again.
    assert buyer_browser.get("/login/totp", follow_redirects=False).headers["location"].startswith("/login")
    assert _password_step(buyer_browser, buyer.email) == "/account"
    enrol = buyer_browser.post(
        "/account/totp/enrol", data={"csrf_token": page_csrf(buyer_browser, "/account/totp")}
    )
    secret = _SECRET.search(enrol.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    code = totp.code_for(secret, totp.time_step(utcnow()))
    confirmed = buyer_browser.post(
        "/account/totp/enrol", data={"code": code, "csrf_token": page_csrf(buyer_browser, "/account/totp")}
    )
    db.rollback()
    assert confirmed.status_code == 200 and totp.is_enrolled(db, buyer)


def test_operator_cannot_reset_their_own_on_the_page_and_staff_enrol_again_after_a_reset(
    client: TestClient, make_client: Callable[[], TestClient], db: Session
) -> None:
    operator = factories.user(Role.OPERATOR)
    assert page_login(client, operator.email).status_code == 303
    token = page_csrf(client, f"/operator/users/{operator.id}")
    own = client.post(f"/operator/users/{operator.id}/totp/reset", data={"csrf_token": token})
    assert own.status_code == 403 and "người vận hành khác" in own.text
    assert totp.is_enrolled(db, operator)

    _agency, officer = factories.staff("agency")
    officer_browser = make_client()
    assert page_login(officer_browser, officer.email).status_code == 303
    assert officer_browser.get("/account", follow_redirects=False).status_code == 200
    done = client.post(
        f"/operator/users/{officer.id}/totp/reset", data={"csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    # The officer's session ended; staff must enrol again at their next login.
    assert officer_browser.get("/account", follow_redirects=False).status_code == 303
    assert _password_step(officer_browser, officer.email) == "/login/totp/enrol"
    db.rollback()
    assert db.exec(select(UserSession).where(col(UserSession.user_id) == officer.id)).first() is None
