"""The nightly reconciliation report per bank account and day: matched, exceptions (the review
queue, notifications the statement does not confirm), the balance difference; shown and alerted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import jobs
from choso.db import session_scope
from choso.settings import get_settings
from market.models import Notification, OrganisationKind, Role
from payments import recon_reports
from payments.statement_import import local_today
from payments.statement_models import ReconciliationReport
from tests import factories
from tests.conftest import wait_for_jobs
from tests.payments.helpers import bearer, notice, post_sepay, sepay_body
from tests.payments.statement_support import camt, line, open_request, upload
from tests.support import page_login


def test_the_daily_report_counts_matches_exceptions_and_the_balance_difference(
    client: TestClient, make_client: object, db: Session
) -> None:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    operator = factories.user(Role.OPERATOR)
    _other_org, stranger = factories.staff(OrganisationKind.PRODUCER)
    confirmed = open_request(org.id, account.id, 100_000, "Nguyễn Thị Lan")
    unconfirmed = open_request(org.id, account.id, 40_000, "Lê Văn Nam")
    on_statement = notice(account.account_number, 100_000, confirmed.reference_code, external_id="91000001")
    only_notified = notice(account.account_number, 40_000, unconfirmed.reference_code, external_id="91000002")
    only_notified = replace(only_notified, bank_reference="FT26330999999")
    for item in (on_statement, only_notified):
        assert post_sepay(client, sepay_body(item)).status_code == 200
    wait_for_jobs()
    lines = [
        line(100_000, confirmed.reference_code, reference=on_statement.bank_reference),
        line(33_000, "tien hang khong ro"),
    ]
    assert (
        upload(
            client, owner, account.id, camt(lines, account.account_number, extra_closing_vnd=7_000)
        ).status_code
        == 202
    )
    wait_for_jobs()

    today = local_today()
    with session_scope() as session:
        recon_reports.reconcile_previous_day(session, day=today)
    wait_for_jobs()
    db.rollback()
    report = db.exec(
        select(ReconciliationReport).where(ReconciliationReport.bank_account_id == account.id)
    ).one()
    assert (report.day, report.matched, report.received_vnd) == (today, 2, 173_000)
    assert report.details["suspense"] == 1 and report.details["unconfirmed"] == 1
    assert report.exceptions == 2
    # The bank's closing balance has 7.000 ₫ more than the ledger, and 40.000 ₫ less (the
    # notification it does not confirm).
    assert report.balance_difference_vnd == 7_000 - 40_000
    alerted = {
        n.user_id for n in db.exec(select(Notification).where(Notification.kind == "reconciliation_report"))
    }
    assert {owner.id, operator.id} <= alerted and stranger.id not in alerted

    with session_scope() as session:  # the hourly re-run rewrites the same row and alerts no more
        recon_reports.reconcile_previous_day(session, day=today)
    wait_for_jobs()
    db.rollback()
    assert (
        len(
            db.exec(
                select(ReconciliationReport).where(ReconciliationReport.bank_account_id == account.id)
            ).all()
        )
        == 1
    )
    assert (
        len(
            db.exec(
                select(Notification).where(
                    Notification.kind == "reconciliation_report", Notification.user_id == owner.id
                )
            ).all()
        )
        == 1
    )

    shown = client.get(f"/api/v1/bank-accounts/{account.id}/reconciliation-reports", headers=bearer(owner))
    assert shown.status_code == 200 and shown.json()[0]["exceptions"] == 2
    assert (
        client.get(
            f"/api/v1/bank-accounts/{account.id}/reconciliation-reports", headers=bearer(stranger)
        ).status_code
        == 404
    )
    browser = make_client()  # type: ignore[operator]
    assert page_login(browser, owner.email).status_code == 303
    page = browser.get(f"/reconciliation/accounts/{account.id}")
    assert today.strftime("%d/%m/%Y") in page.text and "-33.000" in page.text.replace("\xa0", " ")


def test_a_quiet_day_has_a_report_without_alerts(db: Session) -> None:
    org, _owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    factories.user(Role.OPERATOR)
    yesterday = local_today() - timedelta(days=1)
    with session_scope() as session:
        recon_reports.reconcile_previous_day(session)
    wait_for_jobs()
    db.rollback()
    report = db.exec(
        select(ReconciliationReport).where(ReconciliationReport.bank_account_id == account.id)
    ).one()
    assert (report.day, report.matched, report.exceptions, report.balance_difference_vnd) == (
        yesterday,
        0,
        0,
        None,
    )
    assert db.exec(select(Notification).where(Notification.kind == "reconciliation_report")).first() is None


def test_the_nightly_job_is_on_the_beat_schedule() -> None:
    schedule = jobs.beat_schedule(get_settings())
    assert schedule["reconcile-previous-day"]["task"] == "payments.reconcile_previous_day"
    assert schedule["scan-statement-inbox"]["task"] == "payments.scan_statement_inbox"
    assert jobs.task_by_name("payments.import_statement").name == "payments.import_statement"
