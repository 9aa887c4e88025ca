"""Journey 4: an operator imports a bank statement whose credit nobody claims; the import puts
it in suspense, the control room shows it waiting; the operator assigns it to the request the
payer meant, and the control room's figures go back."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from market.models import OrganisationKind, Role
from tests import factories
from tests.browser.support import Variant, check_accessibility, digits, login, settle_jobs, submit, visit
from tests.payments.statement_support import csv, line, open_request

SUSPENSE_TILE = "a.tile[href='/operator/suspense'] strong"
EXCEPTIONS_TILE = "a.tile[href='/reconciliation'] strong"


def control_room(page: Page) -> tuple[int, int]:
    """The suspense balance and the reconciliation exceptions waiting, as the dashboard shows them."""
    visit(page, "/operator/dashboard")
    return digits(page.locator(SUSPENSE_TILE).inner_text()), digits(
        page.locator(EXCEPTIONS_TILE).inner_text()
    )


def test_an_operator_resolves_an_unclaimed_transfer_from_a_statement(page: Page, variant: Variant) -> None:
    coop, _owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(coop.id)
    binh = open_request(coop.id or 0, account.id or 0, 175_000, "Trần Văn Bình")
    operator = factories.user(Role.OPERATOR)
    # The payer forgot the reference code; the bank's statement is all that tells of the money.
    statement = csv([line(175_000, "chuyen tien thang 11", name="TRAN THI MAI")], account.account_number)

    login(page, operator.email)
    assert control_room(page) == (0, 0)

    page.locator(".site-header a[href='/operator']").click()
    visit(page, "/reconciliation")
    page.locator(f"main a[href='/reconciliation/accounts/{account.id}']").first.click()
    expect(page.locator("h1")).to_contain_text(account.account_number)
    check_accessibility(page)
    page.locator("#f-file").set_input_files(
        files=[{"name": "sao-ke-thang-11.csv", "mimeType": "text/csv", "buffer": statement}]
    )
    submit(page, "form[enctype='multipart/form-data']")
    expect(page).to_have_url(re.compile(r"/reconciliation/statements/\d+\?uploaded=1$"))
    settle_jobs()  # the import runs as a job
    page.reload()
    expect(page.locator("table.statement-lines tbody tr")).to_have_count(1)
    expect(page.locator("table.statement-lines")).to_contain_text("chuyen tien thang 11")
    check_accessibility(page)

    assert control_room(page) == (175_000, 1)  # the money waits for a person
    page.locator("a.tile[href='/operator/suspense']").click()
    item = page.locator("article.suspense-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("chuyen tien thang 11")
    check_accessibility(page)
    # The payer called: it was Bình's order. The operator types its reference code.
    item.locator("input[name=target]").fill(binh.reference_code)
    item.locator("form[action$='/assign'] input[name=note]").fill(
        "Chị Mai chuyển hộ anh Bình (gọi điện 26/11)"
    )
    submit(page, "article.suspense-item form[action$='/assign']")
    expect(page.locator("p.notice[role=status]")).to_have_text(
        variant.says("Đã gán khoản tiền cho yêu cầu thanh toán.", "The payment was assigned to the request.")
    )
    expect(page.locator("article.suspense-item")).to_have_count(0)  # nothing left to resolve
    check_accessibility(page)

    assert control_room(page) == (0, 0)
    received = page.locator("a.tile[href^='/operator/dashboard/lists/payments'] strong")
    assert digits(received.inner_text()) == 175_000  # now counted as money received
    visit(page, f"/pay/{binh.id}")
    expect(page.locator("p.status")).to_have_class(re.compile(r"status-paid"))
