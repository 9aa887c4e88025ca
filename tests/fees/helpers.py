"""Arranging agencies, catalogues and notices for the fees tests."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.testclient import TestClient

from market.models import Organisation, OrganisationKind, User
from payments.models import BankAccount
from tests import factories
from tests.payments.helpers import bearer

_keys = itertools.count(1)
# Well-formed citizen ID numbers: Thanh Hóa (038), a man born in 1985, a woman born in 2001.
CITIZEN_ID = "038085012345"
CITIZEN_ID_2 = "038301000777"


@dataclass
class Agency:
    org: Organisation
    officer: User
    account: BankAccount
    auth: dict[str, str]


def agency(name: str | None = None) -> Agency:
    org = factories.organisation(OrganisationKind.AGENCY, name=name)
    officer = factories.user("agency_officer", org.id)
    account = factories.bank_account(org.id)
    return Agency(org, officer, account, bearer(officer))


def service_payload(account_id: int, code: str = "CT01", **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "code": code,
        "name_vi": "Chứng thực bản sao từ bản chính",
        "name_en": "Certified copy of an original",
        "kind": "phi",
        "legal_basis": "Thông tư 226/2016/TT-BTC",
        "rule": "tiered",
        "unit_name": "trang",
        "tiers": [{"up_to": 2, "unit_price_vnd": 2_000}, {"up_to": None, "unit_price_vnd": 1_000}],
        "cap_vnd": 200_000,
        "active_from": date(2020, 1, 1).isoformat(),
        "bank_account_id": account_id,
        "published": True,
    }
    payload.update(overrides)
    return payload


def fixed_payload(
    account_id: int, code: str = "HKD", amount: int = 100_000, **overrides: Any
) -> dict[str, Any]:
    return service_payload(
        account_id,
        code,
        name_vi="Đăng ký hộ kinh doanh",
        name_en="Household business registration",
        kind="le_phi",
        legal_basis="Thông tư 85/2019/TT-BTC",
        rule="fixed",
        amount_vnd=amount,
        unit_name="",
        tiers=[],
        cap_vnd=None,
        **overrides,
    )


def create_service(client: TestClient, who: Agency, payload: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/fees/services", json=payload, headers=who.auth)
    assert response.status_code == 201, response.text
    return response.json()


def issue(client: TestClient, who: Agency, payload: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {**who.auth, "Idempotency-Key": key or f"fee-notice-{next(_keys):06d}"}
    response = client.post("/api/v1/fees/notices", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def notice_payload(service_id: int, quantity: int = 1, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "payer_name": "Nguyễn Văn Bình",
        "payer_id_number": CITIZEN_ID,
        "payer_phone": "0912 345 678",
        "dossier_number": f"HS-{next(_keys):05d}",
        "lines": [{"service_id": service_id, "quantity": quantity}],
    }
    payload.update(overrides)
    return payload


def token_of(public_url: str) -> str:
    return public_url.rsplit("/", 1)[1]


def api_user(email: str) -> dict[str, str]:
    """A bearer token for an existing user, by e-mail."""
    from sqlmodel import select

    from choso.db import session_scope

    with session_scope() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        session.expunge(user)
    return bearer(user)
