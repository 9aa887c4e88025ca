"""The full journey of a fee: an officer issues a notice, the citizen opens the public link
without logging in, pays by bank transfer (a signed SePay notification), and the agency's
e-receipt verifies; then cancellation, a late payment kept for refund, and a receipt replaced."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from fees.models import FeeNotice
from payments import ledger
from payments.models import Payment, Receipt, ReceiptCancellation
from tests.conftest import eventually, wait_for_jobs
from tests.fees import helpers
from tests.payments.helpers import notice, post_sepay, sepay_body


def pay_by_transfer(client: TestClient, account_number: str, amount: int, reference: str) -> None:
    body = sepay_body(notice(account_number, amount, f"MBVCB.123.{reference} Nop phi.CT"))
    assert post_sepay(client, body).status_code == 200


def test_officer_issues_citizen_pays_by_transfer_and_the_receipt_verifies(
    client: TestClient, db: Session
) -> None:
    agency = helpers.agency("Ủy ban nhân dân phường Hạc Thành")
    service = helpers.create_service(client, agency, helpers.service_payload(agency.account.id))
    issued = helpers.issue(client, agency, helpers.notice_payload(service["id"], quantity=5))
    # Tiered: 2 pages at 2.000, 3 more at 1.000.
    assert issued["amount_vnd"] == 7_000
    assert issued["public_url"].startswith("http")
    token = helpers.token_of(issued["public_url"])
    assert len(token) >= 32  # 24 bytes = 192 bits

    anonymous = TestClient(client.app)
    page = anonymous.get(f"/fees/n/{token}")
    assert page.status_code == 200
    assert "Ủy ban nhân dân phường Hạc Thành" in page.text
    assert helpers.CITIZEN_ID not in page.text and "•••••••••345" in page.text
    assert "0912345678" not in page.text
    assert issued["reference_code"] in page.text
    public = anonymous.get(f"/api/v1/fees/public/{token}").json()
    assert public["outstanding_vnd"] == 7_000 and public["vietqr"].startswith("000201")
    assert anonymous.get(f"/fees/n/{token}/qr.svg").headers["content-type"].startswith("image/svg")

    pay_by_transfer(client, agency.account.account_number, 7_000, issued["reference_code"])
    wait_for_jobs()
    paid = eventually(
        lambda: anonymous.get(f"/api/v1/fees/public/{token}").json()["status"] == "paid" or None
    )
    assert paid
    public = anonymous.get(f"/api/v1/fees/public/{token}").json()
    assert public["vietqr"] is None and len(public["receipt_urls"]) == 1

    db.rollback()
    receipt = db.exec(select(Receipt).where(Receipt.request_id == issued["request_id"])).one()
    content = receipt.content
    assert content["title"] == "BIÊN LAI THU PHÍ, LỆ PHÍ"
    assert content["form"] == "01BLP0-001" and re.fullmatch(r"CS-\d\dE", content["series"])
    assert content["payee"]["name"] == "Ủy ban nhân dân phường Hạc Thành" and content["payee"]["tax_code"]
    assert content["payer"] == {
        "name": "Nguyễn Văn Bình",
        "id_number": "•••••••••345",
        "tax_code": "",
        "address": "",
    }
    assert content["items"][0]["legal_basis"] == "Thông tư 226/2016/TT-BTC"
    assert "Căn cứ: Thông tư 226/2016/TT-BTC" in content["items"][0]["description"]
    assert content["amount_in_words"] == "Bảy nghìn đồng"
    assert content["channel"] == "vietqr" and content["paid_at_local"]

    verified = anonymous.get(f"/receipts/verify/{receipt.verification_code}")
    assert verified.status_code == 200 and "BIÊN LAI THU PHÍ, LỆ PHÍ" in verified.text
    pdf = anonymous.get(f"/fees/n/{token}/receipts/{receipt.id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    # The money sits in the agency's own account: the ledger credits its direct account.
    assert ledger.balance(db, ledger.direct(agency.org.id)) == -7_000
    notice_row = db.exec(select(FeeNotice).where(FeeNotice.id == issued["id"])).one()
    assert notice_row.status == "paid"


def test_a_mistaken_receipt_is_cancelled_and_replaced_both_stay_in_the_series(
    client: TestClient, db: Session
) -> None:
    agency = helpers.agency()
    service = helpers.create_service(client, agency, helpers.fixed_payload(agency.account.id))
    issued = helpers.issue(client, agency, helpers.notice_payload(service["id"], payer_name="Nguyễn Văn Bìn"))
    pay_by_transfer(client, agency.account.account_number, 100_000, issued["reference_code"])
    wait_for_jobs()
    receipts = eventually(
        lambda: (
            client.get(f"/api/v1/fees/notices/{issued['id']}/receipts", headers=agency.auth).json() or None
        )
    )
    first = receipts[0]
    response = client.post(
        f"/api/v1/fees/receipts/{first['id']}/replace",
        json={
            "reason": "Sai tên người nộp",
            "payer_name": "Nguyễn Văn Bình",
            "payer_id_number": helpers.CITIZEN_ID,
        },
        headers=agency.auth,
    )
    assert response.status_code == 201, response.text
    replacement = response.json()
    assert replacement["id"] != first["id"]
    db.rollback()
    rows = db.exec(
        select(Receipt).where(Receipt.request_id == issued["request_id"]).order_by(Receipt.number)
    ).all()
    assert [r.number for r in rows] == [rows[0].number, rows[0].number + 1]  # gapless, both kept
    assert rows[1].content["payer"]["name"] == "Nguyễn Văn Bình"
    assert rows[1].content["replaces"]["reason"] == "Sai tên người nộp"
    cancellation = db.exec(select(ReceiptCancellation)).one()
    assert (cancellation.receipt_id, cancellation.replacement_id) == (rows[0].id, rows[1].id)
    again = client.post(
        f"/api/v1/fees/receipts/{first['id']}/replace",
        json={"reason": "Lần nữa", "payer_name": "Nguyễn Văn Bình"},
        headers=agency.auth,
    )
    assert again.status_code == 409
    other = helpers.agency()
    stranger = client.post(
        f"/api/v1/fees/receipts/{rows[1].id}/replace",
        json={"reason": "Không phải của tôi", "payer_name": "Ai đó"},
        headers=other.auth,
    )
    assert stranger.status_code == 404


def test_a_cancelled_notice_stays_visible_and_a_late_transfer_is_kept_for_refund(
    client: TestClient, db: Session
) -> None:
    agency = helpers.agency()
    service = helpers.create_service(client, agency, helpers.fixed_payload(agency.account.id))
    issued = helpers.issue(client, agency, helpers.notice_payload(service["id"]))
    cancel = client.post(
        f"/api/v1/fees/notices/{issued['id']}/cancel", json={"reason": "Hồ sơ rút lại"}, headers=agency.auth
    )
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled" and cancel.json()["cancel_reason"] == "Hồ sơ rút lại"
    # The dossier is free again for a new notice.
    again = helpers.issue(
        client, agency, helpers.notice_payload(service["id"], dossier_number=issued["dossier_number"])
    )
    assert again["id"] != issued["id"]

    pay_by_transfer(client, agency.account.account_number, 100_000, issued["reference_code"])
    wait_for_jobs()
    token = helpers.token_of(issued["public_url"])
    page = eventually(
        lambda: (p := client.get(f"/fees/n/{token}")).status_code == 200 and "hoàn lại" in p.text and p
    )
    assert "Hồ sơ rút lại" in page.text
    db.rollback()
    payment = db.exec(select(Payment).where(Payment.request_id == issued["request_id"])).one()
    assert payment.status == "refund_due" and payment.excess_vnd == 100_000
    assert (
        client.post(
            f"/api/v1/fees/notices/{issued['id']}/cancel", json={"reason": "Lần hai"}, headers=agency.auth
        ).status_code
        == 409
    )
