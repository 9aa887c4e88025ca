"""The smallest journey: a visitor finds a product by typing its name without diacritics."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from market.models import OrganisationKind
from tests import factories
from tests.browser.support import Variant, check_accessibility, visit


def test_a_visitor_finds_rice_typing_gao(page: Page, variant: Variant) -> None:
    farm = factories.organisation(OrganisationKind.PRODUCER)
    factories.product(farm.id or 0, "Gạo thơm Thiệu Hóa", price_vnd=25_000)
    factories.product(farm.id or 0, "Nem chua Hạc Thành", price_vnd=5_000, category="processed")
    visit(page, "/products")
    page.locator("form.filters input[name=q]").fill("gao")
    page.locator("form.filters button[type=submit]").click()
    cards = page.locator(".grid a", has_text="Gạo thơm Thiệu Hóa")
    expect(cards.first).to_be_visible()
    expect(page.locator(".grid")).not_to_contain_text("Nem chua")
    check_accessibility(page)
    cards.first.click()
    expect(page.locator("h1")).to_have_text("Gạo thơm Thiệu Hóa")
    expect(page.locator("html")).to_have_attribute("lang", variant.language)
    check_accessibility(page)
