"""Refund pages: a payment's refunds with their state and credit note, the refund form (full or
part, with a reason, CSRF, a recent password, one refund per form however often it is sent),
the same rules as the API (never more than was paid: a 409 on the form), who may see and who
may refund (the authorisation matrix), and the operator's dashboard counting refunds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.audit import AuditEntry
from choso.db import utcnow
from market.models import OrganisationKind, Role, User, UserSession
from payments import ledger
from payments.models import BankAccount, Payment, PaymentRequest, PayoutBatch, Receipt, Refund
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.payments import card_support as cs
from tests.payments.helpers import notice as bank_notice
from tests.payments.helpers import post_sepay, sepay_body
from tests.support import csrf_from, page_login

pytestmark = pytest.mark.usefixtures("ledger_clean")
Browser = Callable[[], TestClient]
PAYER_BANK = {"bank_bin": "970415", "account_number": "1012 3456 789", "holder_name": "NGUYEN THI LAN"}


@dataclass
class Shop:
    org_id: int
    owner: User
    colleague: User
    payer: User
    account: BankAccount
    request: PaymentRequest
    payment: Payment


@pytest.fixture
def shop(client: TestClient, db: Session) -> Shop:
    """A producer paid 200.000 đ by bank transfer into its own account (a signed bank webhook)."""
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    colleague = factories.user(Role.PRODUCER, org.id)
    payer = factories.user(Role.BUYER)
    account = factories.bank_account(org.id)
    request = factories.payment_request(org.id or 0, account.id or 0, 200_000, payer_user_id=payer.id)
    body = sepay_body(bank_notice(account.account_number, 200_000, request.reference_code))
    assert post_sepay(client, body).status_code == 200
    wait_for_jobs()
    payment = db.exec(select(Payment).where(Payment.request_id == request.id)).one()
    assert payment.status == "settled"
    return Shop(org.id or 0, owner, colleague, payer, account, request, payment)


def logged_in(make_client: Browser, user: User) -> TestClient:
    browser = make_client()
    assert page_login(browser, user.email).status_code == 303
    return browser


def refunds_path(payment: Payment) -> str:
    return f"/payments/{payment.id}/refunds"


def form_of(page_text: str, **fields: str) -> dict[str, str]:
    key = page_text.split('name="idempotency_key" value="', 1)[1].split('"', 1)[0]
    return {"csrf_token": csrf_from_text(page_text), "idempotency_key": key, **fields}


def csrf_from_text(text: str) -> str:
    return text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_the_payee_refunds_part_of_a_transfer_and_the_payout_batch_pays_it_back(
    make_client: Browser, db: Session, shop: Shop
) -> None:
    browser = logged_in(make_client, shop.owner)
    pay_page = browser.get(f"/pay/{shop.request.id}")
    assert f'href="{refunds_path(shop.payment)}"' in pay_page.text
    page = browser.get(refunds_path(shop.payment))
    assert page.status_code == 200
    assert 'action="/payments/' in page.text and 'name="bank_bin"' in page.text
    assert "Chưa được hoàn tiền" in page.text or "chưa được hoàn tiền" in page.text

    form = form_of(page.text, amount_vnd="50.000", reason="Thiếu 2 hộp nem", **PAYER_BANK)
    sent = browser.post(refunds_path(shop.payment), data=form, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    again = browser.post(refunds_path(shop.payment), data=form, follow_redirects=False)  # a double submit
    assert again.status_code == 303 and again.headers["location"] == sent.headers["location"]
    db.rollback()
    (refund,) = db.exec(select(Refund).where(Refund.payment_id == shop.payment.id)).all()
    assert (refund.amount_vnd, refund.method, refund.status) == (50_000, "bank_transfer", "pending")
    assert (refund.account_number, refund.reason, refund.created_by_id) == (
        "10123456789",
        "Thiếu 2 hộp nem",
        shop.owner.id,
    )
    assert ledger.balance(db, ledger.REFUNDS_DUE) == -50_000  # held at once
    listed = browser.get(sent.headers["location"])
    assert "Thiếu 2 hộp nem" in listed.text and "Chờ gửi đi" in listed.text
    assert "150.000" in listed.text  # what can still be refunded

    # The organisation pays it back from its own account: one member draws the batch, another approves.
    payouts_page = browser.get("/payouts")
    drawn = browser.post(
        "/payouts",
        data={"csrf_token": csrf_from(payouts_page), "source_bank_account_id": str(shop.account.id)},
        follow_redirects=False,
    )
    assert drawn.status_code == 303, drawn.text
    batch_path = drawn.headers["location"]
    checker = logged_in(make_client, shop.colleague)
    batch_page = checker.get(batch_path)
    assert "Hoàn tiền cho NGUYEN THI LAN" in batch_page.text
    approved = checker.post(f"{batch_path}/approve", data={"csrf_token": csrf_from(batch_page)})
    assert approved.status_code == 200 and "Đã phê duyệt đợt chi trả" in approved.text
    db.rollback()
    batch = db.exec(select(PayoutBatch)).one()
    line_id = approved.text.split('name="line_id" value="', 1)[1].split('"', 1)[0]
    settled = checker.post(
        f"{batch_path}/settle",
        data={"csrf_token": csrf_from(approved), "line_id": line_id, "bank_reference": "FT2633099"},
    )
    assert settled.status_code == 200
    db.rollback()
    refund = db.get_one(Refund, refund.id)
    assert refund.status == "succeeded" and refund.credit_note_id
    assert db.get_one(PayoutBatch, batch.id).status == "settled"
    note = db.get_one(Receipt, refund.credit_note_id)
    assert (note.kind, note.amount_vnd) == ("credit_note", 50_000)

    # The payer sees the refund and its credit note, without the form.
    payer = logged_in(make_client, shop.payer)
    seen = payer.get(refunds_path(shop.payment))
    assert seen.status_code == 200 and "Đã hoàn tiền" in seen.text
    assert f'href="/receipts/{note.id}"' in seen.text and 'name="reason"' not in seen.text
    assert payer.get(f"/receipts/{note.id}").status_code == 200
    assert payer.get(f"/receipts/{note.id}.pdf").headers["content-type"] == "application/pdf"


def test_a_full_refund_leaves_nothing_to_refund_and_more_is_refused_on_the_form(
    make_client: Browser, db: Session, shop: Shop
) -> None:
    browser = logged_in(make_client, shop.owner)
    page = browser.get(refunds_path(shop.payment))
    too_much = browser.post(
        refunds_path(shop.payment),
        data=form_of(page.text, amount_vnd="250000", reason="Trả lại", **PAYER_BANK),
    )
    assert too_much.status_code == 409 and 'role="alert"' in too_much.text
    assert "200.000" in too_much.text and 'value="Trả lại"' in too_much.text  # what was typed stays
    all_of_it = browser.post(
        refunds_path(shop.payment),
        data=form_of(too_much.text, amount_vnd="", reason="Hủy đơn", **PAYER_BANK),
        follow_redirects=False,
    )
    assert all_of_it.status_code == 303
    db.rollback()
    assert [r.amount_vnd for r in db.exec(select(Refund))] == [200_000]
    after = browser.get(refunds_path(shop.payment))
    assert 'name="reason"' not in after.text  # nothing left to refund: no form


@pytest.mark.parametrize(
    ("fields", "status", "field"),
    [
        ({"amount_vnd": "abc", "reason": "Trả lại", **PAYER_BANK}, 422, "amount_vnd"),
        ({"amount_vnd": "1000", "reason": "x", **PAYER_BANK}, 422, "reason"),
        ({"amount_vnd": "1000", "reason": "Trả lại"}, 422, "account_number"),  # a transfer needs the account
        ({"amount_vnd": "1000", "reason": "Trả lại", **PAYER_BANK, "bank_bin": "999999"}, 422, "bank_bin"),
    ],
)
def test_bad_input_is_shown_on_the_form_and_refunds_nothing(
    make_client: Browser, db: Session, shop: Shop, fields: dict[str, str], status: int, field: str
) -> None:
    browser = logged_in(make_client, shop.owner)
    page = browser.get(refunds_path(shop.payment))
    answer = browser.post(refunds_path(shop.payment), data=form_of(page.text, **fields))
    assert answer.status_code == status
    assert f'id="f-{field}"' in answer.text and 'class="error"' in answer.text
    db.rollback()
    assert db.exec(select(Refund)).first() is None


def test_without_csrf_or_a_recent_password_nothing_is_refunded(
    make_client: Browser, db: Session, shop: Shop
) -> None:
    browser = logged_in(make_client, shop.owner)
    page = browser.get(refunds_path(shop.payment))
    form = form_of(page.text, amount_vnd="1000", reason="Trả lại", **PAYER_BANK)
    assert browser.post(refunds_path(shop.payment), data={**form, "csrf_token": "forged"}).status_code == 403
    db.rollback()
    login = db.exec(select(UserSession).where(UserSession.user_id == shop.owner.id)).one()
    login.reauthenticated_at = utcnow() - timedelta(days=1)
    db.add(login)
    db.commit()
    asked = browser.post(refunds_path(shop.payment), data=form)
    assert asked.status_code == 401 and 'action="/reauth"' in asked.text
    db.rollback()
    assert db.exec(select(Refund)).first() is None


def test_authorisation_matrix(make_client: Browser, db: Session, shop: Shop) -> None:
    """See: payer, payee staff, operator; refund: payee staff and operators; others: 404."""
    _other_org, other_producer = factories.staff(OrganisationKind.PRODUCER)
    _agency, officer = factories.staff(OrganisationKind.AGENCY)
    stranger = factories.user(Role.BUYER)
    operator = factories.user(Role.OPERATOR)
    path = refunds_path(shop.payment)
    expected = {  # who: (GET status, the form shown, POST status)
        shop.colleague.email: (200, True, 303),
        operator.email: (200, True, 303),
        shop.payer.email: (200, False, 403),
        other_producer.email: (404, False, 404),
        officer.email: (404, False, 404),
        stranger.email: (404, False, 403),
    }
    browsers = {}
    for email, (seen, form_shown, posted) in expected.items():
        browser = browsers[email] = make_client()
        assert page_login(browser, email).status_code == 303
        page = browser.get(path)
        assert page.status_code == seen, email
        assert ('name="reason"' in page.text) is form_shown, email
        token = csrf_from(browser.get("/account"))
        body = {
            "csrf_token": token,
            "idempotency_key": f"matrix-{email.split('@')[0]}-0123456789",
            "amount_vnd": "1000",
        }
        answer = browser.post(
            path, data={**body, "reason": "Kiểm tra quyền", **PAYER_BANK}, follow_redirects=False
        )
        assert answer.status_code == posted, (email, answer.text[:300])
    anonymous = make_client()
    assert anonymous.get(path, follow_redirects=False).headers["location"].startswith("/login")
    token = csrf_from(anonymous.get("/login"))
    answer = anonymous.post(path, data={"csrf_token": token, "reason": "x"}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    ops = browsers[operator.email]  # (one login each: a one-time code is good once)
    assert ops.get("/payments/2147483648/refunds").status_code == 422  # beyond any id: bad input
    assert ops.get("/payments/999999/refunds").status_code == 404
    db.rollback()
    refunds = db.exec(select(Refund.created_by_id)).all()
    assert sorted(refunds) == sorted([shop.colleague.id, operator.id])
    actors = db.exec(select(AuditEntry.actor_id).where(AuditEntry.action == "refund.create")).all()
    assert sorted(actors) == sorted(refunds)


def test_a_card_payment_is_refunded_through_the_card_processor_from_the_page(
    localstripe: object, make_client: Browser, client: TestClient, db: Session
) -> None:
    scene = cs.scene(120_000)
    assert cs.pay_by_card(client, scene)["status"] == "succeeded"
    db.rollback()
    payment = db.exec(select(Payment).where(Payment.request_id == scene.request.id)).one()
    owner = db.get_one(User, scene.staff_id)
    browser = logged_in(make_client, owner)
    page = browser.get(refunds_path(payment))
    assert 'name="bank_bin"' not in page.text  # back to the card: no account to give
    sent = browser.post(
        refunds_path(payment),
        data=form_of(page.text, amount_vnd="20.000", reason="Giao thiếu hàng"),
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text

    def handed_to_stripe() -> Refund | None:
        db.rollback()
        refund = db.exec(select(Refund).where(Refund.payment_id == payment.id)).one()
        return refund if refund.provider_refund_id else None

    refund = eventually(handed_to_stripe)
    assert (refund.method, refund.amount_vnd) == ("card", 20_000)
    assert cs.refund_object(refund.provider_refund_id or "")["amount"] == 20_000


def test_the_operator_dashboard_counts_the_refunds_of_its_window(
    make_client: Browser, db: Session, shop: Shop
) -> None:
    browser = logged_in(make_client, shop.owner)
    page = browser.get(refunds_path(shop.payment))
    browser.post(
        refunds_path(shop.payment),
        data=form_of(page.text, amount_vnd="30000", reason="Trả lại", **PAYER_BANK),
    )
    operator = logged_in(make_client, factories.user(Role.OPERATOR))
    dashboard = operator.get("/operator/dashboard?range=7d")
    assert dashboard.status_code == 200, dashboard.text[:500]
    refunds = dashboard.text.split('href="/operator/dashboard/lists/refunds?', 2)[2]
    assert "pending" in refunds and "bank_transfer" in refunds and "30.000" in refunds
    drill = operator.get("/operator/dashboard/lists/refunds?range=7d")
    assert drill.status_code == 200 and "30.000" in drill.text
