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
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def page_login(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    token = page_csrf(client, "/login")
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
    )


def make_operator(email: str = "ops@example.vn") -> None:
    from choso.db import session_scope
    from market import parties

    with session_scope() as session:
        parties.create_operator(session, email=email, full_name="Vận hành viên", password=PASSWORD)
