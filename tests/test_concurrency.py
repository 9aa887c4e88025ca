"""Races on unique data end in one winner and clear 409s, never in a server error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func
from sqlmodel import Session, select

from choso.db import session_scope
from choso.errors import Conflict
from market import parties
from market.models import Organisation, User
from tests.support import PASSWORD, VALID_TAX_CODES


def race(attempts: int, make_registration: callable) -> list[str]:  # type: ignore[valid-type]
    barrier = threading.Barrier(attempts)

    def attempt(index: int) -> str:
        data = make_registration(index)
        barrier.wait()
        with session_scope() as session:
            try:
                parties.register(session, data)
            except Conflict:
                return "conflict"
        return "created"

    with ThreadPoolExecutor(attempts) as pool:
        return sorted(pool.map(attempt, range(attempts)))


def test_same_email_registered_at_once_creates_one_account(db: Session) -> None:
    outcomes = race(
        4,
        lambda i: parties.Registration(email="lan@example.vn", password=PASSWORD, full_name=f"Lan {i}"),
    )
    assert outcomes == ["conflict", "conflict", "conflict", "created"]
    assert db.exec(select(func.count()).select_from(User)).one() == 1


def test_same_tax_code_registered_at_once_creates_one_business(db: Session) -> None:
    outcomes = race(
        3,
        lambda i: parties.Registration(
            email=f"htx{i}@example.vn",
            password=PASSWORD,
            full_name=f"Chủ hộ {i}",
            role="producer",
            organisation_name=f"HTX số {i}",
            tax_code=VALID_TAX_CODES[2],
        ),
    )
    assert outcomes == ["conflict", "conflict", "created"]
    assert db.exec(select(func.count()).select_from(Organisation)).one() == 1
    assert db.exec(select(func.count()).select_from(User)).one() == 1
