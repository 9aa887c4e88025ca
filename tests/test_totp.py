"""Two-factor authentication: enrolment, the login's second step, replays, recovery codes, the
rate limit, the API's token exchange, and that a half-authenticated browser reaches nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from choso.audit import SYSTEM, AuditEntry
from choso.db import session_scope, utcnow
from choso.settings import get_settings
from market import totp
from market.models import Role, User, UserSession
from market.totp_models import LoginChallenge, RecoveryCode, TotpCredential
from tests import factories
from tests.support import PASSWORD, TOTP_SECRET, page_csrf, page_login, totp_code_for

_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


def _password_step(client: TestClient, email: str, next_page: str = "/account") -> str:
    form = {"email": email, "password": PASSWORD, "next": next_page, "csrf_token": page_csrf(client)}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _submit(client: TestClient, path: str, **fields: str) -> object:
    form_page = "/account/totp" if path.startswith("/account/totp/") else path
    return client.post(
        path, data={**fields, "csrf_token": page_csrf(client, form_page)}, follow_redirects=False
    )


def _audit(db: Session, action: str) -> list[AuditEntry]:
    db.rollback()  # a fresh snapshot
    return list(
        db.exec(select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))).all()
    )


def _unenrolled(role: str = Role.OPERATOR) -> User:
    """Staff who have not enrolled yet (as an operator creates officers: no secret)."""
    user = factories.user(Role.BUYER)
    with session_scope() as session:
        session.exec(update(User).where(col(User.id) == user.id).values(role=role))
        session.commit()
    return user


# --- pure rules ------------------------------------------------------------------------------


def test_codes_are_accepted_one_step_either_side_only() -> None:
    now = utcnow()
    step = totp.time_step(now)
    for offset in (-1, 0, 1):
        assert (
            totp.matching_step(TOTP_SECRET, totp.code_for(TOTP_SECRET, step + offset), now) == step + offset
        )
    for offset in (-3, -2, 2, 3):
        assert totp.matching_step(TOTP_SECRET, totp.code_for(TOTP_SECRET, step + offset), now) is None
    assert totp.matching_step(TOTP_SECRET, "12345", now) is None
    assert totp.matching_step(TOTP_SECRET, "abcdef", now) is None


# --- enrolment at the first login of staff ----------------------------------------------------


def test_staff_without_totp_enrol_at_login_and_get_ten_single_use_recovery_codes(
    client: TestClient, db: Session
) -> None:
    officer = _unenrolled(Role.AGENCY_OFFICER)
    assert _password_step(client, officer.email, "/fees") == "/login/totp/enrol"
    assert not any("session" in name for name in client.cookies)

    # Half-authenticated: nothing else opens.
    for path in ("/account", "/account/security", "/fees", "/account/totp"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path

    page = client.get("/login/totp/enrol")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml;base64,' in page.text
    secret = _SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[union-attr]
    stored = db.exec(select(TotpCredential).where(TotpCredential.user_id == officer.id)).one()
    assert secret not in stored.secret_encrypted and stored.confirmed_at is None

    wrong = _submit(client, "/login/totp/enrol", code="000000")
    assert wrong.status_code == 422  # type: ignore[attr-defined]
    assert len(_audit(db, "totp.failed")) == 1

    done = _submit(client, "/login/totp/enrol", code=totp.code_for(secret, totp.time_step(utcnow())))
    assert done.status_code == 200, done.text  # type: ignore[attr-defined]
    codes = _CODES.findall(done.text)  # type: ignore[attr-defined]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/fees"' in done.text  # type: ignore[attr-defined]
    assert client.get("/account", follow_redirects=False).status_code == 200
    [enrolled] = _audit(db, "totp.enrolled")
    assert enrolled.actor_id == officer.id and enrolled.actor_role == Role.AGENCY_OFFICER
    hashes = db.exec(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == officer.id)).all()
    assert len(hashes) == 10 and not set(codes) & set(hashes)
    # The secret is never shown again.
    assert client.get("/login/totp/enrol", follow_redirects=False).headers["location"] == "/login"
    assert secret.lower() not in client.get("/account/totp").text.lower()


def test_enrolled_staff_give_a_code_and_cannot_skip_the_second_step(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    assert _password_step(client, officer.email, "/fees") == "/login/totp"
    for path in ("/account", "/fees", "/operator", "/account/security", "/login/totp/enrol"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    forms = client.post(
        "/account/sessions/end-others", data={"csrf_token": page_csrf(client)}, follow_redirects=False
    )
    assert forms.status_code == 303 and forms.headers["location"].startswith("/login")

    done = _submit(client, "/login/totp", code=totp_code_for(officer.id))
    assert done.status_code == 303 and done.headers["location"] == "/fees"  # type: ignore[attr-defined]
    assert client.get("/account", follow_redirects=False).status_code == 200
    # The challenge is spent: it cannot be used for a second session.
    assert client.get("/login/totp", follow_redirects=False).headers["location"] == "/login"


def test_a_code_is_accepted_once(make_client: Callable[[], TestClient], db: Session) -> None:
    _org, officer = factories.staff("agency")
    code = totp_code_for(officer.id)
    first, second = make_client(), make_client()
    _password_step(first, officer.email)
    assert _submit(first, "/login/totp", code=code).status_code == 303  # type: ignore[attr-defined]
    _password_step(second, officer.email)
    replay = _submit(second, "/login/totp", code=code)
    assert replay.status_code == 401  # type: ignore[attr-defined]
    assert second.get("/account", follow_redirects=False).status_code == 303
    assert _audit(db, "totp.failed")[-1].after == {"kind": "code"}
    # A fresh code (a later step) is accepted.
    assert _submit(second, "/login/totp", code=totp_code_for(officer.id)).status_code == 303  # type: ignore[attr-defined]


def test_recovery_code_works_once_and_is_audited(client: TestClient, db: Session) -> None:
    _org, officer = factories.staff("agency")
    with session_scope() as session:
        codes = totp.regenerate_recovery_codes(session, session.get_one(User, officer.id), SYSTEM)
    _password_step(client, officer.email)
    assert _submit(client, "/login/totp", recovery_code=codes[3].upper()).status_code == 303  # type: ignore[attr-defined]
    [used] = _audit(db, "totp.recovery_code_used")
    assert used.after == {"recovery_codes_left": 9}

    client.post("/logout", data={"csrf_token": page_csrf(client, "/account")})
    _password_step(client, officer.email)
    assert _submit(client, "/login/totp", recovery_code=codes[3]).status_code == 401  # type: ignore[attr-defined]
    assert _audit(db, "totp.failed")[-1].after == {"kind": "recovery_code"}


def test_code_attempts_are_rate_limited(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    _password_step(client, officer.email)
    for _ in range(get_settings().login_max_failures):
        assert _submit(client, "/login/totp", code="000000").status_code == 401  # type: ignore[attr-defined]
    blocked = _submit(client, "/login/totp", code=totp_code_for(officer.id))
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers  # type: ignore[attr-defined]
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_an_expired_challenge_leads_back_to_the_login(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    _password_step(client, officer.email)
    with session_scope() as session:
        session.exec(update(LoginChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    response = _submit(client, "/login/totp", code=totp_code_for(officer.id))
    assert response.status_code == 303 and response.headers["location"] == "/login"  # type: ignore[attr-defined]


def test_helpers_log_the_same_officer_in_many_times_quickly(make_client: Callable[[], TestClient]) -> None:
    _org, officer = factories.staff("agency")
    for _ in range(4):
        assert page_login(make_client(), officer.email).status_code == 303


# --- optional for other roles; regenerating and disabling need the password again ------------


def test_buyer_may_enrol_regenerate_and_disable(
    client: TestClient, make_client: Callable[[], TestClient], db: Session
) -> None:
    buyer = factories.user(Role.BUYER)
    assert page_login(client, buyer.email).headers["location"] == "/account"
    assert 'action="/account/totp/enrol"' in client.get("/account/totp").text
    page = _submit(client, "/account/totp/enrol")
    secret = _SECRET.search(page.text).group(1).replace(" ", "")  # type: ignore[attr-defined,union-attr]
    done = _submit(client, "/account/totp/enrol", code=totp.code_for(secret, totp.time_step(utcnow())))
    first_codes = _CODES.findall(done.text)  # type: ignore[attr-defined]
    assert len(first_codes) == 10

    # Regenerating needs a recent password.
    with session_scope() as session:
        stale = utcnow() - timedelta(minutes=get_settings().reauth_minutes + 1)
        session.exec(update(UserSession).values(reauthenticated_at=stale))
        session.commit()
    refused = _submit(client, "/account/totp/recovery-codes")
    assert refused.status_code == 401 and 'action="/reauth"' in refused.text  # type: ignore[attr-defined]
    _submit(client, "/reauth", password=PASSWORD, next="/account/totp")
    again = _submit(client, "/account/totp/recovery-codes")
    new_codes = _CODES.findall(again.text)  # type: ignore[attr-defined]
    assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)
    assert len(_audit(db, "totp.recovery_codes_regenerated")) == 1

    # A buyer with TOTP gets the second step too.
    other = make_client()
    assert _password_step(other, buyer.email) == "/login/totp"
    assert _submit(other, "/login/totp", recovery_code=first_codes[0]).status_code == 401  # type: ignore[attr-defined]
    assert _submit(other, "/login/totp", recovery_code=new_codes[0]).status_code == 303  # type: ignore[attr-defined]

    assert _submit(client, "/account/totp/disable").status_code == 303  # type: ignore[attr-defined]
    assert len(_audit(db, "totp.disabled")) == 1
    assert page_login(make_client(), buyer.email).headers["location"] == "/account"


def test_staff_cannot_disable_totp(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    assert page_login(client, officer.email).status_code == 303
    assert _submit(client, "/account/totp/disable").status_code == 403  # type: ignore[attr-defined]
    assert totp_code_for(officer.id)


# --- the API's token exchange ----------------------------------------------------------------


def test_api_token_needs_a_code_from_staff(client: TestClient, db: Session) -> None:
    _org, officer = factories.staff("agency")
    body = {"email": officer.email, "password": PASSWORD}
    missing = client.post("/api/v1/auth/token", json=body)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "totp_required"
    code = totp_code_for(officer.id)
    assert client.post("/api/v1/auth/token", json={**body, "totp_code": code}).status_code == 200
    replay = client.post("/api/v1/auth/token", json={**body, "totp_code": code})
    assert replay.status_code == 401 and replay.json()["error"]["code"] == "totp_invalid"
    wrong_password = client.post("/api/v1/auth/token", json={**body, "password": "nope-nope-nope"})
    assert wrong_password.status_code == 401 and wrong_password.json()["error"]["code"] == "not_authenticated"

    newcomer = _unenrolled(Role.OPERATOR)
    response = client.post("/api/v1/auth/token", json={"email": newcomer.email, "password": PASSWORD})
    assert response.status_code == 401 and response.json()["error"]["code"] == "totp_enrolment_required"

    buyer = factories.user(Role.BUYER)
    assert (
        client.post("/api/v1/auth/token", json={"email": buyer.email, "password": PASSWORD}).status_code
        == 200
    )


def test_api_code_attempts_share_the_rate_limit(client: TestClient) -> None:
    _org, officer = factories.staff("agency")
    body = {"email": officer.email, "password": PASSWORD}
    for _ in range(get_settings().login_max_failures):
        assert client.post("/api/v1/auth/token", json={**body, "totp_code": "000000"}).status_code == 401
    blocked = client.post("/api/v1/auth/token", json={**body, "totp_code": totp_code_for(officer.id)})
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "rate_limited"
