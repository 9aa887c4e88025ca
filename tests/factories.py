"""Rows arranged directly (not through the registration endpoint), for tests of later steps.

Users get a password hash computed once per run, so arranging a user costs no argon2 time;
they can still log in with ``tests.support.PASSWORD``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from functools import cache

from sqlmodel import Session

from choso.db import session_scope, utcnow
from market import security, totp
from market.models import DeliveryOption, Organisation, OrganisationKind, Product, Role, User
from payments.models import BankAccount, PaymentRequest
from tests.support import PASSWORD, TOTP_SECRET, WARD_HAC_THANH

_serial = itertools.count(1)
VIETCOMBANK_BIN = "970436"


@cache
def password_hash() -> str:
    return security.hash_password(PASSWORD)


def _saved(row: object) -> object:
    with session_scope() as session:
        session.add(row)
        session.commit()
        session.refresh(row)
        session.expunge(row)
    return row


def organisation(kind: str = OrganisationKind.PRODUCER, name: str | None = None) -> Organisation:
    n = next(_serial)
    return _saved(  # type: ignore[return-value]
        Organisation(
            kind=kind,
            name=name or f"Hợp tác xã Số {n}",
            tax_code=f"28{n:08d}",
            province_code=38,
            ward_code=WARD_HAC_THANH,
            street=f"{n} Lê Lợi",
        )
    )


def user(role: str = Role.BUYER, organisation_id: int | None = None, email: str | None = None) -> User:
    """A user; operators and agency officers come enrolled in TOTP with support.TOTP_SECRET
    (log them in with support.page_login / api_token, or totp_code_for)."""
    n = next(_serial)
    row: User = _saved(  # type: ignore[assignment]
        User(
            email=email or f"user{n}@example.vn",
            full_name=f"Người dùng {n}",
            password_hash=password_hash(),
            role=role,
            organisation_id=organisation_id,
        )
    )
    if totp.is_required(row):
        _saved(totp.confirmed_credential(row.id or 0, TOTP_SECRET, utcnow()))
    return row


def staff(kind: str = OrganisationKind.PRODUCER) -> tuple[Organisation, User]:
    org = organisation(kind)
    role = Role.PRODUCER if kind == OrganisationKind.PRODUCER else Role.AGENCY_OFFICER
    return org, user(role, org.id)


def bank_account(organisation_id: int | None, number: str | None = None) -> BankAccount:
    n = next(_serial)
    return _saved(  # type: ignore[return-value]
        BankAccount(
            organisation_id=organisation_id,
            bank_bin=VIETCOMBANK_BIN,
            account_number=number or f"00110{n:08d}",
            holder_name="HTX SO " + str(n),
        )
    )


def payment_request(
    organisation_id: int,
    bank_account_id: int,
    amount_vnd: int = 150_000,
    *,
    payer_user_id: int | None = None,
    minutes: int = 60,
) -> PaymentRequest:
    from payments import requests

    with session_scope() as session:
        request = requests.open_request(
            session,
            payee_organisation_id=organisation_id,
            bank_account_id=bank_account_id,
            amount_vnd=amount_vnd,
            description="Đơn hàng thử",
            payer_name="Nguyễn Thị Lan",
            payer_user_id=payer_user_id,
            expires_at=utcnow() + timedelta(minutes=minutes),
        )
        session.commit()
        session.expunge(request)
    return request


def reload(session: Session, row: object) -> object:
    session.rollback()
    return session.get(type(row), row.id)  # type: ignore[attr-defined]


# --- orders (issue 8) ---------------------------------------------------------------------------


def product(
    producer_id: int,
    name: str = "Gạo thơm Thiệu Hóa",
    *,
    price_vnd: int = 25_000,
    stock: int = 100,
    description: str = "",
    category: str = "rice",
    unit: str = "kg",
    ocop_stars: int | None = None,
    is_active: bool = True,
) -> Product:
    return _saved(  # type: ignore[return-value]
        Product(
            producer_id=producer_id,
            name=name,
            description=description,
            category=category,
            unit=unit,
            price_vnd=price_vnd,
            stock=stock,
            ocop_stars=ocop_stars,
            is_active=is_active,
        )
    )


def platform_bank_account() -> BankAccount:
    """The platform's own account: checkouts are paid into it."""
    return bank_account(None)


def delivery_option(organisation_id: int, fee_vnd: int = 30_000, offers: bool = True) -> DeliveryOption:
    return _saved(  # type: ignore[return-value]
        DeliveryOption(organisation_id=organisation_id, offers_delivery=offers, delivery_fee_vnd=fee_vnd)
    )
