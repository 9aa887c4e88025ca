"""Payout batch pages: the money owed, a batch drawn up by one operator and approved by a
second one (its creator is refused, with the reason on the page), its lines with bank, account,
amount, reference and a VietQR each, the CSV for the bank, lines marked paid or rejected, the
ledger at each step; bad input is a clear 4xx; the authorisation matrix (an officer of another
organisation gets a 404)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.audit import SYSTEM, AuditEntry
from choso.db import session_scope, utcnow
from market.models import OrganisationKind, Role, User, UserSession
from payments import ledger, payouts, vietqr
from payments.models import BankAccount, Payment, PaymentRequest, PayoutBatch, PayoutLine
from tests import factories
from tests.conftest import wait_for_jobs
from tests.downloads_helpers import assert_private_file
from tests.payments.helpers import bearer, post_sepay, sepay_body
from tests.payments.helpers import notice as bank_notice
from tests.support import csrf_from, page_login

pytestmark = pytest.mark.usefixtures("ledger_clean")
Browser = Callable[[], TestClient]
_LINE_ID = re.compile(r'name="line_id" value="(\d+)"')


@dataclass
class Market:
    platform: BankAccount
    orgs: list[tuple[int, User, BankAccount]]  # organisation id, its staff, its payout account
    maker: User
    checker: User


@pytest.fixture
def market(client: TestClient) -> Market:
    """Two producers owed 300.000 đ and 125.000 đ collected on the platform's account."""
    platform = factories.platform_bank_account()
    orgs = []
    for amount in (300_000, 125_000):
        org, staff = factories.staff(OrganisationKind.PRODUCER)
        own = factories.bank_account(org.id)
        request = factories.payment_request(org.id or 0, platform.id or 0, amount)
        body = sepay_body(bank_notice(platform.account_number, amount, request.reference_code))
        assert post_sepay(client, body).status_code == 200
        with session_scope() as session:
            user = session.get_one(User, staff.id)
            payouts.set_payout_account(
                session, user, payouts.PayoutAccountIn(bank_account_id=own.id or 0), actor=SYSTEM
            )
        orgs.append((org.id or 0, staff, own))
    wait_for_jobs()
    return Market(platform, orgs, factories.user(Role.OPERATOR), factories.user(Role.OPERATOR))


def logged_in(make_client: Browser, user: User) -> TestClient:
    browser = make_client()
    assert page_login(browser, user.email).status_code == 303
    return browser


def draw_up(browser: TestClient, source: BankAccount) -> str:
    page = browser.get("/payouts")
    drawn = browser.post(
        "/payouts",
        data={"csrf_token": csrf_from(page), "source_bank_account_id": str(source.id)},
        follow_redirects=False,
    )
    assert drawn.status_code == 303, drawn.text
    return str(drawn.headers["location"])


def test_one_operator_draws_a_batch_up_a_second_approves_it_and_each_line_is_paid(
    make_client: Browser, db: Session, market: Market
) -> None:
    (first_id, _s1, first_own), (second_id, _s2, _second_own) = market.orgs
    maker = logged_in(make_client, market.maker)
    owed = maker.get("/payouts")
    assert owed.status_code == 200
    assert "300.000" in owed.text and "125.000" in owed.text and first_own.account_number in owed.text

    batch_path = draw_up(maker, market.platform)
    page = maker.get(batch_path)
    assert page.status_code == 200
    lines = db.exec(select(PayoutLine).order_by(PayoutLine.id)).all()
    assert {(line.organisation_id, line.amount_vnd) for line in lines} == {
        (first_id, 300_000),
        (second_id, 125_000),
    }
    for line in lines:
        assert line.reference in page.text and line.account_number in page.text
    assert "Vietcombank" in page.text and "BIN 970436" in page.text
    assert "/qr.svg" not in page.text and "lines.csv" not in page.text  # a draft is not paid yet
    assert "phải có người khác phê duyệt" in page.text  # the creator is told
    assert maker.get(f"{batch_path}/lines.csv").status_code == 409
    assert maker.get(f"/payouts/lines/{lines[0].id}/qr.svg").status_code == 404

    refused = maker.post(f"{batch_path}/approve", data={"csrf_token": csrf_from(page)})
    assert refused.status_code == 403 and 'role="alert"' in refused.text
    assert "Đợt chi trả phải do người khác với người lập phê duyệt." in refused.text
    db.rollback()
    assert db.exec(select(PayoutBatch)).one().status == "draft"
    assert ledger.balance(db, ledger.payable(first_id)) == -300_000

    checker = logged_in(make_client, market.checker)
    batch_page = checker.get(batch_path)
    assert "phải có người khác phê duyệt" not in batch_page.text
    approved = checker.post(f"{batch_path}/approve", data={"csrf_token": csrf_from(batch_page)})
    assert approved.status_code == 200 and "Đã phê duyệt đợt chi trả" in approved.text
    assert market.checker.full_name in approved.text and market.maker.full_name in approved.text
    db.rollback()
    assert ledger.balance(db, ledger.payable(first_id)) == 0
    assert ledger.balance(db, ledger.PAYOUTS_IN_TRANSIT) == -425_000

    for line in lines:
        qr = checker.get(f"/payouts/lines/{line.id}/qr.svg")
        assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
        assert f'src="/payouts/lines/{line.id}/qr.svg"' in approved.text
    decoded = vietqr.decode(payouts.vietqr_payload(lines[0]))
    assert (decoded.account, decoded.amount) == (lines[0].account_number, lines[0].amount_vnd)

    exported = checker.get(f"{batch_path}/lines.csv")
    assert_private_file(exported, f"payout-{batch_path.rsplit('/', 1)[1]}.csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == list(payouts.CSV_HEADER)
    assert {(row[3], row[5], row[6]) for row in rows[1:]} == {
        (line.account_number, str(line.amount_vnd), line.reference) for line in lines
    }

    sent = checker.post(f"{batch_path}/send", data={"csrf_token": csrf_from(approved)})
    assert sent.status_code == 200 and "đã gửi ngân hàng" in sent.text
    first_line, second_line = lines
    paid = maker.post(
        f"{batch_path}/settle",
        data={
            "csrf_token": csrf_from(maker.get(batch_path)),  # the maker's own form
            "line_id": str(first_line.id),
            "bank_reference": "FT26331000001",
        },
    )
    assert paid.status_code == 200 and "FT26331000001" in paid.text
    rejected = maker.post(
        f"{batch_path}/fail",
        data={"csrf_token": csrf_from(paid), "line_id": str(second_line.id), "reason": "Sai số tài khoản"},
    )
    assert rejected.status_code == 200 and "Ngân hàng từ chối" in rejected.text
    db.rollback()
    assert db.exec(select(PayoutBatch)).one().status == "settled"
    assert ledger.balance(db, ledger.PAYOUTS_IN_TRANSIT) == 0
    assert ledger.balance(db, ledger.bank(market.platform.id or 0)) == 125_000  # 425.000 in, 300.000 out
    assert ledger.balance(db, ledger.payable(second_id)) == -125_000  # still owed: back for the next batch
    actions = db.exec(
        select(AuditEntry.action, AuditEntry.actor_id).where(AuditEntry.object_type == "payout_batch")
    )
    assert {
        ("payout_batch.create", market.maker.id),
        ("payout_batch.approved", market.checker.id),
        ("payout_batch.sent", market.checker.id),
    } <= set(actions.all())


def test_bad_input_and_refused_steps_are_clear_4xx_on_the_page(
    make_client: Browser, db: Session, market: Market
) -> None:
    maker = logged_in(make_client, market.maker)
    token = csrf_from(maker.get("/payouts"))
    no_account = maker.post("/payouts", data={"csrf_token": token, "source_bank_account_id": "abc"})
    assert (
        no_account.status_code == 422
        and 'id="f-source"' in no_account.text
        and 'class="error"' in no_account.text
    )
    assert (
        maker.post("/payouts", data={"csrf_token": token, "source_bank_account_id": "999999"}).status_code
        == 404
    )
    batch_path = draw_up(maker, market.platform)
    # Everyone owed is on that draft now: a second batch would have nothing in it.
    source = {"csrf_token": token, "source_bank_account_id": str(market.platform.id)}
    nothing = maker.post("/payouts", data=source)
    assert nothing.status_code == 409 and "Không có khoản nào chờ chi trả từ tài khoản này." in nothing.text
    checker = logged_in(make_client, market.checker)
    page = checker.get(batch_path)
    assert checker.post(f"{batch_path}/approve", data={"csrf_token": csrf_from(page)}).status_code == 200
    approved = checker.get(batch_path)
    line_id = _LINE_ID.findall(approved.text)[0]
    token = csrf_from(approved)
    blank = checker.post(
        f"{batch_path}/settle", data={"csrf_token": token, "line_id": line_id, "bank_reference": ""}
    )
    assert blank.status_code == 422 and 'role="alert"' in blank.text
    again = checker.post(f"{batch_path}/approve", data={"csrf_token": token})
    assert again.status_code == 409 and "approved" in again.text
    other_line = checker.post(
        f"{batch_path}/settle", data={"csrf_token": token, "line_id": "999999", "bank_reference": "FT1"}
    )
    assert other_line.status_code == 404
    assert checker.post(f"{batch_path}/cancel", data={"csrf_token": token}).status_code == 409
    db.rollback()
    assert {line.status for line in db.exec(select(PayoutLine))} == {"pending"}


def test_approval_needs_csrf_and_a_recent_password(make_client: Browser, db: Session, market: Market) -> None:
    batch_path = draw_up(logged_in(make_client, market.maker), market.platform)
    checker = logged_in(make_client, market.checker)
    page = checker.get(batch_path)
    assert checker.post(f"{batch_path}/approve", data={"csrf_token": "forged"}).status_code == 403
    db.rollback()
    login = db.exec(select(UserSession).where(UserSession.user_id == market.checker.id)).one()
    login.reauthenticated_at = utcnow() - timedelta(days=1)
    db.add(login)
    db.commit()
    asked = checker.post(f"{batch_path}/approve", data={"csrf_token": csrf_from(page)})
    assert asked.status_code == 401 and 'action="/reauth"' in asked.text
    db.rollback()
    assert db.exec(select(PayoutBatch)).one().status == "draft"


def test_authorisation_matrix(make_client: Browser, db: Session, market: Market) -> None:
    """Operators handle the platform's batches; an organisation's staff only its own (none here);
    an officer of another organisation, a producer paid by the batch, a buyer: 404 or 403."""
    batch_path = draw_up(logged_in(make_client, market.maker), market.platform)
    batch = db.exec(select(PayoutBatch)).one()
    line = db.exec(select(PayoutLine)).first()
    assert line is not None
    _agency, officer = factories.staff(OrganisationKind.AGENCY)
    payee_staff = market.orgs[0][1]
    buyer = factories.user(Role.BUYER)
    paths = [batch_path, f"{batch_path}/lines.csv", f"/payouts/lines/{line.id}/qr.svg"]
    actions = ["approve", "send", "cancel", "settle", "fail"]
    for user, index_status, seen in (
        (officer, 200, 404),
        (payee_staff, 200, 404),
        (buyer, 403, 403),
        (market.checker, 200, None),
    ):
        browser = logged_in(make_client, user)
        index = browser.get("/payouts")
        assert index.status_code == index_status, user.email
        if index_status == 200:
            assert (f'href="{batch_path}"' in index.text) is (seen is None), user.email
            assert ("300.000" in index.text) is (user.role == Role.OPERATOR)  # the money owed: operators
        token = csrf_from(browser.get("/account"))
        if seen is None:
            continue
        for path in paths:
            assert browser.get(path).status_code == seen, (user.email, path)
        for action in actions:
            body = {
                "csrf_token": token,
                "line_id": str(line.id),
                "bank_reference": "FT1",
                "reason": "thử quyền",
            }
            assert browser.post(f"{batch_path}/{action}", data=body).status_code == seen, (user.email, action)
        source = {"csrf_token": token, "source_bank_account_id": str(market.platform.id)}
        assert browser.post("/payouts", data=source).status_code == seen, user.email
    anonymous = make_client()
    for path in ["/payouts", *paths]:
        answer = anonymous.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    db.rollback()
    assert db.get_one(PayoutBatch, batch.id).status == "draft"
    assert len(db.exec(select(PayoutBatch)).all()) == 1


def test_an_organisations_staff_pay_their_own_refund_batches_and_see_no_one_elses(
    make_client: Browser, db: Session, market: Market
) -> None:
    org_id, staff, own = market.orgs[0]
    colleague = factories.user(Role.PRODUCER, org_id)
    browser = logged_in(make_client, staff)
    page = browser.get("/payouts")
    assert own.account_number in page.text  # its own accounts to pay out of
    assert market.platform.account_number not in page.text  # never the platform's
    nothing = browser.post(
        "/payouts", data={"csrf_token": csrf_from(page), "source_bank_account_id": str(own.id)}
    )
    assert nothing.status_code == 409  # no refund waits on it
    other = factories.staff(OrganisationKind.PRODUCER)[1]
    assert logged_in(make_client, other).get("/payouts").status_code == 200
    assert logged_in(make_client, colleague).get("/payouts").status_code == 200


def test_the_batch_list_pages_newest_first_and_shows_only_the_organisations_own(
    make_client: Browser, db: Session
) -> None:
    """A page of 50 batches, newest first, then a link to the next; another organisation's
    batches never appear on any page; a page past the end is empty, not an error."""
    from web.pages.payouts import BATCHES_PER_PAGE

    org, staff = factories.staff(OrganisationKind.PRODUCER)
    other_org, _other_staff = factories.staff(OrganisationKind.PRODUCER)
    own, theirs = factories.bank_account(org.id), factories.bank_account(other_org.id)
    for index in range(BATCHES_PER_PAGE + 3):
        db.add(
            PayoutBatch(
                organisation_id=org.id,
                source_bank_account_id=own.id or 0,
                status="cancelled",
                total_vnd=1_000 + index,
                created_by_id=staff.id or 0,
            )
        )
    db.add(
        PayoutBatch(
            organisation_id=other_org.id, source_bank_account_id=theirs.id or 0, created_by_id=staff.id or 0
        )
    )
    db.commit()
    ids = sorted(b.id or 0 for b in db.exec(select(PayoutBatch).where(PayoutBatch.organisation_id == org.id)))
    foreign = db.exec(select(PayoutBatch.id).where(PayoutBatch.organisation_id == other_org.id)).one()

    browser = logged_in(make_client, staff)
    listed = [re.findall(r'href="/payouts/(\d+)"', browser.get(f"/payouts?page={n}").text) for n in (1, 2, 3)]
    first, second, third = ([int(i) for i in page] for page in listed)
    assert first == ids[::-1][:BATCHES_PER_PAGE]
    assert second == ids[::-1][BATCHES_PER_PAGE:]
    assert third == [] and foreign not in first + second
    assert 'href="?page=2"' in browser.get("/payouts").text
    assert 'href="?page=1"' in browser.get("/payouts?page=2").text
    assert 'href="?page=3"' not in browser.get("/payouts?page=2").text
    assert browser.get("/payouts?page=0").status_code == 422
    assert browser.get("/payouts?page=abc").status_code == 422


def test_refunds_by_bank_transfer_wait_on_the_payouts_page_until_a_batch_takes_them(
    client: TestClient, make_client: Browser, db: Session, market: Market
) -> None:
    """A refund by bank transfer is listed, with the payer's account and the account it will be
    paid out of, to those who draw batches on that account (operators, for the platform's) and
    to nobody else, until a batch holds it."""
    first_id, first_staff, _own = market.orgs[0]
    payment_id = db.exec(
        select(Payment.id).join(PaymentRequest).where(PaymentRequest.payee_organisation_id == first_id)
    ).one()
    asked = client.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={
            "amount_vnd": 40_000,
            "reason": "Thiếu hàng",
            "bank_bin": "970415",
            "account_number": "1010101010",
            "holder_name": "PHAM THI C",
        },
        headers={**bearer(first_staff), "Idempotency-Key": "waiting-refund-1"},
    )
    assert asked.status_code == 201, asked.text
    refund_id = asked.json()["id"]

    operator = logged_in(make_client, market.maker)
    listed = operator.get("/payouts").text
    assert 'class="waiting-refunds"' in listed and f"#{refund_id}</a>" in listed
    assert "1010101010 · PHAM THI C" in listed
    assert f'href="/payments/{payment_id}/refunds"' in listed
    # The payee's staff draw batches on their own accounts only: the platform's refund is not theirs.
    for person in (first_staff, market.orgs[1][1]):
        assert "PHAM THI C" not in logged_in(make_client, person).get("/payouts").text

    draw_up(operator, market.platform)
    after = operator.get("/payouts").text
    assert 'class="waiting-refunds"' not in after and "PHAM THI C" not in after, after
