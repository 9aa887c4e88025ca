"""Helpers that act like a user of the site or the API."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

PASSWORD = "Đồng-lúa-2026"
# Real, checksum-valid Vietnamese tax codes (python-stdnum accepts them).
VALID_TAX_CODES = ("0100233583", "0101243150", "0302688417", "2800112348")
WARD_HAC_THANH = 14797  # Phường Hạc Thành, Thanh Hóa
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(response: Response) -> str:
    match = _CSRF.search(response.text)
    assert match, "page has no CSRF token"
    return match.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    return csrf_from(client.get(path))


def buyer_payload(email: str = "lan@example.vn", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "email": email,
        "password": PASSWORD,
        "full_name": "Nguyễn Thị Lan",
        "role": "buyer",
        "address": {"ward_code": WARD_HAC_THANH, "street": "12 Lê Hoàn"},
    }
    payload.update(overrides)
    return payload


def producer_payload(
    email: str = "htx@example.vn", tax_code: str = VALID_TAX_CODES[0], **overrides: Any
) -> dict[str, Any]:
    payload = buyer_payload(email, full_name="Lê Văn Nam", role="producer")
    payload.update({"organisation_name": "Hợp tác xã Nem chua Hạc Thành", "tax_code": tax_code})
    payload.update(overrides)
    return payload


def api_register(client: TestClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/auth/register", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def api_token(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    body = {"email": email, "password": password}
    if ensure_totp(email):
        body["totp_code"] = totp_code_for(email)
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def page_login(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    """Log in through the login page, and through its second step when the account has
    two-factor authentication (staff: enrolled with TOTP_SECRET first if they are not)."""
    ensure_totp(email)
    token = page_csrf(client, "/login")
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )
    if response.status_code != 303 or response.headers["location"] != "/login/totp":
        return response
    form = {"code": totp_code_for(email), "csrf_token": page_csrf(client, "/login/totp")}
    return client.post("/login/totp", data=form, follow_redirects=False)


# --- two-factor authentication -----------------------------------------------------------------

# The TOTP secret of every operator and agency officer the helpers and factories enrol.
TOTP_SECRET = "JBSWY3DPEHPK3PXPCHOSOTESTSECRET2"


def _user_row(session: Any, user: int | str) -> Any:
    from sqlmodel import select

    from market.models import User

    if isinstance(user, int):
        return session.get(User, user)
    return session.exec(select(User).where(User.email == user.strip().lower())).first()


def ensure_totp(user: int | str) -> bool:
    """Enrol an operator or officer who has not enrolled yet (with TOTP_SECRET, straight in the
    database, as the factories do); whether the account now uses TOTP."""
    from choso.db import session_scope, utcnow
    from market import totp

    with session_scope() as session:
        row = _user_row(session, user)
        if row is None:
            return False
        credential = totp.find_credential(session, row.id)
        if credential is None and totp.is_required(row):
            session.add(totp.confirmed_credential(row.id, TOTP_SECRET, utcnow()))
            session.commit()
            return True
        return credential is not None and credential.confirmed_at is not None


def totp_code_for(user: int | str) -> str:
    """A valid code of the user's TOTP secret (confirmed, or pending enrolment) that the server
    has not accepted yet: for the current 30 s step, else the next one (the server accepts one
    step either side). A test that logs the same user in a third time within one step finds
    both used; rather than wait for the clock, the helper moves that user's replay marker back
    one step in the database (tests only: the server's rule is unchanged and tested)."""
    from sqlalchemy import update

    from choso.db import session_scope, utcnow
    from market import totp
    from market.totp_models import TotpCredential

    with session_scope() as session:
        row = _user_row(session, user)
        assert row is not None, f"no such user {user!r}"
        credential = totp.find_credential(session, row.id)
        assert credential is not None, f"{user!r} has no TOTP secret (not enrolling, not enrolled)"
        secret, now = totp.decrypt_secret(credential), totp.time_step(utcnow())
        last = credential.last_step if credential.last_step is not None else now - 2
        for step in (now, now + 1):
            if step > last:
                return totp.code_for(secret, step)
        session.exec(
            update(TotpCredential).where(TotpCredential.id == credential.id).values(last_step=now - 1)
        )
        session.commit()
        return totp.code_for(secret, now)


def make_operator(email: str = "ops@example.vn") -> None:
    from choso.db import session_scope
    from market import parties

    with session_scope() as session:
        parties.create_operator(session, email=email, full_name="Vận hành viên", password=PASSWORD)
    ensure_totp(email)
