"""Arranging bank statements for the reconciliation tests: requests with payers, statement lines
written out as the bank would (CAMT.053 with balances, the generic CSV), uploads through the API."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from fastapi.testclient import TestClient
from httpx2 import Response
from sqlmodel import Session, col, func, select

from choso.db import session_scope, utcnow
from market.models import User
from payments import ledger, requests
from payments.models import Payment, PaymentRequest
from payments.recon.generate import write_camt053, write_csv
from payments.recon.model import StatementLine as Line
from payments.statement_import import local_today
from payments.statement_models import BankStatement, StatementLine
from tests.payments.helpers import bearer

_reference = itertools.count(1)


def open_request(
    organisation_id: int, account_id: int, amount_vnd: int, payer: str, days: int = 3
) -> PaymentRequest:
    with session_scope() as session:
        request = requests.open_request(
            session,
            payee_organisation_id=organisation_id,
            bank_account_id=account_id,
            amount_vnd=amount_vnd,
            description="Hàng của hợp tác xã",
            payer_name=payer,
            expires_at=utcnow() + timedelta(days=days),
        )
        session.commit()
        session.expunge(request)
    return request


def line(
    amount_vnd: int,
    memo: str,
    *,
    reference: str | None = "auto",
    name: str = "",
    clock: str = "09:00:00",
    day: date | None = None,
) -> Line:
    """A statement line booked today (local time) unless ``day`` says otherwise."""
    bank_reference = f"FT{next(_reference):010d}" if reference == "auto" else reference
    return Line(
        position=0,
        booked_on=day or local_today(),
        amount_vnd=amount_vnd,
        memo=memo,
        bank_reference=bank_reference,
        counterparty_name=name,
        booked_time=clock,
    )


def numbered(lines: list[Line]) -> list[Line]:
    for position, item in enumerate(lines, start=1):
        item.position = position
    return lines


def camt(
    lines: list[Line], account_number: str, *, opening_vnd: int = 0, extra_closing_vnd: int = 0
) -> bytes:
    """CAMT.053 of the lines; its closing balance is opening + lines (+ ``extra_closing_vnd``)."""
    data = write_camt053(numbered(lines), account=account_number, opening_vnd=opening_vnd)
    if extra_closing_vnd:
        closing = opening_vnd + sum(item.amount_vnd for item in lines)
        wrong = closing + extra_closing_vnd
        old = f'<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">{abs(closing)}</Amt>'
        new = f'<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">{abs(wrong)}</Amt>'
        assert old in data.decode()
        data = data.decode().replace(old, new).encode()
    return data


def csv(lines: list[Line], account_number: str = "") -> bytes:
    for item in lines:
        item.account = account_number
    return write_csv(numbered(lines))


def upload(
    client: TestClient, user: User, account_id: int, data: bytes, filename: str = "sao-ke.xml"
) -> Response:
    return client.post(
        f"/api/v1/bank-accounts/{account_id}/statements",
        files={"file": (filename, data, "application/octet-stream")},
        headers=bearer(user),
    )


def statement_lines(db: Session, statement_id: int) -> list[StatementLine]:
    db.rollback()
    return list(
        db.exec(
            select(StatementLine)
            .where(StatementLine.statement_id == statement_id)
            .order_by(col(StatementLine.position))
        )
    )


def statement(db: Session, statement_id: int) -> BankStatement:
    db.rollback()
    return db.get_one(BankStatement, statement_id, populate_existing=True)


def count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).select_from(model)).one())


def payments_of_account(db: Session, account_id: int) -> list[Payment]:
    db.rollback()
    return list(
        db.exec(select(Payment).where(Payment.bank_account_id == account_id).order_by(col(Payment.id)))
    )


def ledger_clean() -> None:
    with session_scope() as session:
        assert ledger.check(session) == []
