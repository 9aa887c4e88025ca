"""Journey 2: a producer's paid order (arranged through the API of the real server: a cart, a
checkout with delivery, the bank's signed transfer notice) is accepted, shipped and delivered by
the producer on the order page, and confirmed by the buyer; the producer chooses its payout
account; an operator sees what the platform owes it and draws up a payout batch, is refused when
approving it himself (four eyes, with the reason on the page), and a second operator approves
it: the money goes in transit and the line's VietQR (scanned from the page) pays the producer's
account the amount owed."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from choso.db import session_scope
from market.models import OrganisationKind, Role, User
from payments import ledger
from tests import factories
from tests.browser.support import (
    Variant,
    check_accessibility,
    digits,
    login,
    read_vietqr,
    settle_jobs,
    submit,
    visit,
)
from tests.payments.helpers import SEPAY, bearer, notice, sepay_body
from tests.support import WARD_HAC_THANH

PRICE, QUANTITY, DELIVERY_FEE = 85_000, 2, 20_000


def paid_order(page: Page, producer_id: int, buyer: User, platform_account: str) -> int:
    """Arranged through the server's JSON API (no browser): the buyer's cart, a checkout with
    delivery, and the bank's signed notice of the transfer. The order's id, once paid."""
    product = factories.product(producer_id, "Nem chua Hạc Thành", price_vnd=PRICE, stock=20)
    headers = bearer(buyer)
    added = page.request.post(
        "/api/v1/cart/items", headers=headers, data={"product_id": product.id, "quantity": QUANTITY}
    )
    assert added.ok, added.text()
    checkout = page.request.post(
        "/api/v1/checkout",
        headers={**headers, "Idempotency-Key": secrets.token_hex(12)},
        data={
            "expected_total_vnd": PRICE * QUANTITY + DELIVERY_FEE,
            "methods": {str(producer_id): "delivery"},
            "address": {"ward_code": WARD_HAC_THANH, "street": "12 Lê Hoàn"},
            "contact_phone": "0912345678",
        },
    )
    assert checkout.status == 201, checkout.text()
    body = checkout.json()
    request = body["payment_request"]
    transfer = sepay_body(
        notice(platform_account, request["amount_vnd"], f"{request['reference_code']} thanh toan")
    )
    headers = SEPAY.signed_headers(transfer, datetime.now(UTC))
    answer = page.request.post(
        "/webhooks/sepay", data=transfer, headers={**headers, "Content-Type": "application/json"}
    )
    assert answer.ok, answer.text()
    settle_jobs()
    return int(body["orders"][0]["id"])


def act_on_order(page: Page, order_id: int, action: str, note: str = "") -> None:
    form = f"form[action='/orders/{order_id}/{action}']"
    if note:
        page.locator(f"{form} input[name=note]").fill(note)
    submit(page, form)
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}$"))
    expect(page.locator("[role=alert], p.error")).to_have_count(0)


def log_out(page: Page) -> None:
    submit(page, "form[action='/logout']")


def test_an_order_is_fulfilled_and_its_payout_is_approved_by_a_second_operator(
    page: Page, variant: Variant
) -> None:
    platform = factories.platform_bank_account()
    farm, owner = factories.staff(OrganisationKind.PRODUCER)
    factories.delivery_option(farm.id or 0, DELIVERY_FEE)
    own_account = factories.bank_account(farm.id)
    buyer = factories.user(Role.BUYER)
    maker, checker = factories.user(Role.OPERATOR), factories.user(Role.OPERATOR)
    order_id = paid_order(page, farm.id or 0, buyer, platform.account_number)

    # The producer: its payout account, then the order accepted, shipped and delivered.
    login(page, owner.email)
    visit(page, "/account/payout-account")
    page.locator("#bank_account_id").select_option(str(own_account.id))
    submit(page, "form[action='/account/payout-account']")
    expect(page.locator("main")).to_contain_text(own_account.account_number)
    visit(page, f"/orders/{order_id}")
    expect(page.locator("h1 .status")).to_have_class(re.compile(r"status-paid"))
    act_on_order(page, order_id, "accept")
    act_on_order(page, order_id, "ship", note="Viettel Post VTP123456789")
    expect(page.locator("main")).to_contain_text("VTP123456789")
    act_on_order(page, order_id, "deliver")
    check_accessibility(page)
    log_out(page)

    # The buyer confirms: the order completes and the platform now owes the producer its sale.
    login(page, buyer.email)
    visit(page, f"/orders/{order_id}")
    act_on_order(page, order_id, "confirm")
    expect(page.locator("h1 .status")).to_have_class(re.compile(r"status-completed"))
    log_out(page)
    settle_jobs()
    with session_scope() as session:
        owed = -ledger.balance(session, ledger.payable(farm.id or 0))
    assert owed == PRICE * QUANTITY + DELIVERY_FEE  # no commission set in the tests

    # The first operator draws up the batch, and cannot approve it himself.
    login(page, maker.email)
    visit(page, "/payouts")
    row = page.locator("table.owed tbody tr", has_text=farm.name)
    expect(row).to_contain_text(own_account.account_number)
    assert digits(row.locator("td.num").inner_text()) == owed
    page.locator("#f-source").select_option(str(platform.id))
    submit(page, "form[action='/payouts']")
    expect(page).to_have_url(re.compile(r"/payouts/\d+$"))
    batch_path = page.url[page.url.index("/payouts/") :]
    check_accessibility(page)
    line = page.locator("article.payout-line", has_text=farm.name)
    expect(line).to_contain_text(own_account.account_number)
    expect(line).to_contain_text("970436")
    expect(line.locator("code.reference")).to_have_text(re.compile(r"^CHOSOPO\d+$"))
    reference = line.locator("code.reference").inner_text()
    submit(page, f"form[action='{batch_path}/approve']")
    expect(page.locator("main [role=alert]")).to_have_text(
        variant.says(
            "Đợt chi trả phải do người khác với người lập phê duyệt.",
            "Someone other than the person who drew up this batch must approve it.",
        )
    )
    expect(page.locator("p.status")).to_have_class(re.compile(r"status-draft"))
    check_accessibility(page)
    log_out(page)

    # The second operator approves it: the line can now be paid, by its VietQR or the CSV.
    login(page, checker.email)
    visit(page, batch_path)
    submit(page, f"form[action='{batch_path}/approve']")
    expect(page.locator("p.status")).to_have_class(re.compile(r"status-approved"))
    expect(page.locator("main .notice[role=status]")).to_be_visible()
    expect(page.locator("main")).to_contain_text(checker.full_name)
    check_accessibility(page)
    code = read_vietqr(page, "article.payout-line .pay-qr img")
    assert (code.bin, code.account, code.amount) == ("970436", own_account.account_number, owed)
    assert code.purpose is not None and code.purpose.startswith(reference)
    csv_link = page.locator(f"main a[href='{batch_path}/lines.csv']")
    expect(csv_link).to_be_visible()
    with page.expect_download() as download:
        csv_link.click()
    assert reference in download.value.path().read_text(encoding="utf-8-sig")
    with session_scope() as session:
        assert ledger.balance(session, ledger.payable(farm.id or 0)) == 0
        assert ledger.balance(session, ledger.PAYOUTS_IN_TRANSIT) == -owed


def test_the_payee_refunds_part_of_a_transfer_from_the_payments_page(page: Page, variant: Variant) -> None:
    """The refund form as staff use it: from the pay page's payment to its refunds, part of the
    amount back to the payer's bank account, and the refund listed, held, waiting for a batch."""
    farm, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(farm.id)
    payer = factories.user(Role.BUYER)
    request = factories.payment_request(farm.id or 0, account.id or 0, 120_000, payer_user_id=payer.id)
    transfer = sepay_body(notice(account.account_number, 120_000, request.reference_code))
    headers = SEPAY.signed_headers(transfer, datetime.now(UTC))
    answer = page.request.post(
        "/webhooks/sepay", data=transfer, headers={**headers, "Content-Type": "application/json"}
    )
    assert answer.ok, answer.text()
    settle_jobs()

    login(page, owner.email)
    visit(page, f"/pay/{request.id}")
    page.locator("main a[href$='/refunds']").first.click()
    expect(page).to_have_url(re.compile(r"/payments/\d+/refunds$"))
    check_accessibility(page)
    page.locator("#f-amount_vnd").fill("45.000")
    page.locator("#f-reason").fill("Thiếu một hộp nem")
    page.locator("#f-bank_bin").select_option("970415")
    page.locator("#f-account_number").fill("1012 3456 789")
    page.locator("#f-holder_name").fill("NGUYEN THI LAN")
    submit(page, "form[action$='/refunds']")
    expect(page.locator("main .notice[role=status]")).to_be_visible()
    row = page.locator("table.refunds tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Thiếu một hộp nem")
    expect(row.locator(".status")).to_have_text(variant.says("Chờ gửi đi", "Waiting to be sent"))
    assert digits(row.locator("td.num").inner_text()) == 45_000
    check_accessibility(page)
    with session_scope() as session:
        assert ledger.balance(session, ledger.REFUNDS_DUE) == -45_000  # held for the payer at once
