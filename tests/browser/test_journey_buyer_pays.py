"""Journey 1: a buyer types "gao" (no diacritics) and finds "Gạo…", fills a cart from two
producers, checks out, sees the VietQR (the code itself is scanned from the page) and the
transfer details, the sandbox simulates the bank transfer, the orders show paid and the
receipt's public verification page says it is authentic."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from market.models import OrganisationKind, Role
from tests import factories
from tests.browser.support import (
    Variant,
    check_accessibility,
    choose_language,
    digits,
    login,
    read_vietqr,
    settle_jobs,
    submit,
    visit,
)


def add_to_cart(page: Page, product_name: str, quantity: int) -> None:
    """From the search results: open the product, choose the quantity, add it (lands on the cart)."""
    page.locator(".grid .card a", has_text=product_name).click()
    expect(page.locator("h1")).to_have_text(product_name)
    check_accessibility(page)
    page.locator("#f-quantity").fill(str(quantity))
    submit(page, "form.buy")
    expect(page).to_have_url(re.compile(r"/cart$"))


def search(page: Page, text: str) -> None:
    visit(page, "/products")
    page.locator("form.filters input[name=q]").fill(text)
    submit(page, "form.filters")


def test_a_buyer_pays_a_two_producer_cart_by_vietqr(page: Page, variant: Variant) -> None:
    platform = factories.platform_bank_account()
    rice_farm = factories.organisation(OrganisationKind.PRODUCER, "Hợp tác xã Gạo Thiệu Hóa")
    sticky_farm = factories.organisation(OrganisationKind.PRODUCER, "Hợp tác xã Nếp Hoằng Hóa")
    factories.product(rice_farm.id or 0, "Gạo thơm Thiệu Hóa", price_vnd=25_000, stock=50)
    factories.product(sticky_farm.id or 0, "Gạo nếp cái hoa vàng", price_vnd=40_000, stock=50)
    factories.product(sticky_farm.id or 0, "Nem chua Hạc Thành", price_vnd=5_000, category="processed")
    shopper = factories.user(Role.BUYER)

    login(page, shopper.email)
    search(page, "gao")
    expect(page.locator(".grid .card")).to_have_count(2)  # both rices, not the nem chua
    check_accessibility(page)
    add_to_cart(page, "Gạo thơm Thiệu Hóa", 2)
    page.go_back()
    page.go_back()  # back to the search results
    add_to_cart(page, "Gạo nếp cái hoa vàng", 1)

    expect(page.locator(".cart-group")).to_have_count(2)  # one group per producer
    expect(page.locator(".total")).to_contain_text(re.compile(r"90[.,]000"))
    check_accessibility(page)
    page.locator("main a.button[href='/checkout']").click()
    expect(page.locator("form[action='/checkout'] fieldset")).to_have_count(2)
    check_accessibility(page)
    page.locator("#f-contact_phone").fill("0912345678")
    submit(page, "form[method=post][action='/checkout']")

    expect(page).to_have_url(re.compile(r"/pay/\d+$"))
    check_accessibility(page)
    details = page.locator(".pay-details")
    reference = details.locator("code.reference").inner_text()
    expect(details).to_contain_text(platform.account_number)
    expect(details).to_contain_text(platform.holder_name)
    assert digits(details.locator(".price").inner_text()) == 90_000
    code = read_vietqr(page)  # what a bank app would read off the screen
    assert (code.bin, code.account, code.amount) == (platform.bank_bin, platform.account_number, 90_000)
    assert code.purpose is not None and code.purpose.startswith(reference)

    submit(page, "section.sandbox form")  # the bank reports the transfer (signed SePay webhook path)
    expect(page.locator("p.status")).to_have_class(re.compile(r"status-paid"), timeout=30_000)
    expect(page.locator("p.status")).to_have_text(variant.says("Đã thanh toán", "Paid"))
    expect(page.locator(".pay-qr")).to_have_count(0)  # a paid request shows no code to pay again
    check_accessibility(page)

    settle_jobs()  # receipts are issued by a job
    page.locator(".site-header a[href='/orders']").click()
    orders = page.locator("main table a[href^='/orders/']")
    expect(orders).to_have_count(2)  # one order per producer, both paid
    expect(page.locator("main table .status-paid")).to_have_count(2)
    check_accessibility(page)
    order_link = orders.first.get_attribute("href") or ""
    visit(page, order_link)
    expect(page.locator("h1 .status")).to_have_class(re.compile(r"status-paid"))
    receipt_link = page.locator("main a[href^='/receipts/']").first
    expect(receipt_link).to_be_visible()
    receipt_link.click()
    expect(page.locator("article.receipt")).to_contain_text(reference)
    check_accessibility(page)
    assert digits(page.locator("article.receipt tfoot .num").inner_text()) == 90_000

    # Anyone can check it: the address printed (and QR-coded) on the receipt, opened without a login.
    verify_url = page.locator(".receipt-verify a").get_attribute("href") or ""
    assert "/receipts/verify/" in verify_url
    page.context.clear_cookies()
    visit(page, urlsplit(verify_url).path)
    choose_language(page, variant)
    expect(page.locator(".verified")).to_be_visible()
    expect(page.locator("article.receipt")).to_contain_text(reference)
