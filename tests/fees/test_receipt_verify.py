"""The public verify page of an e-receipt tells whether it still counts: a cancelled receipt says
so, with the reason and the number of the receipt that replaced it; the replacement names the
receipt it replaces. Both stay authentic (their signatures hold); nothing else is revealed."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from payments.models import Receipt
from tests.conftest import eventually, wait_for_jobs
from tests.fees import helpers
from tests.fees.test_fee_journey import pay_by_transfer


def paid_receipt(client: TestClient) -> tuple[helpers.Agency, dict]:
    agency = helpers.agency()
    service = helpers.create_service(client, agency, helpers.fixed_payload(agency.account.id))
    issued = helpers.issue(client, agency, helpers.notice_payload(service["id"], payer_name="Nguyễn Văn Bìn"))
    pay_by_transfer(client, agency.account.account_number, 100_000, issued["reference_code"])
    wait_for_jobs()
    path = f"/api/v1/fees/notices/{issued['id']}/receipts"
    return agency, eventually(lambda: client.get(path, headers=agency.auth).json())[0]


def paid_and_replaced(client: TestClient, db: Session) -> tuple[Receipt, Receipt]:
    agency, first = paid_receipt(client)
    replaced = client.post(
        f"/api/v1/fees/receipts/{first['id']}/replace",
        json={"reason": "Sai tên người nộp", "payer_name": "Nguyễn Văn Bình"},
        headers=agency.auth,
    )
    assert replaced.status_code == 201, replaced.text
    db.rollback()
    cancelled = db.get_one(Receipt, first["id"])
    return cancelled, db.get_one(Receipt, replaced.json()["id"])


def test_a_cancelled_receipt_says_so_and_names_its_replacement(client: TestClient, db: Session) -> None:
    cancelled, replacement = paid_and_replaced(client, db)
    anonymous = TestClient(client.app)
    series, new_number = replacement.content["series"], replacement.content["number_text"]

    page = anonymous.get(f"/receipts/verify/{cancelled.verification_code}")
    assert page.status_code == 200
    assert "Biên lai này đã bị hủy" in page.text and "Sai tên người nộp" in page.text
    assert f"Biên lai thay thế: ký hiệu {series}, số {new_number}." in page.text
    assert f'href="{replacement.content["verification_url"]}"' in page.text
    assert 'class="verified"' not in page.text  # no "authentic" tick on a receipt that no longer counts

    english = anonymous.get(f"/receipts/verify/{cancelled.verification_code}?lang=en")
    assert "This receipt was cancelled" in english.text
    assert f"It was replaced by receipt {series} No. {new_number}." in english.text
    assert "no longer counts. Reason: Sai tên người nộp" in english.text


def test_the_replacement_verifies_and_names_the_receipt_it_replaces(client: TestClient, db: Session) -> None:
    cancelled, replacement = paid_and_replaced(client, db)
    page = TestClient(client.app).get(f"/receipts/verify/{replacement.verification_code}?lang=en")
    assert page.status_code == 200
    assert 'class="verified"' in page.text and "This receipt was cancelled" not in page.text
    old = cancelled.content
    assert (
        f"This receipt replaces receipt {old['series']} No. {old['number_text']}, cancelled on" in page.text
    )
    assert "Reason: Sai tên người nộp" in page.text and "Nguyễn Văn Bình" in page.text


def test_a_receipt_that_stands_shows_neither(client: TestClient, db: Session) -> None:
    _agency, first = paid_receipt(client)
    db.rollback()
    receipt = db.get_one(Receipt, first["id"])
    page = TestClient(client.app).get(f"/receipts/verify/{receipt.verification_code}?lang=en")
    assert page.status_code == 200 and 'class="verified"' in page.text
    assert "This receipt was cancelled" not in page.text and "This receipt replaces" not in page.text
