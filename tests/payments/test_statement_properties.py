"""Hypothesis, through the database: for generated statements of a bank account, every line is
stored with one category, money is counted once, and importing the same transactions again (the
same file, or the same transactions in another format) changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select

from choso.db import session_scope
from market.models import OrganisationKind
from payments import ledger, statement_import, statements
from payments.models import BankAccount, Payment, PaymentRequest, SuspenseItem
from payments.recon.model import Category
from payments.statement_models import StatementLine
from tests import factories
from tests.payments.statement_support import camt, csv, line, open_request

AMOUNTS = (30_000, 45_000, 60_000, 90_000)
NAMES = ("Nguyễn Thị Lan", "Trần Văn Bình", "Lê Hoàng Cường", "Phạm Thu Hà")


@dataclass(frozen=True)
class Spec:
    """One statement line to write: what it pays (or not), and how."""

    kind: str  # pay, part, over, name, noise, out, repeat
    target: int  # which request (or which earlier line, for a repeat)
    with_reference: bool  # does the bank give a reference for it


specs = st.lists(
    st.builds(
        Spec,
        st.sampled_from(["pay", "part", "over", "name", "noise", "out", "repeat"]),
        st.integers(min_value=0, max_value=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=12,
)


def write(account: BankAccount, requests: list[PaymentRequest], plan: list[Spec]) -> list:
    lines: list = []
    for number, spec in enumerate(plan):
        request = requests[spec.target]
        reference = "auto" if spec.with_reference else None
        clock = f"{8 + number // 60:02d}:{number % 60:02d}:00"
        if spec.kind == "repeat" and lines:
            last = lines[spec.target % len(lines)]
            lines.append(
                line(last.amount_vnd, last.memo, reference=last.bank_reference, clock=last.booked_time)
            )
            continue
        amount, memo, name = {
            "pay": (request.amount_vnd, f"CK {request.reference_code}", ""),
            "part": (request.amount_vnd // 3, f"{request.reference_code} dot {number}", ""),
            "over": (request.amount_vnd + 7_000, f"{request.reference_code.lower()} thua", ""),
            "name": (request.amount_vnd, f"{NAMES[spec.target]} chuyen tien", NAMES[spec.target].upper()),
            "noise": (12_345 + number, f"tien hang so {number}", ""),
            "out": (-(5_000 + number), f"Phí {number}", ""),
            "repeat": (request.amount_vnd, f"CK {request.reference_code}", ""),
        }[spec.kind]
        lines.append(line(amount, memo, reference=reference, name=name, clock=clock))
    return lines


def snapshot(account: BankAccount, requests: list[PaymentRequest]) -> dict[str, object]:
    with session_scope() as session:
        payments = session.exec(select(Payment).where(Payment.bank_account_id == account.id)).all()
        ids = [p.id for p in payments]
        return {
            "payments": sorted((p.amount_vnd, p.excess_vnd, p.status, p.request_id) for p in payments),
            "requests": [
                (r.status, r.received_vnd) for r in (session.get_one(PaymentRequest, q.id) for q in requests)
            ],
            "transactions": session.exec(
                select(func.count()).where(
                    StatementLine.bank_account_id == account.id, col(StatementLine.dedupe_key).isnot(None)
                )
            ).one(),
            "suspense": session.exec(
                select(func.count()).select_from(SuspenseItem).where(col(SuspenseItem.payment_id).in_(ids))
            ).one(),
            "bank": ledger.balance(session, ledger.bank(account.id or 0)),
            "direct": ledger.balance(session, ledger.direct(account.organisation_id or 0)),
        }


def imported(account: BankAccount, data: bytes, name: str) -> tuple[int, bool]:
    with session_scope() as session:
        stored, new = statements.submit(
            session, None, account.id or 0, data, filename=name, source="cli", queue=False
        )
    assert statement_import.run_import(stored.id or 0) in ("imported",) or not new
    return stored.id or 0, new


def categories(statement_id: int) -> list[str]:
    with session_scope() as session:
        return list(
            session.exec(
                select(StatementLine.category)
                .where(StatementLine.statement_id == statement_id)
                .order_by(col(StatementLine.position))
            )
        )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_every_line_once_and_a_second_import_changes_nothing(plan: list[Spec]) -> None:
    org = factories.organisation(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    requests = [open_request(org.id or 0, account.id or 0, AMOUNTS[i], NAMES[i]) for i in range(4)]
    lines = write(account, requests, plan)
    as_camt = camt(lines, account.account_number)

    first, new = imported(account, as_camt, "monday.xml")
    assert new
    decided = categories(first)
    assert len(decided) == len(lines)
    valid = {c.value for c in Category} - {"missing"}
    assert all(category in valid for category in decided)
    for category, item in zip(decided, lines, strict=True):
        if item.amount_vnd < 0:
            assert category in ("outgoing", "duplicate")
    after_first = snapshot(account, requests)
    # Money is counted once: the bank account's balance is the sum of the distinct credits.
    assert after_first["bank"] == sum(
        item.amount_vnd
        for item, category in zip(lines, decided, strict=True)
        if category not in ("duplicate", "outgoing")
    )

    same, new_again = imported(account, as_camt, "monday-again.xml")
    assert (same, new_again) == (first, False)
    assert snapshot(account, requests) == after_first

    other_format, new_other = imported(account, csv(lines, account.account_number), "monday.csv")
    assert new_other
    assert set(categories(other_format)) == {"duplicate"}
    assert snapshot(account, requests) == after_first
    with session_scope() as session:
        assert ledger.check(session) == []
