"""The ledger under concurrent writers on one hot account: exact balances, no overdraft, one
transaction per key, and (on PostgreSQL) one statement per post with balance slots."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from choso.db import get_engine, session_scope
from payments import ledger
from payments.errors import IdempotencyKeyReused, InsufficientFunds
from payments.posting_rules import transfer
from tests import backend, factories

WRITERS = 8


def post(key: str, debit: str, credit: str, amount: int) -> int:
    with session_scope() as session:
        transaction = ledger.post(
            session,
            key=key,
            kind="test",
            memo="hot",
            postings=transfer(debit=debit, credit=credit, amount_vnd=amount),
            cause_type="test",
        )
        session.commit()
        return transaction.id or 0


def in_threads(work: Callable[[int], None]) -> None:
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_concurrent_writers_on_a_hot_account_keep_every_balance_exact() -> None:
    def work(index: int) -> None:
        for n in range(10):
            post(f"hot:{index}:{n}", f"bank:{index % 3 + 1}", ledger.SUSPENSE, 1_000 + index)

    in_threads(work)
    with session_scope() as session:
        expected = sum(10 * (1_000 + i) for i in range(WRITERS))
        assert ledger.balance(session, ledger.SUSPENSE) == -expected
        assert sum(ledger.balance(session, f"bank:{b}") for b in (1, 2, 3)) == expected
        assert ledger.check(session) == []


def test_concurrent_withdrawals_never_overdraw_a_no_overdraft_account() -> None:
    org = factories.organisation().id
    payable = ledger.payable(org or 0)
    post("fund", "bank:1", payable, 1_000)
    refused: list[int] = []

    def work(index: int) -> None:
        for n in range(5):
            try:
                post(f"out:{index}:{n}", payable, "bank:2", 50)
            except InsufficientFunds:
                refused.append(1)

    in_threads(work)
    assert len(refused) == WRITERS * 5 - 20  # exactly 1,000 / 50 withdrawals fit
    with session_scope() as session:
        assert ledger.balance(session, payable) == 0
        assert ledger.balance(session, "bank:2") == -1_000  # paid out of the bank
        assert ledger.check(session) == []


def test_one_key_from_many_writers_posts_once_and_a_different_content_is_a_conflict() -> None:
    ids: list[int] = []
    conflicts: list[int] = []

    def work(index: int) -> None:
        amount = 500 if index % 2 == 0 else 501
        try:
            ids.append(post("same-key", "bank:1", ledger.SUSPENSE, amount))
        except IdempotencyKeyReused as error:
            assert error.status_code == 409
            conflicts.append(index)

    in_threads(work)
    assert len(set(ids)) == 1
    assert len(ids) + len(conflicts) == WRITERS
    assert len(ids) == WRITERS // 2  # the writers with the winner's content
    with session_scope() as session:
        assert abs(ledger.balance(session, ledger.SUSPENSE)) in (500, 501)
        assert ledger.check(session) == []


postgres_only = pytest.mark.skipif(backend.BACKEND != "postgres", reason="the PostgreSQL posting path")


@postgres_only
def test_a_post_is_one_statement_and_hot_accounts_use_balance_slots() -> None:
    org = factories.organisation().id
    payable = ledger.payable(org or 0)
    post("open", "bank:1", payable, 10)
    with session_scope() as session:  # opening an account takes more statements, once
        ledger.account_ids(session, ["bank:2", "bank:3", "bank:4", ledger.SUSPENSE])
        session.commit()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(get_engine(), "before_cursor_execute", count)
    try:
        for n in range(20):
            post(f"p{n}", f"bank:{n % 4 + 1}", payable if n < 5 else ledger.SUSPENSE, 7)
    finally:
        sa.event.remove(get_engine(), "before_cursor_execute", count)
    assert len(statements) == 20
    with get_engine().connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT a.code, a.balance_vnd, count(s.slot), coalesce(sum(s.balance_vnd), 0)"
            " FROM ledger_account a LEFT JOIN ledger_balance_slot s ON s.account_id = a.id"
            " GROUP BY a.code, a.balance_vnd"
        )
        accounts = {code: (row_balance, slots, in_slots) for code, row_balance, slots, in_slots in rows}
    assert accounts[payable] == (-45, 0, 0)  # no-overdraft: on its own row, never in slots
    row_balance, slots, in_slots = accounts[ledger.SUSPENSE]
    assert (row_balance, in_slots) == (0, -105) and slots >= 1


@postgres_only
def test_the_check_finds_a_corrupted_balance_slot() -> None:
    post("in", "bank:1", ledger.SUSPENSE, 1_000)
    with get_engine().begin() as connection:  # slots are not append-only: corrupt one by hand
        connection.exec_driver_sql(
            "UPDATE ledger_balance_slot SET balance_vnd = balance_vnd + 1"
            " WHERE account_id = (SELECT id FROM ledger_account WHERE code = 'suspense')"
        )
    with session_scope() as session:
        problems = ledger.check(session)
    assert "account suspense: balance -999 but its postings sum to -1000" in problems
    assert "trial balance is 1, not zero" in problems
