"""Journey 3: an agency officer logs in (password, then the authenticator's code) and issues a
fee notice on the officer pages; a citizen without an account opens the notice's link in a
browser of their own, pays by card on localstripe's stand-in card form (the site's own card
script drives it: Stripe.js makes a token, the page sends Choso only its id), comes back to the
notice, sees it paid and downloads the e-receipt as a PDF that names the notice.

This is also the browser test of the card page's JavaScript (web/static/card.js): the real page,
the real script, Stripe.js as ``choso serve`` serves it in sandbox mode (from its localstripe),
and localstripe's own webhook to the server. Card numbers never reach Choso: every request the
citizen's browser sends to the site is recorded and none carries the card number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Request, expect
from pypdf import PdfReader

from choso import audit
from choso.db import session_scope
from fees import catalogue
from fees.schemas import ServiceIn
from market.models import User
from tests.browser.support import (
    Variant,
    check_accessibility,
    choose_language,
    login,
    settle_jobs,
    submit,
    visit,
)
from tests.fees import helpers

CARD = "4242424242424242"  # the test card that succeeds


def published_service(officer_id: int, account_id: int) -> int:
    """The agency's catalogue has one published, fixed-amount service (arranged, not journeyed)."""
    data = ServiceIn(
        code="HKD",
        name_vi="Đăng ký hộ kinh doanh",
        name_en="Household business registration",
        kind="le_phi",
        legal_basis="Thông tư 85/2019/TT-BTC",
        rule="fixed",
        amount_vnd=100_000,
        active_from=date(2020, 1, 1),
        bank_account_id=account_id,
        published=True,
    )
    with session_scope() as session:
        officer = session.get_one(User, officer_id)
        actor = audit.Actor(officer.id, officer.role, officer.organisation_id)
        return catalogue.create_service(session, officer, data, actor=actor).id or 0


def issue_notice(page: Page, service_id: int) -> tuple[str, str]:
    """On the officer pages: the notice form, filled and sent; the notice's number and link path."""
    visit(page, "/fees/notices/new")
    page.locator("#f-payer_name").fill("Nguyễn Văn Bình")
    page.locator("#f-payer_id_number").fill(helpers.CITIZEN_ID)
    page.locator("#f-payer_phone").fill("0912345678")
    page.locator("#f-dossier_number").fill("HS-2026-00042")
    page.locator("#f-service_0").select_option(str(service_id))
    page.locator("#f-quantity_0").fill("1")
    submit(page, "form[action='/fees/notices']")
    expect(page).to_have_url(re.compile(r"/fees/notices/\d+$"))
    check_accessibility(page)
    number = re.search(r"TB-\d{4}-\d{6}", page.locator("h1").inner_text())
    assert number, page.locator("h1").inner_text()
    link = page.locator("main a[href*='/fees/n/']").first.get_attribute("href") or ""
    return number.group(0), urlsplit(link).path  # the site's public address may differ from the test server's


def pay_by_card(citizen: Page, variant: Variant) -> None:
    """The card page: localstripe's stand-in card form, filled as a person types; then pay."""
    expect(citizen).to_have_url(re.compile(r"/fees/n/[A-Za-z0-9_-]+/card/\d+$"))
    form = citizen.locator("#card-element")
    number = form.locator("input[placeholder=number]")
    expect(number).to_be_visible()  # Stripe.js (the stand-in) mounted the card element
    check_accessibility(citizen)
    number.fill(CARD)
    form.locator("input[placeholder=exp_month]").fill("12")
    form.locator("input[placeholder=exp_year]").fill("31")
    form.locator("input[placeholder=cvc]").fill("123")
    form.locator("input[placeholder=postal_code]").fill("40000")
    button = citizen.locator("#card-form button[type=submit]")
    expect(button).to_have_text(re.compile(variant.says("Thanh toán", "Pay") + r" \D*100[.,]000"))
    button.click()  # card.js: token from Stripe.js → …/confirm → …/return → …/complete → the notice


def test_a_citizen_without_an_account_pays_a_fee_notice_by_card(
    page: Page, variant: Variant, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    agency = helpers.agency("Ủy ban nhân dân phường Hạc Thành")
    service_id = published_service(agency.officer.id or 0, agency.account.id or 0)

    login(page, agency.officer.email)  # agency officers answer the authenticator's code too
    notice_number, link = issue_notice(page, service_id)

    citizen = new_context().new_page()  # another person's browser: no account, no cookies
    citizen.set_default_timeout(15_000)
    sent_to_site: list[Request] = []
    citizen.on("request", lambda r: sent_to_site.append(r) if r.url.startswith(_origin(page)) else None)
    citizen.goto(link)
    choose_language(citizen, variant)
    expect(citizen.locator("h1")).to_contain_text(notice_number)
    expect(citizen.locator(".status")).to_have_text(variant.says("Chờ thanh toán", "Waiting for payment"))
    expect(citizen.locator("main")).not_to_contain_text(helpers.CITIZEN_ID)  # masked on the public page
    check_accessibility(citizen)
    submit(citizen, "section.card-option form")
    pay_by_card(citizen, variant)

    expect(citizen).to_have_url(re.compile(re.escape(link) + r"$"), timeout=30_000)
    expect(citizen.locator(".status")).to_have_text(variant.says("Đã thanh toán", "Paid"))
    expect(citizen.locator("section.card-option")).to_have_count(0)
    check_accessibility(citizen)
    receipt_link = citizen.locator("ul.receipts a[download]")
    expect(receipt_link).to_have_count(1)
    with citizen.expect_download() as downloading:
        receipt_link.click()
    download = downloading.value
    assert download.suggested_filename.startswith(f"bien-lai-{notice_number}-")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    text = "".join(sheet.extract_text() for sheet in PdfReader(saved).pages)
    assert f"Thông báo nộp phí số: {notice_number}" in text
    assert "Thẻ thanh toán" in text and "100.000" in text  # paid by card, the amount

    # Card details went to localstripe only: nothing the browser sent the site carries them.
    assert not [r.url for r in sent_to_site if CARD in (r.post_data or "") or CARD in r.url]
    assert any(r.url.endswith("/confirm") and r.method == "POST" for r in sent_to_site)  # card.js ran

    # The officer sees the notice paid, by card; the receipt's public check says it is authentic.
    settle_jobs()  # localstripe's own webhook about the same success: recorded once
    page.reload()
    expect(page.locator(".status")).to_have_text(variant.says("Đã thanh toán", "Paid"))
    verify = citizen.locator("ul.receipts a", has_text=variant.says("Kiểm tra", "Verify"))
    citizen.goto(urlsplit(verify.get_attribute("href") or "").path)  # printed with the site's public address
    expect(citizen.locator(".verified")).to_be_visible()
    expect(citizen.locator(".receipt")).to_contain_text("Nguyễn Văn Bình")
    check_accessibility(citizen)


def _origin(page: Page) -> str:
    parts = urlsplit(page.url)
    return f"{parts.scheme}://{parts.netloc}"
