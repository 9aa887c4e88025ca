"""Journey 5: a producer posts what it will have and a school kitchen what it needs, on the post
forms; an operator runs a clearing round from the rounds page; both sides open the proposal and
accept it; the order it becomes appears on the buyer's orders page, at the round's price."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlmodel import select

from choso.db import session_scope
from market.models import OrganisationKind, Role
from matching.models import MatchProposal
from tests import factories
from tests.browser.support import Variant, check_accessibility, login, settle_jobs, submit, visit
from tests.matching.market_support import days


def post(page: Page, fields: dict[str, str], selects: dict[str, str]) -> str:
    """Fill the new-post form as a person does and send it; the new post's address."""
    visit(page, "/matching/posts/new")
    for name, value in selects.items():
        page.locator(f"#f-{name}").select_option(value)
    for name, value in fields.items():
        page.locator(f"#f-{name}").fill(value)
    check_accessibility(page)
    submit(page, "form.form-page")
    expect(page).to_have_url(re.compile(r"/matching/posts/\d+$"))
    return page.url


def switch_to(page: Page, email: str) -> None:
    page.context.clear_cookies()
    login(page, email)


def test_a_round_matches_two_posts_and_both_acceptances_make_an_order(page: Page, variant: Variant) -> None:
    factories.platform_bank_account()  # the match's order is paid to the platform, as any checkout
    _farm, farmer = factories.staff(OrganisationKind.PRODUCER)
    kitchen = factories.user(Role.BUYER)
    operator = factories.user(Role.OPERATOR)
    supply_from, supply_to = days(0, 6)
    demand_from, demand_to = days(1, 3)

    login(page, farmer.email)
    post(
        page,
        {
            "title": "Rau cải ngồng vụ đông",
            "quantity": "200",
            "unit": "kg",
            "limit_price_vnd": "8000",
            "window_from": supply_from,
            "window_to": supply_to,
            "latitude": "19.80",
            "longitude": "105.77",
        },
        {"category": "vegetables", "grade": "2"},
    )

    switch_to(page, kitchen.email)
    post(
        page,
        {
            "title": "Rau cho bếp ăn trường",
            "quantity": "50",
            "unit": "kg",
            "limit_price_vnd": "12000",
            "window_from": demand_from,
            "window_to": demand_to,
            "max_distance_km": "15",
            "latitude": "19.84",
            "longitude": "105.78",
        },
        {"category": "vegetables", "grade": "1"},
    )

    switch_to(page, operator.email)
    visit(page, "/matching/rounds")
    check_accessibility(page)
    submit(page, "form[action='/matching/rounds']")
    expect(page).to_have_url(re.compile(r"/matching/rounds/\d+$"))
    expect(page.locator("main")).to_contain_text("8.000")  # the vegetables' farm-gate price
    check_accessibility(page)
    settle_jobs()  # the proposals' notifications

    with session_scope() as session:
        proposal_id = session.exec(select(MatchProposal.id)).one()
    proposal = f"/matching/proposals/{proposal_id}"
    for person in (kitchen, farmer):
        switch_to(page, person.email)
        visit(page, proposal)
        expect(page.locator("h1")).to_be_visible()
        check_accessibility(page)
        submit(page, f"form[action='{proposal}/accept']")
        expect(page).to_have_url(re.compile(rf"{proposal}$"))
    settle_jobs()

    with session_scope() as session:
        order_id = session.get_one(MatchProposal, proposal_id).order_id
    assert order_id is not None
    # The buyer sees the order on the proposal and among its orders, waiting for its payment.
    switch_to(page, kitchen.email)
    visit(page, proposal)
    expect(page.locator(f"a[href='/orders/{order_id}']")).to_have_count(1)
    visit(page, "/orders")
    expect(page.locator(f"main a[href='/orders/{order_id}']").first).to_be_visible()
    check_accessibility(page)
    page.locator(f"main a[href='/orders/{order_id}']").first.click()
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}$"))
    expect(page.locator("main")).to_contain_text("Rau cải ngồng")
    check_accessibility(page)
