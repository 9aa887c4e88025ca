"""Payouts: payout accounts (audited, announced), batches draft → approved (four-eyes) → sent →
settled line by line by the bank's confirmation, the ledger at each step, the CSV for the
bank (formulas neutralised) and a VietQR per line; refunds by bank transfer ride the same
batches; an officer of another organisation sees nothing (404)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from choso.audit import AuditEntry
from choso.db import session_scope
from market.models import Notification, OrganisationKind, Role, User
from payments import ledger, payouts, vietqr
from payments.bank_feeds import BankNotification
from payments.models import BankAccount, Payment, PayoutAccount, PayoutBatch, PayoutLine, Refund
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.downloads_helpers import assert_private_file
from tests.payments.helpers import SEPAY, bearer, post_sepay, sepay_body
from tests.payments.helpers import notice as bank_notice
from tests.support import csrf_from, page_login

pytestmark = pytest.mark.usefixtures("ledger_clean")


class Org:
    def __init__(self, amount_vnd: int, platform: BankAccount, holder: str = "HTX SO") -> None:
        org, staff = factories.staff(OrganisationKind.PRODUCER)
        self.id = org.id or 0
        self.staff = bearer(staff)
        self.staff_id = staff.id or 0
        self.own = factories.bank_account(org.id)
        self.request = factories.payment_request(self.id, platform.id or 0, amount_vnd)
        if holder != "HTX SO":
            with session_scope() as session:
                row = session.get_one(BankAccount, self.own.id)
                row.holder_name = holder
                session.add(row)
                session.commit()


def pay_into(client: TestClient, account: BankAccount, amount_vnd: int, memo: str) -> None:
    assert (
        post_sepay(client, sepay_body(bank_notice(account.account_number, amount_vnd, memo))).status_code
        == 200
    )


def set_payout_account(client: TestClient, org: Org) -> Any:
    return client.put("/api/v1/payout-account", json={"bank_account_id": org.own.id}, headers=org.staff)


@pytest.fixture
def market(client: TestClient) -> dict[str, Any]:
    """Two organisations owed money collected on the platform's account, two operators."""
    platform = factories.bank_account(None)
    first = Org(300_000, platform)
    second = Org(125_000, platform, holder='=HYPERLINK("http://x")')
    pay_into(client, platform, 300_000, first.request.reference_code)
    pay_into(client, platform, 125_000, second.request.reference_code)
    wait_for_jobs()
    for org in (first, second):
        assert set_payout_account(client, org).status_code == 200
    return {
        "platform": platform,
        "orgs": (first, second),
        "maker": bearer(factories.user(Role.OPERATOR)),
        "checker": bearer(factories.user(Role.OPERATOR)),
    }


def test_the_payout_account_is_audited_and_announced(client: TestClient, db: Session) -> None:
    platform = factories.bank_account(None)
    org = Org(10_000, platform)
    colleague = factories.user(Role.PRODUCER, org.id)
    assert set_payout_account(client, org).json()["bank_account_id"] == org.own.id
    assert client.get("/api/v1/payout-account", headers=org.staff).json()["bank_account_id"] == org.own.id
    other = Org(10_000, platform)
    assert (
        client.put(
            "/api/v1/payout-account", json={"bank_account_id": other.own.id}, headers=org.staff
        ).status_code
        == 404
    )
    assert (
        client.put(
            "/api/v1/payout-account",
            json={"bank_account_id": org.own.id},
            headers=bearer(factories.user(Role.OPERATOR)),
        ).status_code
        == 403
    )
    (entry,) = db.exec(select(AuditEntry).where(AuditEntry.action == "payout_account.set")).all()
    assert (entry.actor_id, entry.object_id, entry.after["bank_account_id"]) == (
        org.staff_id,
        str(org.id),
        org.own.id,
    )
    eventually(
        lambda: db.exec(
            select(Notification).where(
                Notification.user_id == colleague.id, Notification.kind == "payout_account_changed"
            )
        ).first()
    )


def test_a_batch_from_draft_to_settled_moves_the_money_at_each_step(
    client: TestClient, db: Session, market: dict[str, Any]
) -> None:
    platform, (first, second) = market["platform"], market["orgs"]
    maker, checker = market["maker"], market["checker"]
    draft = client.post("/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=maker)
    assert draft.status_code == 201, draft.text
    batch = draft.json()
    assert (batch["status"], batch["total_vnd"]) == ("draft", 425_000)
    lines = {line["organisation_id"]: line for line in batch["lines"]}
    assert (lines[first.id]["amount_vnd"], lines[second.id]["amount_vnd"]) == (300_000, 125_000)
    decoded = vietqr.decode(lines[first.id]["vietqr"])
    assert (decoded.bin, decoded.account, decoded.amount) == ("970436", first.own.account_number, 300_000)
    assert decoded.purpose and decoded.purpose.startswith(lines[first.id]["reference"])
    assert ledger.balance(db, ledger.payable(first.id)) == -300_000  # a draft moves nothing
    assert client.get(f"/api/v1/payout-batches/{batch['id']}/lines.csv", headers=maker).status_code == 409

    refused = client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=maker)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "four_eyes"
    approved = client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=checker)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    db.rollback()
    assert ledger.balance(db, ledger.payable(first.id)) == 0
    assert ledger.balance(db, ledger.payable(second.id)) == 0
    assert ledger.balance(db, ledger.PAYOUTS_IN_TRANSIT) == -425_000
    assert ledger.balance(db, ledger.bank(platform.id or 0)) == 425_000  # still in our account

    exported = client.get(f"/api/v1/payout-batches/{batch['id']}/lines.csv", headers=maker)
    assert_private_file(exported, f"payout-{batch['id']}.csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] == "STT" and len(rows) == 3
    by_account = {row[3]: row for row in rows[1:]}
    assert by_account[second.own.account_number][4] == '\'=HYPERLINK("http://x")'  # not a formula
    assert by_account[first.own.account_number][5] == "300000"
    assert client.post(f"/api/v1/payout-batches/{batch['id']}/send", headers=maker).json()["status"] == "sent"

    # The bank reports the first transfer out (memo with the line's reference); a clerk the second.
    out = BankNotification(
        source="sepay",
        external_id="out-1",
        account_number=platform.account_number,
        bank_hint="Vietcombank",
        amount_vnd=300_000,
        direction="out",
        memo=f"IBFT {lines[first.id]['reference']} CHI TRA",
        occurred_at=datetime.now(UTC).replace(microsecond=0),
        bank_reference="FT26001",
        payer_name="",
    )
    assert post_sepay(client, SEPAY.encode(out)).status_code == 200
    wait_for_jobs()
    settled = client.post(
        f"/api/v1/payout-lines/{lines[second.id]['id']}/settle",
        json={"bank_reference": "FT26002"},
        headers=maker,
    )
    assert settled.status_code == 200 and settled.json()["status"] == "settled"
    again = client.post(
        f"/api/v1/payout-lines/{lines[second.id]['id']}/settle", json={"bank_reference": "x"}, headers=maker
    )
    assert again.status_code == 409
    final = client.get(f"/api/v1/payout-batches/{batch['id']}", headers=maker).json()
    assert final["status"] == "settled" and {line["status"] for line in final["lines"]} == {"settled"}
    db.rollback()
    assert ledger.balance(db, ledger.PAYOUTS_IN_TRANSIT) == 0
    assert ledger.balance(db, ledger.bank(platform.id or 0)) == 0
    eventually(lambda: db.exec(select(Notification).where(Notification.kind == "payout_settled")).first())


def test_an_officer_of_another_organisation_cannot_see_or_approve_a_batch(
    client: TestClient, db: Session, market: dict[str, Any]
) -> None:
    platform, (first, _second) = market["platform"], market["orgs"]
    batch = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=market["maker"]
    ).json()
    _agency, officer = factories.staff(OrganisationKind.AGENCY)
    for headers in (bearer(officer), first.staff):
        assert client.get(f"/api/v1/payout-batches/{batch['id']}", headers=headers).status_code == 404
        assert (
            client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=headers).status_code == 404
        )
        assert client.get("/api/v1/payout-batches", headers=headers).json() == []
        line_id = batch["lines"][0]["id"]
        assert (
            client.post(
                f"/api/v1/payout-lines/{line_id}/settle", json={"bank_reference": "x"}, headers=headers
            ).status_code
            == 404
        )
        assert (
            client.post(
                "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=headers
            ).status_code
            == 404
        )
    assert db.get_one(PayoutBatch, batch["id"]).status == "draft"


def test_the_database_refuses_an_approval_by_the_creator(client: TestClient, market: dict[str, Any]) -> None:
    batch = client.post(
        "/api/v1/payout-batches",
        json={"source_bank_account_id": market["platform"].id},
        headers=market["maker"],
    ).json()
    with session_scope() as session, pytest.raises(IntegrityError):
        row = session.get_one(PayoutBatch, batch["id"])
        session.execute(
            sa.update(PayoutBatch).where(PayoutBatch.id == row.id).values(approved_by_id=row.created_by_id)
        )  # type: ignore[arg-type]
        session.commit()


def test_a_rejected_transfer_goes_back_to_the_payable_and_a_cancelled_draft_frees_its_lines(
    client: TestClient, db: Session, market: dict[str, Any]
) -> None:
    platform, (first, second) = market["platform"], market["orgs"]
    maker, checker = market["maker"], market["checker"]
    draft = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=maker
    ).json()
    # Another draft would pay the same organisations twice: there is nothing left for it.
    busy = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=checker
    )
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "nothing_to_pay_out"
    assert client.post(f"/api/v1/payout-batches/{draft['id']}/cancel", headers=maker).json()["lines"] == []
    batch = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=checker
    ).json()
    assert len(batch["lines"]) == 2
    client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=maker)
    line = next(line for line in batch["lines"] if line["organisation_id"] == second.id)
    failed = client.post(
        f"/api/v1/payout-lines/{line['id']}/fail", json={"reason": "Sai số tài khoản"}, headers=maker
    )
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    db.rollback()
    assert ledger.balance(db, ledger.payable(second.id)) == -125_000  # owed again
    assert ledger.balance(db, ledger.payable(first.id)) == 0
    assert ledger.balance(db, ledger.PAYOUTS_IN_TRANSIT) == -300_000


def test_a_refund_by_bank_transfer_is_a_line_and_completes_when_the_bank_confirms(
    client: TestClient, db: Session, market: dict[str, Any]
) -> None:
    platform, (first, _second) = market["platform"], market["orgs"]
    maker, checker = market["maker"], market["checker"]
    payment = db.exec(select(Payment).where(Payment.request_id == first.request.id)).one()
    asked = client.post(
        f"/api/v1/payments/{payment.id}/refunds",
        json={
            "amount_vnd": 100_000,
            "reason": "Thiếu hàng",
            "bank_bin": "970415",
            "account_number": "1010101010",
            "holder_name": "PHAM THI C",
        },
        headers={**first.staff, "Idempotency-Key": "refund-by-bank-1"},
    )
    assert asked.status_code == 201
    batch = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=maker
    ).json()
    kinds = sorted((line["kind"], line["amount_vnd"]) for line in batch["lines"])
    assert kinds == [("payout", 125_000), ("payout", 200_000), ("refund", 100_000)]
    client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=checker)
    db.rollback()
    assert db.get_one(Refund, asked.json()["id"]).status == "submitted"
    refund_line = next(line for line in batch["lines"] if line["kind"] == "refund")
    assert vietqr.decode(refund_line["vietqr"]).account == "1010101010"
    client.post(
        f"/api/v1/payout-lines/{refund_line['id']}/settle", json={"bank_reference": "FT9"}, headers=maker
    )
    db.rollback()
    refund = db.get_one(Refund, asked.json()["id"])
    assert refund.status == "succeeded" and refund.credit_note_id
    assert ledger.balance(db, ledger.REFUNDS_DUE) == 0
    assert ledger.balance(db, ledger.bank(platform.id or 0)) == 425_000 - 100_000


def test_a_refund_the_payee_no_longer_covers_is_refused(
    client: TestClient, db: Session, market: dict[str, Any]
) -> None:
    platform, (first, _second) = market["platform"], market["orgs"]
    batch = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": platform.id}, headers=market["maker"]
    ).json()
    client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=market["checker"])
    payment = db.exec(select(Payment).where(Payment.request_id == first.request.id)).one()
    asked = client.post(
        f"/api/v1/payments/{payment.id}/refunds",
        json={
            "amount_vnd": 1_000,
            "reason": "Sau khi đã chi trả",
            "bank_bin": "970415",
            "account_number": "1010101010",
            "holder_name": "PHAM THI C",
        },
        headers={**first.staff, "Idempotency-Key": "refund-after-payout"},
    )
    assert asked.status_code == 409 and asked.json()["error"]["code"] == "refund_not_covered"
    db.rollback()
    assert db.get_one(Payment, payment.id).refunded_vnd == 0


def test_an_organisation_refunds_from_its_own_account_with_two_of_its_people(
    client: TestClient, db: Session
) -> None:
    org, clerk = factories.staff(OrganisationKind.AGENCY)
    manager = factories.user(Role.AGENCY_OFFICER, org.id)
    own = factories.bank_account(org.id)
    request = factories.payment_request(org.id or 0, own.id or 0, 80_000)
    pay_into(client, own, 80_000, request.reference_code)
    wait_for_jobs()
    payment = db.exec(select(Payment)).one()
    client.post(
        f"/api/v1/payments/{payment.id}/refunds",
        json={
            "reason": "Nộp nhầm phí",
            "bank_bin": "970436",
            "account_number": "0071000111222",
            "holder_name": "LE VAN D",
        },
        headers={**bearer(clerk), "Idempotency-Key": "own-account-refund"},
    )
    batch = client.post(
        "/api/v1/payout-batches", json={"source_bank_account_id": own.id}, headers=bearer(clerk)
    ).json()
    assert [(line["kind"], line["amount_vnd"]) for line in batch["lines"]] == [("refund", 80_000)]
    assert (
        client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=bearer(clerk)).status_code == 403
    )
    assert (
        client.post(f"/api/v1/payout-batches/{batch['id']}/approve", headers=bearer(manager)).status_code
        == 200
    )
    db.rollback()
    line = db.exec(select(PayoutLine)).one()
    client.post(
        f"/api/v1/payout-lines/{line.id}/settle", json={"bank_reference": "FT77"}, headers=bearer(manager)
    )
    db.rollback()
    assert db.exec(select(Refund)).one().status == "succeeded"
    assert db.get_one(Payment, payment.id).status == "refunded"
    assert (
        ledger.balance(db, ledger.bank(own.id or 0)) == 0
        and ledger.balance(db, ledger.direct(org.id or 0)) == 0
    )


def test_csv_cells_that_look_like_formulas_are_neutralised() -> None:
    assert [payouts.safe_cell(v) for v in ("=1+1", "+84", "-5", "@SUM(A1)", "\tx", "HTX", 125_000)] == [
        "'=1+1",
        "'+84",
        "'-5",
        "'@SUM(A1)",
        "'\tx",
        "HTX",
        "125000",
    ]


def test_the_payout_account_page(client: TestClient, db: Session) -> None:
    platform = factories.bank_account(None)
    org = Org(10_000, platform)
    other = Org(10_000, platform)
    page_login(client, db.get_one(User, org.staff_id).email)
    page = client.get("/account/payout-account")
    assert page.status_code == 200 and org.own.account_number in page.text
    assert other.own.account_number not in page.text
    token = csrf_from(page)
    stolen = client.post(
        "/account/payout-account", data={"csrf_token": token, "bank_account_id": str(other.own.id)}
    )
    assert stolen.status_code == 404
    saved = client.post(
        "/account/payout-account",
        data={"csrf_token": token, "bank_account_id": str(org.own.id)},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/account/payout-account?saved=1"
    db.rollback()
    assert db.exec(select(PayoutAccount)).one().bank_account_id == org.own.id
    assert "Chi trả vào" in client.get("/account/payout-account?saved=1").text
