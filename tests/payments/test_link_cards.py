"""A fee notice paid by card from its public link, without an account (web/pages/fee_cards.py,
payments.links): the real Stripe SDK against a running localstripe, the pages as a browser
without a login uses them, the webhook's job settling the notice, the e-receipt PDF; and who may
start, see or use such an attempt (the link's token, nobody else)."""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from pypdf import PdfReader
from sqlmodel import Session, select

from choso.settings import get_settings
from fees.models import FeeNotice
from market.models import Role
from payments.models import CardAttempt, Payment, Receipt
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.fees import helpers
from tests.payments import card_support as cs
from tests.support import csrf_from, page_login

pytestmark = pytest.mark.usefixtures("localstripe", "ledger_clean")
_DATA_CSRF = re.compile(r'data-csrf="([^"]+)"')
_ATTEMPT = re.compile(r"/fees/n/[A-Za-z0-9_-]+/card/(\d+)$")


@dataclass
class Issued:
    agency: helpers.Agency
    notice: dict
    token: str

    @property
    def page(self) -> str:
        return f"/fees/n/{self.token}"


def issued_notice(client: TestClient, amount: int = 150_000) -> Issued:
    agency = helpers.agency("Trung tâm Phục vụ hành chính công tỉnh Thanh Hóa")
    service = helpers.create_service(client, agency, helpers.fixed_payload(agency.account.id, amount=amount))
    notice = helpers.issue(client, agency, helpers.notice_payload(service["id"]))
    return Issued(agency, notice, helpers.token_of(notice["public_url"]))


def anonymous(client: TestClient) -> TestClient:
    """A browser of its own (its own cookies), logged in nowhere."""
    return TestClient(client.app)


def start(browser: TestClient, issued: Issued) -> int:
    """Choose "pay by card" on the notice page; the attempt's id."""
    page = browser.get(issued.page)
    assert f'action="{issued.page}/card"' in page.text
    started = browser.post(
        f"{issued.page}/card", data={"csrf_token": csrf_from(page)}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    match = _ATTEMPT.search(started.headers["location"])
    assert match, started.headers["location"]
    return int(match.group(1))


def confirm(browser: TestClient, issued: Issued, attempt_id: int, number: str = cs.SUCCEEDS) -> Response:
    """What the card page's script does: Stripe.js makes a payment method, sent with the CSRF header."""
    page = browser.get(f"{issued.page}/card/{attempt_id}")
    assert page.status_code == 200, page.text
    csrf = _DATA_CSRF.search(page.text)
    assert csrf
    return browser.post(
        f"{issued.page}/card/{attempt_id}/confirm",
        json={"payment_method": cs.payment_method(number)},
        headers={"X-CSRF-Token": csrf.group(1)},
    )


def come_back(browser: TestClient, issued: Issued, attempt_id: int) -> Response:
    """The return page, and the form its script sends at once."""
    back = browser.get(f"{issued.page}/card/{attempt_id}/return")
    assert back.status_code == 200 and f'action="{issued.page}/card/{attempt_id}/complete"' in back.text
    return browser.post(
        f"{issued.page}/card/{attempt_id}/complete",
        data={"csrf_token": csrf_from(back)},
        follow_redirects=False,
    )


def payments_of(db: Session, request_id: int) -> list[Payment]:
    db.rollback()
    return list(db.exec(select(Payment).where(Payment.request_id == request_id)))


def test_a_citizen_without_an_account_pays_a_notice_by_card_and_downloads_the_e_receipt(
    client: TestClient, db: Session
) -> None:
    issued = issued_notice(client, 150_000)
    browser = anonymous(client)
    attempt_id = start(browser, issued)

    page = browser.get(f"{issued.page}/card/{attempt_id}?lang=en")
    base = get_settings().stripe_api_base
    assert f'<script src="{base}/js.stripe.com/v3/"></script>' in page.text  # localstripe's stand-in
    assert f'data-confirm-url="{issued.page}/card/{attempt_id}/confirm"' in page.text
    assert f'href="{issued.page}"' in page.text  # back to the notice, not to a login-only pay page
    assert "<input" not in page.text.split('id="card-form"')[1].split("</form>")[0]  # Stripe.js fills it
    assert f"script-src 'self' {base};" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store" and "noindex" in page.headers["X-Robots-Tag"]
    # Starting again resumes the same attempt (the same intent), not a second charge.
    assert start(browser, issued) == attempt_id

    confirmed = confirm(browser, issued, attempt_id)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "succeeded"
    assert confirmed.json()["next"] == f"{issued.page}/card/{attempt_id}/return"
    done = come_back(browser, issued, attempt_id)
    assert done.status_code == 303 and done.headers["location"] == issued.page
    # The webhook reports the same success: it is stored, its job runs, nothing is posted twice.
    db.rollback()
    intent_id = db.get_one(CardAttempt, attempt_id).intent_id or ""
    (event,) = cs.events_about(intent_id, "payment_intent.succeeded")
    assert cs.deliver(client, event).status_code == 200
    wait_for_jobs()

    (payment,) = payments_of(db, issued.notice["request_id"])
    assert (payment.channel, payment.amount_vnd, payment.status) == ("card", 150_000, "settled")
    attempt = db.get_one(CardAttempt, attempt_id)
    assert attempt.created_by_id is None and attempt.status == "succeeded"
    assert db.exec(select(FeeNotice).where(FeeNotice.id == issued.notice["id"])).one().status == "paid"
    receipt = db.exec(select(Receipt).where(Receipt.request_id == issued.notice["request_id"])).one()
    assert receipt.content["channel"] == "card"

    notice_page = browser.get(issued.page + "?lang=en")
    assert "Paid in full" in notice_page.text and f'action="{issued.page}/card"' not in notice_page.text
    pdf_path = f"{issued.page}/receipts/{receipt.id}.pdf"
    assert f'href="{pdf_path}"' in notice_page.text
    number = issued.notice["number"]
    assert f'download="bien-lai-{number}-{receipt.content["number_text"]}.pdf"' in notice_page.text
    pdf = browser.get(pdf_path)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert f"bien-lai-{number}-" in pdf.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"Thông báo nộp phí số: {number}" in text and "Thẻ thanh toán" in text
    # The card page of a paid notice leads back to the notice.
    again = browser.get(f"{issued.page}/card/{attempt_id}", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == issued.page


def test_the_webhook_settles_the_notice_while_the_citizen_authenticates(
    client: TestClient, db: Session
) -> None:
    issued = issued_notice(client, 95_000)
    browser = anonymous(client)
    attempt_id = start(browser, issued)
    confirmed = confirm(browser, issued, attempt_id, cs.NEEDS_AUTHENTICATION)
    assert confirmed.json()["status"] == "requires_action" and confirmed.json()["client_secret"]
    assert payments_of(db, issued.notice["request_id"]) == []

    db.rollback()
    intent_id = db.get_one(CardAttempt, attempt_id).intent_id or ""
    cs.authenticate(intent_id, confirmed.json()["client_secret"])  # localstripe's Stripe.js stand-in
    (event,) = cs.events_about(intent_id, "payment_intent.succeeded")
    assert cs.deliver(client, event).status_code == 200  # webhook → inbox → job → payment → receipt
    paid = eventually(lambda: "Paid in full" in (p := browser.get(issued.page + "?lang=en")).text and p)
    db.rollback()
    receipt = db.exec(select(Receipt).where(Receipt.request_id == issued.notice["request_id"])).one()
    assert f"/receipts/{receipt.id}.pdf" in paid.text

    done = come_back(browser, issued, attempt_id)  # the payer's return finds it done
    assert done.headers["location"] == issued.page
    assert [p.amount_vnd for p in payments_of(db, issued.notice["request_id"])] == [95_000]


def test_a_declined_card_leaves_the_notice_open_and_another_card_can_pay_it(
    client: TestClient, db: Session
) -> None:
    issued = issued_notice(client, 60_000)
    browser = anonymous(client)
    first = start(browser, issued)
    assert confirm(browser, issued, first, cs.DECLINED).status_code == 402
    page = browser.get(f"{issued.page}/card/{first}?lang=en")
    assert f'action="{issued.page}/card"' in page.text and "Try another card" in page.text
    second = start(browser, issued)
    assert second != first
    assert confirm(browser, issued, second).json()["status"] == "succeeded"
    assert [p.amount_vnd for p in payments_of(db, issued.notice["request_id"])] == [60_000]


def test_only_the_link_token_opens_the_card_pages(client: TestClient, db: Session) -> None:
    issued = issued_notice(client)
    other = issued_notice(client, 70_000)
    browser = anonymous(client)
    attempt_id = start(browser, issued)
    other_attempt = start(browser, other)
    csrf = csrf_from(browser.get(issued.page))
    headers = {"X-CSRF-Token": csrf}
    wrong = secrets.token_urlsafe(24)  # well-formed, 192 bits, nobody's
    for token in (wrong, issued.token[:-1], issued.token + "A", other.token):
        base = f"/fees/n/{token}/card"
        if token != other.token:
            assert browser.post(base, data={"csrf_token": csrf}).status_code == 404
        assert browser.get(f"{base}/{attempt_id}").status_code == 404
        assert browser.get(f"{base}/{attempt_id}/return").status_code == 404
        method = {"payment_method": cs.payment_method()}
        assert browser.post(f"{base}/{attempt_id}/confirm", json=method, headers=headers).status_code == 404
        assert browser.post(f"{base}/{attempt_id}/complete", data={"csrf_token": csrf}).status_code == 404
    # The other notice's token opens only the other notice's attempt.
    assert browser.get(f"/fees/n/{other.token}/card/{other_attempt}").status_code == 200
    # Without the form's CSRF token nothing starts.
    assert browser.post(f"{issued.page}/card").status_code == 403
    assert browser.post(f"{issued.page}/card/{attempt_id}/confirm", json=method).status_code == 403

    # Without the token, the request's own card pages need a login ...
    request_id = issued.notice["request_id"]
    to_login = browser.post(f"/pay/{request_id}/card", data={"csrf_token": csrf}, follow_redirects=False)
    assert to_login.status_code == 303 and to_login.headers["location"].startswith("/login")
    # ... and a logged-in stranger (a buyer, a producer, another agency's officer) gets a 404.
    strangers = [
        factories.user(Role.BUYER),
        factories.staff()[1],
        helpers.agency().officer,
    ]
    for stranger in strangers:
        session = anonymous(client)
        page_login(session, stranger.email)
        token = csrf_from(session.get("/account"))
        assert session.post(f"/pay/{request_id}/card", data={"csrf_token": token}).status_code == 404
        assert session.get(f"/pay/{request_id}/card/{attempt_id}").status_code == 404
        answer = session.post(
            f"/pay/{request_id}/card/{attempt_id}/confirm",
            json={"payment_method": cs.payment_method()},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 404
        complete = session.post(f"/pay/{request_id}/card/{attempt_id}/complete", data={"csrf_token": token})
        assert complete.status_code == 404
    db.rollback()
    assert payments_of(db, request_id) == []


def test_a_logged_in_payer_with_the_link_pays_through_it_and_the_officers_attempt_stays_theirs(
    client: TestClient, db: Session
) -> None:
    issued = issued_notice(client, 50_000)
    # The agency's officer may see the request and start an attempt on the pay page ...
    officer = anonymous(client)
    page_login(officer, issued.agency.officer.email)
    request_id = issued.notice["request_id"]
    pay_page = officer.get(f"/pay/{request_id}")
    started = officer.post(
        f"/pay/{request_id}/card", data={"csrf_token": csrf_from(pay_page)}, follow_redirects=False
    )
    assert started.status_code == 303
    officers_attempt = int(started.headers["location"].rsplit("/", 1)[1])
    # ... which the link does not open: its holder sees only the link's attempts.
    holder = anonymous(client)
    assert holder.get(f"{issued.page}/card/{officers_attempt}").status_code == 404
    # A logged-in buyer holding the link pays through it; the attempt is the link's.
    buyer = factories.user(Role.BUYER)
    page_login(holder, buyer.email)
    attempt_id = start(holder, issued)
    assert attempt_id != officers_attempt
    assert confirm(holder, issued, attempt_id).json()["status"] == "succeeded"
    db.rollback()
    assert db.get_one(CardAttempt, attempt_id).created_by_id is None
    assert [p.amount_vnd for p in payments_of(db, request_id)] == [50_000]


def test_a_cancelled_notice_cannot_be_paid_by_card(client: TestClient, db: Session) -> None:
    issued = issued_notice(client)
    browser = anonymous(client)
    page = browser.get(issued.page)
    cancel = client.post(
        f"/api/v1/fees/notices/{issued.notice['id']}/cancel",
        json={"reason": "Hồ sơ rút lại"},
        headers=issued.agency.auth,
    )
    assert cancel.status_code == 200
    answer = browser.post(f"{issued.page}/card", data={"csrf_token": csrf_from(page)}, follow_redirects=False)
    assert answer.status_code == 409
    db.rollback()
    assert db.exec(select(CardAttempt)).all() == []
