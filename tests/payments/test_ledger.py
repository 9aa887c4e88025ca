"""The ledger: balanced, idempotent, immutable below the application, and checkable."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from choso.db import get_engine, session_scope
from payments import ledger
from payments.errors import IdempotencyKeyReused, InsufficientFunds
from payments.models import LedgerPosting, LedgerTransaction
from payments.posting_rules import Posting, UnbalancedTransaction, transfer
from tests import factories


@pytest.fixture
def org() -> int:
    return factories.organisation().id or 0


def post(key: str, postings: list[Posting], kind: str = "test") -> int:
    with session_scope() as session:
        transaction = ledger.post(session, key=key, kind=kind, memo="t", postings=postings, cause_type="test")
        session.commit()
        return transaction.id or 0


def test_a_transfer_moves_balances_and_the_check_is_clean(org: int) -> None:
    post("k1", transfer(debit="bank:1", credit=f"payable:{org}", amount_vnd=150_000))
    with session_scope() as session:
        assert ledger.balance(session, "bank:1") == 150_000
        assert ledger.balance(session, f"payable:{org}") == -150_000
        assert ledger.check(session) == []


def test_same_key_same_postings_returns_the_first_transaction() -> None:
    first = post("k", transfer(debit="bank:1", credit="suspense", amount_vnd=5))
    again = post("k", transfer(debit="bank:1", credit="suspense", amount_vnd=5))
    assert first == again
    with session_scope() as session:
        assert ledger.balance(session, "bank:1") == 5


def test_same_key_different_postings_is_a_conflict() -> None:
    post("k", transfer(debit="bank:1", credit="suspense", amount_vnd=5))
    with pytest.raises(IdempotencyKeyReused) as error:
        post("k", transfer(debit="bank:1", credit="suspense", amount_vnd=6))
    assert error.value.status_code == 409


@pytest.mark.parametrize(
    "postings",
    [
        [Posting("bank:1", 5)],
        [Posting("bank:1", 5), Posting("suspense", -4)],
        [Posting("bank:1", 0), Posting("suspense", 0)],
        [Posting("bank:1", 5), Posting("bank:1", -5)],
        [Posting("bank:1", 5.0), Posting("suspense", -5.0)],  # type: ignore[arg-type]
    ],
)
def test_unbalanced_or_malformed_transactions_are_refused(postings: list[Posting]) -> None:
    with pytest.raises(UnbalancedTransaction):
        post("bad", postings)


def test_a_no_overdraft_account_fails_the_whole_transaction(org: int) -> None:
    post("in", transfer(debit="bank:1", credit=f"payable:{org}", amount_vnd=100))
    with pytest.raises(InsufficientFunds):
        post("out", transfer(debit=f"payable:{org}", credit="bank:1", amount_vnd=101))
    with session_scope() as session:
        assert ledger.balance(session, f"payable:{org}") == -100
        assert ledger.balance(session, "bank:1") == 100
        assert ledger.check(session) == []


def test_reversal_undoes_once() -> None:
    original = post("in", transfer(debit="bank:1", credit="suspense", amount_vnd=70))
    with session_scope() as session:
        ledger.reverse(session, transaction_id=original, key="rev", memo="mistake")
        session.commit()
        assert ledger.balance(session, "bank:1") == 0
    with session_scope() as session, pytest.raises(sa.exc.IntegrityError):
        ledger.reverse(session, transaction_id=original, key="rev-again", memo="twice")


@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
@pytest.mark.parametrize(
    ("table", "column"),
    [("ledger_posting", "amount_vnd"), ("ledger_transaction", "memo"), ("audit_log", "action")],
)
def test_history_cannot_be_changed_below_the_application(statement: str, table: str, column: str) -> None:
    post("in", transfer(debit="bank:1", credit="suspense", amount_vnd=70))
    with session_scope() as session:
        from choso import audit

        audit.record(session, audit.SYSTEM, action="x", object_type="y", object_id=1)
        session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="immutable"), get_engine().begin() as connection:
        connection.exec_driver_sql(statement.format(t=table, c=column))


def _choso(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "choso.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_ledger_check_command_finds_a_corrupted_balance(org: int) -> None:
    post("in", transfer(debit="bank:1", credit=f"payable:{org}", amount_vnd=1_000))
    clean = _choso("ledger", "check")
    assert clean.returncode == 0, clean.stderr
    assert "ok" in clean.stdout
    with get_engine().begin() as connection:  # balances are not append-only: corrupt one by hand
        connection.exec_driver_sql(
            "UPDATE ledger_account SET balance_vnd = balance_vnd + 1 WHERE code = 'bank:1'"
        )
    broken = _choso("ledger", "check")
    assert broken.returncode == 1
    assert "account bank:1: balance 1001 but its postings sum to 1000" in broken.stdout
    assert "trial balance is 1, not zero" in broken.stdout


def test_ledger_check_finds_an_unbalanced_transaction_written_around_the_app(db: Session) -> None:
    transaction_id = post("in", transfer(debit="bank:1", credit="suspense", amount_vnd=10))
    with get_engine().begin() as connection:  # inserting is allowed; this one does not balance
        account = connection.exec_driver_sql("SELECT id FROM ledger_account WHERE code = 'bank:1'").scalar()
        connection.execute(
            sa.insert(LedgerPosting.__table__).values(  # type: ignore[attr-defined]
                transaction_id=transaction_id, account_id=account, amount_vnd=3
            )
        )
    result = _choso("ledger", "check")
    assert result.returncode == 1
    assert f"transaction {transaction_id}: 3 postings summing to 3, not zero" in result.stdout
    assert db.get(LedgerTransaction, transaction_id) is not None
