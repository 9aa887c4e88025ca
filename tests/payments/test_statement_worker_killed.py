"""A worker killed (SIGKILL) in the middle of a statement import, and started again, produces
exactly what an uninterrupted import produces (PostgreSQL + Redis + a real Celery worker)."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from choso.db import session_scope
from choso.settings import get_settings
from market.models import OrganisationKind
from payments import ledger, statement_import, statements
from payments.models import BankAccount, Payment, PaymentRequest, SuspenseItem
from payments.statement_models import BankStatement, StatementLine
from tests import factories
from tests.conftest import eventually, postgres_only
from tests.payments.statement_support import camt, line, open_request
from tests.payments.test_worker_killed import start_worker

PAYING = 160  # requests paid by reference (some split in two, some over or under)
NAMES = ["Nguyễn Thị Lan", "Trần Văn Bình", "Lê Hoàng Cường", "Phạm Thu Hà", "Võ Minh Đức", "Hồ Thanh Tâm"]


def arrange(org_id: int, account: BankAccount) -> tuple[list[PaymentRequest], bytes]:
    """The same requests and the same statement for any account: only the codes differ."""
    paying = [open_request(org_id, account.id or 0, 10_000 + 1_000 * i, "Khách hàng") for i in range(PAYING)]
    named = [open_request(org_id, account.id or 0, 777_000 + i, name) for i, name in enumerate(NAMES)]
    lines = []
    for i, request in enumerate(paying):
        code, amount = request.reference_code, request.amount_vnd
        if i % 10 == 3:  # split in two transfers
            lines += [
                line(amount // 2, f"{code} dot 1", clock="08:00:00"),
                line(amount - amount // 2, f"{code} dot 2"),
            ]
        elif i % 10 == 5:
            lines.append(line(amount + 5_000, f"MBVCB.{i}.{code[:6]}-{code[6:]} thua"))
        elif i % 10 == 7:
            lines.append(line(amount - 3_000, f"{code.lower()} thieu"))
        else:
            lines.append(line(amount, f"CK {code} thanh toan"))
        if i % 25 == 0:  # a repeat of the previous line, as overlapping exports give
            last = lines[-1]
            lines.append(
                line(last.amount_vnd, last.memo, reference=last.bank_reference, clock=last.booked_time or "")
            )
    for i, name in enumerate(NAMES):
        lines.append(line(777_000 + i, f"{name} chuyen tien", name=name.upper()))
    lines += [line(-120_000, "Phí dịch vụ"), line(55_000, "tien hang khong ghi ma")]
    return [*paying, *named], camt(lines, account.account_number, opening_vnd=500_000)


def outcome(db: Session, account: BankAccount, requests: list[PaymentRequest]) -> dict[str, object]:
    """Everything the import decided and moved, with the account's own codes and ids abstracted."""
    db.rollback()
    index = {r.reference_code: i for i, r in enumerate(requests)} | {None: None}
    by_id = {r.id: i for i, r in enumerate(requests)}
    statement = db.exec(select(BankStatement).where(BankStatement.bank_account_id == account.id)).one()
    lines = db.exec(
        select(StatementLine)
        .where(StatementLine.statement_id == statement.id)
        .order_by(col(StatementLine.position))
    ).all()
    payments = {p.id: p for p in db.exec(select(Payment).where(Payment.bank_account_id == account.id))}
    rows = []
    for row in lines:
        payment = payments.get(row.payment_id)
        money = (
            (payment.amount_vnd, payment.excess_vnd, payment.status, by_id.get(payment.request_id))
            if payment
            else None
        )
        decision = (
            row.category,
            row.rule,
            row.confidence,
            index[row.reference],
            by_id.get(row.suggested_request_id),
        )
        rows.append(
            (row.position, *decision, row.duplicate_of_id is not None, row.processed_at is not None, money)
        )
    reloaded = [db.get_one(PaymentRequest, r.id, populate_existing=True) for r in requests]
    suspense = db.exec(
        select(func.count()).select_from(SuspenseItem).where(col(SuspenseItem.payment_id).in_(list(payments)))
    ).one()
    with session_scope() as session:
        balances = (
            ledger.balance(session, ledger.bank(account.id or 0)),
            ledger.balance(session, ledger.direct(account.organisation_id or 0)),
        )
    return {
        "lines": rows,
        "statement": (statement.status, statement.counts, statement.balance_difference_vnd),
        "requests": [(r.status, r.received_vnd) for r in reloaded],
        "payments": len(payments),
        "suspense": suspense,
        "balances": balances,
    }


def applied(db: Session, statement_id: int) -> int:
    db.rollback()
    return int(
        db.exec(
            select(func.count()).where(
                StatementLine.statement_id == statement_id, col(StatementLine.processed_at).isnot(None)
            )
        ).one()
    )


def status(db: Session, statement_id: int) -> str:
    db.rollback()
    return db.get_one(BankStatement, statement_id, populate_existing=True).status


@postgres_only
def test_a_killed_import_ends_exactly_as_an_uninterrupted_one(
    db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = f"{get_settings().task_queue}-statement-kill"
    monkeypatch.setattr(get_settings(), "task_queue", queue)  # only our own worker takes these jobs
    calm_org = factories.organisation(OrganisationKind.PRODUCER)
    calm_account = factories.bank_account(calm_org.id)
    calm_requests, calm_file = arrange(calm_org.id or 0, calm_account)
    killed_org = factories.organisation(OrganisationKind.PRODUCER)
    killed_account = factories.bank_account(killed_org.id)
    killed_requests, killed_file = arrange(killed_org.id or 0, killed_account)

    with session_scope() as session:  # the uninterrupted run, in this process
        calm, _ = statements.submit(
            session, None, calm_account.id, calm_file, filename="a.xml", source="cli", queue=False
        )
    assert statement_import.run_import(calm.id or 0) == "imported"

    first = start_worker(queue, f"stkill-a-{queue}@localhost", tmp_path / "worker.log")
    with session_scope() as session:
        killed, _ = statements.submit(
            session, None, killed_account.id, killed_file, filename="b.xml", source="api"
        )
    total = len(outcome(db, calm_account, calm_requests)["lines"])
    eventually(lambda: applied(db, killed.id or 0) >= 30, timeout=120, interval=0.01)
    os.killpg(first.pid, signal.SIGKILL)  # mid-way through applying the lines
    first.wait(timeout=10)
    done_at_kill = applied(db, killed.id or 0)
    assert done_at_kill < total, "the worker finished before it could be killed"
    assert status(db, killed.id or 0) == "applying"

    second = start_worker(queue, f"stkill-b-{queue}@localhost", tmp_path / "worker.log")
    try:
        with session_scope() as session:  # what the periodic job does for imports left behind
            assert statement_import.requeue_stale(session, older_than=timedelta(0)) == 1
        eventually(lambda: status(db, killed.id or 0) == "imported", timeout=180)
        time.sleep(1)  # a duplicate delivery still in flight must change nothing
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)

    assert outcome(db, killed_account, killed_requests) == outcome(db, calm_account, calm_requests)
    with session_scope() as session:
        assert ledger.check(session) == []
