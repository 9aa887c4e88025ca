"""Bank statements imported by a job: every line decided once, credits settled like webhook
payments, exceptions in the one review queue, balances compared with the ledger."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.db import session_scope
from market.models import Notification, OrganisationKind, Role
from payments import ledger
from payments.models import Payment, PaymentRequest, SuspenseItem
from payments.statement_models import StatementLine
from tests import factories
from tests.conftest import wait_for_jobs
from tests.payments.helpers import bearer
from tests.payments.statement_support import (
    camt,
    count,
    csv,
    ledger_clean,
    line,
    open_request,
    payments_of_account,
    statement,
    statement_lines,
    upload,
)


@pytest.fixture
def coop() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    operator = factories.user(Role.OPERATOR)
    return {"org": org, "owner": owner, "account": account, "operator": operator}


def reloaded(db: Session, request: PaymentRequest) -> PaymentRequest:
    db.rollback()
    return db.get_one(PaymentRequest, request.id, populate_existing=True)


def test_an_uploaded_statement_is_decided_settled_and_reviewed(
    client: TestClient, db: Session, coop: dict
) -> None:
    org, owner, account, operator = coop["org"], coop["owner"], coop["account"], coop["operator"]
    lan = open_request(org.id, account.id, 150_000, "Nguyễn Thị Lan")
    split = open_request(org.id, account.id, 200_000, "Lê Hoàng Cường")
    over = open_request(org.id, account.id, 100_000, "Võ Minh Đức")
    under = open_request(org.id, account.id, 300_000, "Phạm Thu Hà")
    binh = open_request(org.id, account.id, 450_000, "Trần Văn Bình")
    other = open_request(org.id, account.id, 60_000, "Bùi Gia Huy")
    typo = binh.reference_code[:5] + ("A" if binh.reference_code[5] != "A" else "B") + binh.reference_code[6:]
    first = line(
        150_000,
        f"MBVCB.3278907687.{lan.reference_code[:6]}-{lan.reference_code[6:]}.Nguyễn Thị Lan chuyển khoản",
    )
    lines = [
        first,
        line(120_000, f"ND: {split.reference_code} dot 1 LE HOANG CUONG", name="LE HOANG CUONG"),
        line(80_000, f"{split.reference_code.lower()} đợt 2", name="LE HOANG CUONG"),
        line(120_000, f"vo minh duc ck {over.reference_code}"),
        line(250_000, f"{under.reference_code} Phạm Thu Hà"),
        line(450_000, "TRAN VAN BINH chuyen tien mua gao", name="TRAN VAN BINH"),
        line(450_000, f"CK {typo} thanh toan", clock="10:00:00"),
        line(100_000, f"{other.reference_code}{lan.reference_code} hai don"),
        line(-55_000, "Phí quản lý tài khoản"),
        line(first.amount_vnd, first.memo, reference=first.bank_reference, clock=first.booked_time or ""),
    ]
    data = camt(lines, account.account_number, opening_vnd=1_000_000)

    response = upload(client, owner, account.id, data)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued" and response.json()["new"] is True
    wait_for_jobs()

    imported = statement(db, response.json()["id"])
    assert imported.status == "imported", imported.error
    found = [(row.category, row.reference) for row in statement_lines(db, imported.id)]
    assert found == [
        ("matched", lan.reference_code),
        ("matched", split.reference_code),
        ("matched", split.reference_code),
        ("overpaid", over.reference_code),
        ("underpaid", under.reference_code),
        ("suggested", binh.reference_code),
        ("unmatched", None),
        ("unmatched", None),
        ("outgoing", None),
        ("duplicate", None),
    ]
    assert reloaded(db, lan).status == "paid" and reloaded(db, split).status == "paid"
    assert reloaded(db, over).status == "paid" and reloaded(db, under).received_vnd == 250_000
    assert reloaded(db, binh).status == "open"
    # Every credit but the duplicate is one payment; the suggestion and the rest wait in suspense.
    payments = payments_of_account(db, account.id)
    assert sorted(p.amount_vnd for p in payments) == sorted(
        [150_000, 120_000, 80_000, 120_000, 250_000, 450_000, 450_000, 100_000]
    )
    assert {p.provider for p in payments} == {"statement"}
    assert count(db, SuspenseItem) == 3
    assert imported.counts["exceptions"] == 3 and imported.counts["duplicate"] == 1
    # The opening balance, the money out and the repeated line (which this test file's balance
    # counts) are what the bank's balance has that the ledger does not.
    assert imported.balance_difference_vnd == 1_000_000 - 55_000 + 150_000

    detail = client.get(f"/api/v1/statements/{imported.id}", headers=bearer(owner)).json()
    suggested = next(row for row in detail["lines"] if row["category"] == "suggested")
    assert suggested["suggested_request_id"] == binh.id and 0.5 <= suggested["confidence"] < 1
    assert suggested["suspense_status"] == "open"

    # The owner may look but not decide; an operator confirms the suggestion.
    refused = client.post(
        f"/api/v1/statement-lines/{suggested['id']}/confirm", json={}, headers=bearer(owner)
    )
    assert refused.status_code == 403
    confirmed = client.post(
        f"/api/v1/statement-lines/{suggested['id']}/confirm", json={}, headers=bearer(operator)
    )
    assert confirmed.status_code == 200, confirmed.text
    assert reloaded(db, binh).status == "paid"
    again = client.post(
        f"/api/v1/statement-lines/{suggested['id']}/confirm", json={}, headers=bearer(operator)
    )
    assert again.status_code == 409
    wait_for_jobs()
    db.rollback()
    kinds = {n.kind for n in db.exec(select(Notification))}
    assert "statement_needs_review" in kinds
    ledger_clean()


def test_webhook_then_statement_is_one_payment_and_a_lost_webhook_is_caught(
    client: TestClient, db: Session, coop: dict
) -> None:
    from tests.payments.helpers import notice, post_sepay, sepay_body

    org, owner, account = coop["org"], coop["owner"], coop["account"]
    seen = open_request(org.id, account.id, 150_000, "Nguyễn Thị Lan")
    lost = open_request(org.id, account.id, 90_000, "Hồ Thanh Tâm")
    by_webhook = notice(account.account_number, 150_000, f"{seen.reference_code} thanh toan")
    assert post_sepay(client, sepay_body(by_webhook)).status_code == 200
    wait_for_jobs()
    assert reloaded(db, seen).status == "paid"

    lines = [
        line(150_000, f"{seen.reference_code} thanh toan", reference=by_webhook.bank_reference),
        line(90_000, f"{lost.reference_code} Ho Thanh Tam"),
    ]
    response = upload(client, owner, account.id, camt(lines, account.account_number))
    assert response.status_code == 202
    wait_for_jobs()

    imported = statement(db, response.json()["id"])
    rows = statement_lines(db, imported.id)
    payments = payments_of_account(db, account.id)
    assert len(payments) == 2  # the webhook's transfer was not counted again
    webhook_payment = next(p for p in payments if p.provider == "sepay")
    assert rows[0].payment_id == webhook_payment.id and rows[0].rule == "recorded"
    assert rows[0].category == "matched"
    assert reloaded(db, lost).status == "paid"
    assert imported.counts["caught"] == 1 and imported.counts["recorded_before"] == 1
    assert imported.balance_difference_vnd == 0 and imported.counts["exceptions"] == 0
    with session_scope() as session:
        assert ledger.balance(session, ledger.bank(account.id)) == 240_000
    ledger_clean()


def test_a_statement_arriving_before_the_webhook_is_still_one_payment(
    client: TestClient, db: Session, coop: dict
) -> None:
    from tests.payments.helpers import notice, post_sepay, sepay_body

    org, owner, account = coop["org"], coop["owner"], coop["account"]
    request = open_request(org.id, account.id, 70_000, "Nguyễn Thị Lan")
    late = notice(account.account_number, 70_000, f"{request.reference_code}")
    response = upload(
        client,
        owner,
        account.id,
        camt([line(70_000, request.reference_code, reference=late.bank_reference)], account.account_number),
    )
    assert response.status_code == 202
    wait_for_jobs()
    assert post_sepay(client, sepay_body(late)).status_code == 200
    wait_for_jobs()
    assert len(payments_of_account(db, account.id)) == 1
    assert reloaded(db, request).received_vnd == 70_000
    ledger_clean()


def test_a_closing_balance_the_ledger_does_not_know_is_shown_and_alerted(
    client: TestClient, db: Session, coop: dict
) -> None:
    org, owner, account, operator = coop["org"], coop["owner"], coop["account"], coop["operator"]
    request = open_request(org.id, account.id, 50_000, "Nguyễn Thị Lan")
    data = camt([line(50_000, request.reference_code)], account.account_number, extra_closing_vnd=25_000)
    response = upload(client, owner, account.id, data)
    wait_for_jobs()
    imported = statement(db, response.json()["id"])
    assert (imported.closing_balance_vnd, imported.ledger_balance_vnd) == (75_000, 50_000)
    assert imported.balance_difference_vnd == 25_000
    assert imported.counts["exceptions"] == 0
    db.rollback()
    alerted = {
        n.user_id for n in db.exec(select(Notification).where(Notification.kind == "statement_needs_review"))
    }
    assert {operator.id, owner.id} <= alerted
    page = client.get(f"/api/v1/statements/{imported.id}", headers=bearer(operator)).json()
    assert page["balance_difference_vnd"] == 25_000


def test_the_same_file_twice_and_overlapping_files_store_each_transaction_once(
    client: TestClient, db: Session, coop: dict
) -> None:
    org, owner, account = coop["org"], coop["owner"], coop["account"]
    requests_ = [open_request(org.id, account.id, 10_000 * (i + 1), "Nguyễn Thị Lan") for i in range(4)]
    lines = [line(r.amount_vnd, r.reference_code) for r in requests_]
    monday = camt(lines[:3], account.account_number)
    first = upload(client, owner, account.id, monday)
    again = upload(client, owner, account.id, monday)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["new"] is False
    wait_for_jobs()
    # Tuesday's export repeats two of Monday's transactions and adds one.
    tuesday = [
        line(x.amount_vnd, x.memo, reference=x.bank_reference, clock=x.booked_time or "") for x in lines[1:]
    ]
    second = upload(client, owner, account.id, camt(tuesday, account.account_number))
    assert second.status_code == 202
    wait_for_jobs()
    rows = statement_lines(db, second.json()["id"])
    assert [r.category for r in rows] == ["duplicate", "duplicate", "matched"]
    assert all(r.duplicate_of_id for r in rows[:2])
    assert len(payments_of_account(db, account.id)) == 4
    assert count(db, StatementLine) == 6
    assert all(reloaded(db, r).status == "paid" for r in requests_)
    ledger_clean()


def test_an_unreadable_file_fails_with_its_reason(client: TestClient, db: Session, coop: dict) -> None:
    response = upload(client, coop["owner"], coop["account"].id, b"<Document><BkToCstmrStmt><Stmt>", "x.xml")
    assert response.status_code == 202
    wait_for_jobs()
    failed = statement(db, response.json()["id"])
    assert failed.status == "failed" and failed.error
    assert count(db, Payment) == 0


def test_a_statement_of_another_account_is_refused(client: TestClient, db: Session, coop: dict) -> None:
    data = camt([line(10_000, "tien hang")], "9999999999")
    response = upload(client, coop["owner"], coop["account"].id, data)
    wait_for_jobs()
    failed = statement(db, response.json()["id"])
    assert failed.status == "failed" and "9999999999" in failed.error


def test_a_statement_line_without_bank_reference_still_finds_the_webhook_s_payment(
    client: TestClient, db: Session, coop: dict
) -> None:
    from tests.payments.helpers import notice, post_sepay, sepay_body

    org, owner, account = coop["org"], coop["owner"], coop["account"]
    request = open_request(org.id, account.id, 65_000, "Nguyễn Thị Lan")
    assert (
        post_sepay(
            client, sepay_body(notice(account.account_number, 65_000, f"TT {request.reference_code}"))
        ).status_code
        == 200
    )
    wait_for_jobs()
    # This bank's export has no reference column: the same day, amount and code identify the transfer.
    data = csv(
        [line(65_000, f"{request.reference_code} Nguyen Thi Lan", reference=None)], account.account_number
    )
    response = upload(client, owner, account.id, data, "sao-ke.csv")
    assert response.status_code == 202
    wait_for_jobs()
    (row,) = statement_lines(db, response.json()["id"])
    (payment,) = payments_of_account(db, account.id)
    assert (row.payment_id, row.rule, payment.provider) == (payment.id, "recorded", "sepay")
    assert reloaded(db, request).received_vnd == 65_000
    ledger_clean()


def test_a_zero_amount_line_is_recorded_and_moves_nothing(
    client: TestClient, db: Session, coop: dict
) -> None:
    data = camt(
        [line(0, "Miễn phí quản lý tài khoản"), line(5_000, "tien hang")], coop["account"].account_number
    )
    response = upload(client, coop["owner"], coop["account"].id, data)
    wait_for_jobs()
    imported = statement(db, response.json()["id"])
    assert imported.status == "imported" and imported.counts["lines"] == 2
    assert [p.amount_vnd for p in payments_of_account(db, coop["account"].id)] == [5_000]
    ledger_clean()
