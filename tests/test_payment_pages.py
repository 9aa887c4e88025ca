"""Payment pages through a browser: pay page and QR, the sandbox transfer, receipts (HTML, PDF,
public verification), who may see what, CSRF, bank accounts, manual requests, the suspense queue."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from choso.audit import AuditEntry
from choso.db import session_scope, utcnow
from market.models import OrganisationKind, Role, User, UserSession
from payments import qr_render, requests
from payments.models import (
    BankAccount,
    PaymentRequest,
    Receipt,
    SuspenseItem,
    WebhookEvent,
)
from tests import factories
from tests.conftest import wait_for_jobs
from tests.payments.helpers import notice, post_sepay, sepay_body
from tests.support import csrf_from, page_login

Browser = Callable[[], TestClient]


@pytest.fixture
def shop() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    buyer = factories.user(Role.BUYER)
    request = factories.payment_request(org.id or 0, account.id or 0, 150_000, payer_user_id=buyer.id)
    return {"org": org, "owner": owner, "account": account, "buyer": buyer, "request": request}


def logged_in(make_client: Browser, user: User) -> TestClient:
    browser = make_client()
    assert page_login(browser, user.email).status_code == 303
    return browser


def count(db: Session, model: type, *conditions: object) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).select_from(model).where(*conditions)).one())


def main_of(page: str) -> str:
    """The page's content, without the header (whose language links name the page's own path)."""
    return page[page.index("<main>") : page.index("</main>")]


def reloaded(db: Session, request: PaymentRequest) -> PaymentRequest:
    db.rollback()
    return db.get_one(PaymentRequest, request.id, populate_existing=True)


def settle(request: PaymentRequest, account: BankAccount, amount_vnd: int = 150_000) -> Receipt:
    """A bank credit paying ``request`` in full, applied directly (not through the pages)."""
    credit = requests.IncomingPayment(
        provider="sandbox",
        provider_txn_id=f"t{request.id}-{amount_vnd}",
        amount_vnd=amount_vnd,
        received_at=utcnow(),
        bank_account_id=account.id,
        reference_code=request.reference_code,
    )
    with session_scope() as session:
        requests.settle_bank_credits(session, [credit])
        receipt = session.exec(select(Receipt).where(Receipt.request_id == request.id)).one()
        session.expunge(receipt)
    return receipt


# --- the pay page -----------------------------------------------------------------------------


def test_pay_page_shows_how_to_pay_with_the_request_own_qr(make_client: Browser, shop: dict) -> None:
    request, account = shop["request"], shop["account"]
    browser = logged_in(make_client, shop["buyer"])
    page = browser.get(f"/pay/{request.id}")
    assert page.status_code == 200
    text = page.text
    assert request.reference_code in text
    assert account.account_number in text and account.holder_name in text
    assert "Vietcombank" in text
    assert "150.000\xa0₫" in text  # the vnd filter, Vietnamese first
    assert shop["org"].name in text
    assert f'<img src="/pay/{request.id}/qr.svg"' in text
    assert "Chờ thanh toán" in text  # "waiting for payment"

    with session_scope() as session:
        payload = requests.vietqr_payload(session, session.get_one(PaymentRequest, request.id))
    svg = browser.get(f"/pay/{request.id}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.content == qr_render.render_svg(payload)
    png = browser.get(f"/pay/{request.id}/qr.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content == qr_render.render_png(payload)

    english = browser.get(f"/pay/{request.id}", params={"lang": "en"})
    assert "Waiting for payment" in english.text and "₫150,000" in english.text


def test_a_partly_paid_request_explains_what_is_left_and_its_qr_asks_for_it(
    make_client: Browser, shop: dict
) -> None:
    request, account = shop["request"], shop["account"]
    credit = requests.IncomingPayment(
        provider="sandbox",
        provider_txn_id="part-1",
        amount_vnd=50_000,
        received_at=utcnow(),
        bank_account_id=account.id,
        reference_code=request.reference_code,
    )
    with session_scope() as session:
        requests.settle_bank_credits(session, [credit])
    browser = logged_in(make_client, shop["buyer"])
    text = browser.get(f"/pay/{request.id}").text
    assert "thanh toán một phần" in text  # partly paid
    assert "100.000\xa0₫" in text and "50.000\xa0₫" in text
    with session_scope() as session:
        payload = requests.vietqr_payload(session, session.get_one(PaymentRequest, request.id))
    assert "5406100000" in payload  # tag 54: the rest
    assert browser.get(f"/pay/{request.id}/qr.svg").content == qr_render.render_svg(payload)


def test_closed_requests_say_why_and_offer_no_qr(make_client: Browser, db: Session, shop: dict) -> None:
    request = shop["request"]
    owner = logged_in(make_client, shop["owner"])
    page = owner.get(f"/pay/{request.id}")
    response = owner.post(
        f"/pay/{request.id}/cancel", data={"csrf_token": csrf_from(page)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert reloaded(db, request).status == "cancelled"
    text = owner.get(f"/pay/{request.id}").text
    assert "Đã hủy" in text and "qr.svg" not in text
    assert "hoàn lại" in text  # a transfer that still arrives is refunded
    assert owner.get(f"/pay/{request.id}/qr.svg").status_code == 404

    # the payer cannot cancel
    other = factories.payment_request(shop["org"].id, shop["account"].id, payer_user_id=shop["buyer"].id)
    buyer = logged_in(make_client, shop["buyer"])
    page = buyer.get(f"/pay/{other.id}")
    assert "/cancel" not in page.text
    refused = buyer.post(f"/pay/{other.id}/cancel", data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 403
    assert reloaded(db, other).status == "open"


# --- the sandbox transfer, the receipt, its PDF and its public verification ---------------------


def test_sandbox_transfer_pays_and_the_receipt_is_shown_downloaded_and_verified(
    make_client: Browser, db: Session, shop: dict
) -> None:
    request = shop["request"]
    browser = logged_in(make_client, shop["buyer"])
    page = browser.get(f"/pay/{request.id}")
    assert "Giả lập chuyển khoản" in page.text  # the sandbox button
    response = browser.post(
        f"/pay/{request.id}/simulate-transfer",
        data={"csrf_token": csrf_from(page), "amount_vnd": "150.000"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(rf"/pay/{request.id}\?event=\d+", location)
    wait_for_jobs()

    assert reloaded(db, request).status == "paid"
    paid = browser.get(location)
    assert "Đã thanh toán" in paid.text and 'http-equiv="refresh"' not in paid.text
    assert "qr.svg" not in paid.text
    receipt = db.exec(select(Receipt).where(Receipt.request_id == request.id)).one()
    assert f'href="/receipts/{receipt.id}"' in paid.text

    html = browser.get(f"/receipts/{receipt.id}")
    assert html.status_code == 200
    for expected in ("BIÊN LAI THU TIỀN", "Một trăm năm mươi nghìn đồng", shop["org"].name, "0000001"):
        assert expected in html.text
    assert 'src="data:image/svg+xml;base64,' in html.text  # the verification QR

    pdf = browser.get(f"/receipts/{receipt.id}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    year = receipt.content["series"].split("/")[1]
    assert pdf.headers["content-disposition"] == f"inline; filename=bien-lai-CS-{year}-0000001.pdf"

    stranger = make_client()  # no login
    verify_path = "/receipts/verify/" + receipt.verification_code
    assert receipt.content["verification_url"].endswith(verify_path)
    verified = stranger.get(verify_path)
    assert verified.status_code == 200
    assert "Một trăm năm mươi nghìn đồng" in verified.text and request.reference_code in verified.text
    assert 'name="robots" content="noindex"' in verified.text

    missing = stranger.get("/no-such-page")
    forged = stranger.get("/receipts/verify/" + "0" * 24)
    truncated = stranger.get(verify_path[:-1])
    garbage = stranger.get("/receipts/verify/%3Cscript%3E")
    for response in (forged, truncated, garbage):
        assert response.status_code == 404
        assert main_of(response.text) == main_of(missing.text)  # looks like any other missing page


def test_a_pending_transfer_makes_the_page_reload_until_it_is_processed(
    make_client: Browser, db: Session, shop: dict
) -> None:
    event = WebhookEvent(source="sepay", external_id="pending-1", payload={})
    db.add(event)
    db.commit()
    browser = logged_in(make_client, shop["buyer"])
    page = browser.get(f"/pay/{shop['request'].id}?event={event.id}")
    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert "<script" not in page.text  # CSP: no inline scripts
    event.processed_at = utcnow()
    db.add(event)
    db.commit()
    page = browser.get(f"/pay/{shop['request'].id}?event={event.id}")
    assert 'http-equiv="refresh"' not in page.text


def test_a_bad_sandbox_amount_is_a_form_error_and_sends_nothing(
    make_client: Browser, db: Session, shop: dict
) -> None:
    browser = logged_in(make_client, shop["buyer"])
    page = browser.get(f"/pay/{shop['request'].id}")
    for typed in ("150,5", "abc", "0", "1" * 14):
        response = browser.post(
            f"/pay/{shop['request'].id}/simulate-transfer",
            data={"csrf_token": csrf_from(page), "amount_vnd": typed},
        )
        assert response.status_code == 422, typed
        assert 'class="error"' in response.text
    assert count(db, WebhookEvent) == 0


# --- who may see what -----------------------------------------------------------------------


def test_only_payer_payee_staff_and_operators_see_a_request_and_its_receipts(
    make_client: Browser, shop: dict
) -> None:
    request = shop["request"]
    receipt = settle(request, shop["account"])
    paths = [
        f"/pay/{request.id}",
        f"/receipts/{receipt.id}",
        f"/receipts/{receipt.id}.pdf",
    ]
    open_request = factories.payment_request(
        shop["org"].id, shop["account"].id, payer_user_id=shop["buyer"].id
    )
    qr_paths = [f"/pay/{open_request.id}", f"/pay/{open_request.id}/qr.svg", f"/pay/{open_request.id}/qr.png"]

    _, foreign_staff = factories.staff(OrganisationKind.PRODUCER)
    _, foreign_officer = factories.staff(OrganisationKind.AGENCY)
    foreign_buyer = factories.user(Role.BUYER)
    for outsider in (foreign_buyer, foreign_staff, foreign_officer):
        browser = logged_in(make_client, outsider)
        missing_request = browser.get("/pay/2147483647")
        missing_receipt = browser.get("/receipts/2147483647")
        assert missing_request.status_code == missing_receipt.status_code == 404
        for path in paths + qr_paths:
            response = browser.get(path)
            assert response.status_code == 404, (outsider.role, path)
            assert request.reference_code not in response.text
        assert main_of(browser.get(f"/pay/{request.id}").text) == main_of(missing_request.text)
        assert main_of(browser.get(f"/receipts/{receipt.id}").text) == main_of(missing_receipt.text)
        assert request.reference_code not in browser.get("/payments").text

    for insider in (shop["buyer"], shop["owner"], factories.user(Role.OPERATOR)):
        browser = logged_in(make_client, insider)
        for path in paths + qr_paths:
            assert browser.get(path).status_code == 200, (insider.role, path)
        assert request.reference_code in browser.get("/payments").text

    anonymous = make_client()
    for path in paths + qr_paths:
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


# --- CSRF -------------------------------------------------------------------------------------


def test_every_payment_form_needs_the_csrf_token(make_client: Browser, db: Session, shop: dict) -> None:
    request = shop["request"]
    owner = logged_in(make_client, shop["owner"])
    key = re.search(r'name="idempotency_key" value="([^"]+)"', owner.get("/payments").text)
    assert key
    form = {"amount_vnd": "90000", "description": "Phí gian hàng", "idempotency_key": key.group(1)}
    attempts = [
        (owner, "/payments", form),
        (owner, f"/pay/{request.id}/simulate-transfer", {}),
        (owner, f"/pay/{request.id}/cancel", {}),
        (
            owner,
            "/account/bank-accounts",
            {"bank_bin": "970436", "account_number": "1234567", "holder_name": "X Y"},
        ),
        (owner, f"/account/bank-accounts/{shop['account'].id}/deactivate", {}),
    ]
    operator = logged_in(make_client, factories.user(Role.OPERATOR))
    attempts += [
        (operator, "/operator/suspense/1/assign", {"target": str(request.id)}),
        (operator, "/operator/suspense/1/refund", {}),
    ]
    for browser, path, data in attempts:
        for token in (None, "forged-token"):
            sent = data if token is None else {**data, "csrf_token": token}
            response = browser.post(path, data=sent, follow_redirects=False)
            assert response.status_code == 403, (path, token)
    assert count(db, PaymentRequest) == 1
    assert count(db, WebhookEvent) == 0
    assert count(db, BankAccount) == 1 and db.get_one(BankAccount, shop["account"].id).is_active
    assert reloaded(db, request).status == "open"


# --- manual payment requests -----------------------------------------------------------------


def test_staff_create_a_request_and_a_double_submit_makes_one(
    make_client: Browser, db: Session, shop: dict
) -> None:
    owner = logged_in(make_client, shop["owner"])
    page = owner.get("/payments")
    assert "Tạo yêu cầu thanh toán" in page.text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": csrf_from(page),
        "idempotency_key": key,
        "amount_vnd": "1.250.000",
        "description": "Phí thuê gian hàng tháng 11",
        "payer_name": "Trần Văn Minh",
        "expires_in_hours": "24",
        "bank_account_id": str(shop["account"].id),
    }
    first = owner.post("/payments", data=form, follow_redirects=False)
    second = owner.post("/payments", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    created = db.exec(select(PaymentRequest).where(PaymentRequest.idempotency_key == key)).one()
    assert (created.amount_vnd, created.payer_name, created.created_by_id) == (
        1_250_000,
        "Trần Văn Minh",
        shop["owner"].id,
    )
    assert timedelta(hours=23) < created.expires_at - created.created_at <= timedelta(hours=24, minutes=1)
    assert first.headers["location"] == f"/pay/{created.id}"
    assert "Phí thuê gian hàng tháng 11" in owner.get("/payments?status=open").text
    assert "Phí thuê gian hàng tháng 11" not in owner.get("/payments?status=paid").text

    # the same form sent again with other content: one request still, and a fresh form
    changed = owner.post("/payments", data={**form, "amount_vnd": "990000"})
    assert changed.status_code == 422
    assert "đã được gửi" in changed.text
    new_key = re.search(r'name="idempotency_key" value="([^"]+)"', changed.text).group(1)  # type: ignore[union-attr]
    assert new_key != key
    assert count(db, PaymentRequest, PaymentRequest.created_by_id == shop["owner"].id) == 1


def test_a_bad_request_form_keeps_the_input_and_creates_nothing(
    make_client: Browser, db: Session, shop: dict
) -> None:
    owner = logged_in(make_client, shop["owner"])
    page = owner.get("/payments")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    base = {"csrf_token": csrf_from(page), "idempotency_key": key, "description": "Phí gian hàng"}
    for amount in ("abc", "0", "10000000000000", "12,5"):
        response = owner.post("/payments", data={**base, "amount_vnd": amount})
        assert response.status_code == 422, amount
        assert 'value="Phí gian hàng"' in response.text and 'class="error"' in response.text
    no_key = owner.post("/payments", data={**base, "idempotency_key": "", "amount_vnd": "1000"})
    assert no_key.status_code == 422
    assert count(db, PaymentRequest, PaymentRequest.created_by_id == shop["owner"].id) == 0

    buyer = logged_in(make_client, shop["buyer"])
    assert "Tạo yêu cầu thanh toán" not in buyer.get("/payments").text
    refused = buyer.post(
        "/payments", data={**base, "csrf_token": csrf_from(buyer.get("/payments")), "amount_vnd": "1000"}
    )
    assert refused.status_code == 403


# --- bank accounts ----------------------------------------------------------------------------


def test_staff_add_and_deactivate_bank_accounts(make_client: Browser, db: Session) -> None:
    org, owner = factories.staff(OrganisationKind.AGENCY)
    browser = logged_in(make_client, owner)
    page = browser.get("/account/bank-accounts")
    assert page.status_code == 200
    assert '<option value="970436">Vietcombank' in page.text
    assert (
        '<option value="970406">' in page.text and page.text.count('value="970406"') == 1
    )  # one bank per BIN
    form = {
        "csrf_token": csrf_from(page),
        "bank_bin": "970436",
        "account_number": "0011 0012.3456-7",
        "holder_name": "UBND PHUONG HAC THANH",
    }
    response = browser.post("/account/bank-accounts", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/account/bank-accounts?added=1"
    account = db.exec(select(BankAccount).where(BankAccount.organisation_id == org.id)).one()
    assert (account.account_number, account.holder_name, account.is_active) == (
        "0011001234567",
        "UBND PHUONG HAC THANH",
        True,
    )
    listed = browser.get("/account/bank-accounts?added=1").text
    assert "0011001234567" in listed and "Đã thêm tài khoản ngân hàng" in listed

    duplicate = browser.post("/account/bank-accounts", data=form)
    assert duplicate.status_code == 409 and 'class="error"' in duplicate.text
    unknown = browser.post("/account/bank-accounts", data={**form, "bank_bin": "999999"})
    assert unknown.status_code == 422 and 'value="0011 0012.3456-7"' in unknown.text
    assert count(db, BankAccount) == 1

    # another organisation's staff cannot touch it
    _, stranger = factories.staff(OrganisationKind.PRODUCER)
    other = logged_in(make_client, stranger)
    token = csrf_from(other.get("/account/bank-accounts"))
    assert "0011001234567" not in other.get("/account/bank-accounts").text
    assert (
        other.post(f"/account/bank-accounts/{account.id}/deactivate", data={"csrf_token": token}).status_code
        == 404
    )

    done = browser.post(
        f"/account/bank-accounts/{account.id}/deactivate",
        data={"csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    db.rollback()
    assert db.get_one(BankAccount, account.id).is_active is False
    actions = db.exec(select(AuditEntry.action).where(AuditEntry.object_type == "bank_account")).all()
    assert sorted(actions) == ["bank_account.add", "bank_account.deactivate"]
    buyer = logged_in(make_client, factories.user(Role.BUYER))
    assert buyer.get("/account/bank-accounts").status_code == 403


def test_changing_a_bank_account_needs_a_recent_password(make_client: Browser, db: Session) -> None:
    _org, owner = factories.staff(OrganisationKind.PRODUCER)
    browser = logged_in(make_client, owner)
    page = browser.get("/account/bank-accounts")
    db.rollback()
    login = db.exec(select(UserSession).where(UserSession.user_id == owner.id)).one()
    login.reauthenticated_at = utcnow() - timedelta(days=1)
    db.add(login)
    db.commit()
    form = {
        "csrf_token": csrf_from(page),
        "bank_bin": "970436",
        "account_number": "123456789",
        "holder_name": "HTX",
    }
    response = browser.post("/account/bank-accounts", data=form)
    assert response.status_code == 401 and 'action="/reauth"' in response.text
    assert count(db, BankAccount) == 0


# --- the suspense queue -----------------------------------------------------------------------


def test_an_operator_assigns_an_unclaimed_payment_by_reference_code(
    make_client: Browser, client: TestClient, db: Session, shop: dict
) -> None:
    request, account = shop["request"], shop["account"]
    post_sepay(client, sepay_body(notice(account.account_number, 150_000, "chuyen tien hang thang 11")))
    post_sepay(client, sepay_body(notice(account.account_number, 20_000, "ung ho")))
    wait_for_jobs()
    first, second = db.exec(select(SuspenseItem).order_by(SuspenseItem.id)).all()

    operator = factories.user(Role.OPERATOR)
    browser = logged_in(make_client, operator)
    page = browser.get("/operator/suspense")
    assert page.status_code == 200
    assert (
        "chuyen tien hang thang 11" in page.text
        and "Nội dung chuyển khoản không có mã tham chiếu" in page.text
    )
    token = csrf_from(page)

    wrong = browser.post(
        f"/operator/suspense/{first.id}/assign", data={"csrf_token": token, "target": "CS123"}
    )
    assert wrong.status_code == 422 and 'class="error"' in wrong.text and 'value="CS123"' in wrong.text

    code = request.reference_code.lower()
    typed = f"{code[:4]}-{code[4:8]} {code[8:]}"  # as a person copies it
    response = browser.post(
        f"/operator/suspense/{first.id}/assign",
        data={"csrf_token": token, "target": typed, "note": "Khách quên ghi mã"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    wait_for_jobs()
    assert reloaded(db, request).status == "paid"
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "suspense.assign")).one()
    assert entry.actor_id == operator.id and entry.after["request_id"] == request.id

    again = browser.post(f"/operator/suspense/{first.id}/refund", data={"csrf_token": token})
    assert again.status_code == 409
    refunded = browser.post(
        f"/operator/suspense/{second.id}/refund", data={"csrf_token": token}, follow_redirects=False
    )
    assert refunded.status_code == 303
    db.rollback()
    assert [i.status for i in db.exec(select(SuspenseItem).order_by(SuspenseItem.id))] == [
        "assigned",
        "refund",
    ]
    assert "Không có gì cần xử lý" in browser.get("/operator/suspense").text
    assert "ung ho" in browser.get("/operator/suspense?status=refund").text

    owner = logged_in(make_client, shop["owner"])
    assert owner.get("/operator/suspense").status_code == 403
