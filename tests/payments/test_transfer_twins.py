"""One bank transfer reported by a webhook and by a statement line is counted once, whichever
arrives first and whether or not each carries the bank's reference (payments.transfer_twins)."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.db import session_scope
from market.models import OrganisationKind
from payments import ledger
from payments.models import PaymentRequest, SuspenseItem, WebhookEvent
from payments.statement_models import BankStatement
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.payments.helpers import notice, post_sepay, sepay_body
from tests.payments.statement_support import (
    csv,
    ledger_clean,
    line,
    open_request,
    payments_of_account,
    statement_lines,
    upload,
)


@pytest.fixture
def coop() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    return {"org": org, "owner": owner, "account": factories.bank_account(org.id)}


def received(db: Session, request: PaymentRequest) -> int:
    db.rollback()
    return db.get_one(PaymentRequest, request.id, populate_existing=True).received_vnd


def bank_balance(account_id: int) -> int:
    with session_scope() as session:
        return ledger.balance(session, ledger.bank(account_id))


def send_webhook(client: TestClient, account_number: str, amount: int, memo: str, bank_ref: str) -> None:
    item = dataclasses.replace(notice(account_number, amount, memo), bank_reference=bank_ref)
    assert post_sepay(client, sepay_body(item)).status_code == 200
    wait_for_jobs()
    eventually(lambda: processed(item.external_id))  # a job prefetched by the worker is not "active"


def processed(external_id: str) -> bool:
    with session_scope() as session:
        event = session.exec(select(WebhookEvent).where(WebhookEvent.external_id == external_id)).one()
        return event.processed_at is not None


def send_statement(client: TestClient, coop: dict, lines: list) -> int:
    data = csv(lines, coop["account"].account_number)
    response = upload(client, coop["owner"], coop["account"].id, data, "sao-ke.csv")
    assert response.status_code == 202, response.text
    wait_for_jobs()
    statement_id = response.json()["id"]
    eventually(lambda: imported(statement_id))
    wait_for_jobs()  # the notifications it queued
    return statement_id


def imported(statement_id: int) -> bool:
    with session_scope() as session:
        return session.get_one(BankStatement, statement_id).status == "imported"


@pytest.mark.parametrize("statement_ref", [True, False], ids=["statement-ref", "statement-no-ref"])
@pytest.mark.parametrize("webhook_ref", [True, False], ids=["webhook-ref", "webhook-no-ref"])
@pytest.mark.parametrize("statement_first", [True, False], ids=["statement-first", "webhook-first"])
def test_one_transfer_from_both_sources_is_one_payment(
    client: TestClient, db: Session, coop: dict, statement_first: bool, statement_ref: bool, webhook_ref: bool
) -> None:
    account = coop["account"]
    request = open_request(coop["org"].id, account.id, 120_000, "Nguyễn Thị Lan")
    code = request.reference_code
    bank_ref = "FT26330999001"

    def statement_side() -> int:
        # Banks write the memo their own way: prefixes, the code cut in two, the payer's name.
        memo = f"MBVCB.3278907687.{code[:5]}-{code[5:]}.Nguyen Thi Lan chuyen tien"
        return send_statement(
            client, coop, [line(120_000, memo, reference=bank_ref if statement_ref else None)]
        )

    def webhook_side() -> None:
        send_webhook(
            client, account.account_number, 120_000, f"{code} thanh toan", bank_ref if webhook_ref else ""
        )

    if statement_first:
        statement_id = statement_side()
        webhook_side()
    else:
        webhook_side()
        statement_id = statement_side()

    (payment,) = payments_of_account(db, account.id)  # never two payments for one transfer
    assert received(db, request) == 120_000 and payment.excess_vnd == 0
    assert bank_balance(account.id) == 120_000
    (row,) = statement_lines(db, statement_id)
    assert row.payment_id == payment.id
    assert payment.provider == ("statement" if statement_first else "sepay")
    if statement_first:
        (event,) = db.exec(select(WebhookEvent)).all()
        assert event.outcome == f"same transfer as statement payment {payment.id}"
    assert db.exec(select(SuspenseItem)).all() == []
    ledger_clean()


@pytest.mark.parametrize("statement_first", [True, False], ids=["statement-first", "webhook-first"])
def test_two_real_transfers_alike_are_two_payments(
    client: TestClient, db: Session, coop: dict, statement_first: bool
) -> None:
    """The payer really paid twice the same day: two webhooks with their references, two lines
    without: two payments, neither report swallowed by the other's twin."""
    account = coop["account"]
    request = open_request(coop["org"].id, account.id, 50_000, "Hồ Thanh Tâm")
    code = request.reference_code
    lines = [line(50_000, f"{code} lan 1", reference=None), line(50_000, f"{code} lan 2", reference=None)]

    def webhooks() -> None:
        send_webhook(client, account.account_number, 50_000, f"{code} lan 1", "FT26330888001")
        send_webhook(client, account.account_number, 50_000, f"{code} lan 2", "FT26330888002")

    if statement_first:
        send_statement(client, coop, lines)
        webhooks()
    else:
        webhooks()
        send_statement(client, coop, lines)
    payments = payments_of_account(db, account.id)
    assert len(payments) == 2 and bank_balance(account.id) == 100_000
    assert received(db, request) == 50_000 and sum(p.excess_vnd for p in payments) == 50_000
    ledger_clean()


def test_a_webhook_that_may_repeat_either_of_two_payments_waits_for_a_person(
    client: TestClient, db: Session, coop: dict
) -> None:
    """Two statement payments of different requests fit a webhook naming both codes: the
    webhook credits nobody and lands in suspense with the candidates named."""
    account = coop["account"]
    first = open_request(coop["org"].id, account.id, 30_000, "Nguyễn Văn An")
    second = open_request(coop["org"].id, account.id, 30_000, "Trần Thị Bình")
    send_statement(
        client,
        coop,
        [
            line(30_000, f"{first.reference_code}", reference=None),
            line(30_000, f"{second.reference_code}", reference=None),
        ],
    )
    assert received(db, first) == 30_000 and received(db, second) == 30_000
    memo = f"{first.reference_code} {second.reference_code}"
    send_webhook(client, account.account_number, 30_000, memo, "FT26330777001")

    assert received(db, first) == 30_000 and received(db, second) == 30_000  # nobody credited twice
    (item,) = db.exec(select(SuspenseItem)).all()
    assert item.reason.startswith("may be the same transfer as payments")
    ledger_clean()


def test_a_statement_line_that_may_repeat_either_of_two_webhook_payments_waits_for_a_person(
    client: TestClient, db: Session, coop: dict
) -> None:
    account = coop["account"]
    first = open_request(coop["org"].id, account.id, 40_000, "Nguyễn Văn An")
    second = open_request(coop["org"].id, account.id, 40_000, "Trần Thị Bình")
    send_webhook(client, account.account_number, 40_000, first.reference_code, "FT26330666001")
    send_webhook(client, account.account_number, 40_000, second.reference_code, "FT26330666002")
    memo = f"{first.reference_code} {second.reference_code}"
    statement_id = send_statement(client, coop, [line(40_000, memo, reference=None)])

    assert received(db, first) == 40_000 and received(db, second) == 40_000  # nobody credited twice
    (row,) = statement_lines(db, statement_id)
    assert (row.category, row.rule) == ("unmatched", "ambiguous_transfer")
    (item,) = db.exec(select(SuspenseItem)).all()
    assert item.payment_id == row.payment_id and item.reason.startswith(
        "may be the same transfer as payments"
    )
    ledger_clean()
