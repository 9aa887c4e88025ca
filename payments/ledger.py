"""The double-entry ledger: accounts, idempotent transactions, cached balances, checks.

Rules (see also payments.posting_rules, the pure part):

* every transaction carries a unique idempotency key: the same key with the same postings
  returns the first transaction, with different postings it is a 409;
* balances are cached on the account and changed in the same transaction as the postings,
  by single conditional UPDATEs taken in account-id order (so concurrent transactions cannot
  deadlock) and last (so a hot account's row lock is held as briefly as possible);
* a no-overdraft account that would go below zero fails the whole transaction;
* postings and transactions are immutable (database triggers); corrections are reversals.

Functions here only flush: the use case that calls them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from choso.db import insert_ignore, utcnow
from choso.errors import NotFound
from choso.i18n import N_
from payments.errors import IdempotencyKeyReused, InsufficientFunds
from payments.models import AccountKind, LedgerAccount, LedgerPosting, LedgerTransaction
from payments.posting_rules import Posting, fingerprint, reversal, validate

# --- the chart of accounts --------------------------------------------------------------------

SUSPENSE = "suspense"  # money received that nobody claims yet
REFUNDS_DUE = "refunds_due"  # money received that must go back to its payer
CARD_CLEARING = "card_clearing"  # card money at the processor, not yet paid out to us
ORDER_CLEARING = "order_clearing"  # paid orders not yet completed
COMMISSION = "revenue:commission"
PAYOUTS_IN_TRANSIT = "payouts_in_transit"  # approved transfers out, not yet confirmed by the bank


def bank(bank_account_id: int) -> str:
    """A bank account Choso receives on (asset): its balance follows the bank statement."""
    return f"bank:{bank_account_id}"


def payable(organisation_id: int) -> str:
    """What the platform holds for an organisation and owes it (liability, paid out)."""
    return f"payable:{organisation_id}"


def direct(organisation_id: int) -> str:
    """Money an organisation collected straight into its own bank account (liability to it;
    never paid out, the bank account is already its own)."""
    return f"direct:{organisation_id}"


@dataclass(frozen=True)
class AccountSpec:
    name: str
    kind: AccountKind
    organisation_id: int | None = None
    no_overdraft: bool = False


def spec_for(code: str) -> AccountSpec:
    """What an account code means (accounts are opened on first use)."""
    fixed = {
        SUSPENSE: AccountSpec("Suspense: unclaimed receipts", AccountKind.LIABILITY),
        REFUNDS_DUE: AccountSpec("Refunds due to payers", AccountKind.LIABILITY, no_overdraft=True),
        CARD_CLEARING: AccountSpec("Card processor clearing", AccountKind.ASSET),
        ORDER_CLEARING: AccountSpec("Orders paid, not yet completed", AccountKind.LIABILITY),
        COMMISSION: AccountSpec("Platform commission", AccountKind.REVENUE),
        PAYOUTS_IN_TRANSIT: AccountSpec("Payouts in transit", AccountKind.LIABILITY, no_overdraft=True),
    }
    if code in fixed:
        return fixed[code]
    prefix, _, number = code.partition(":")
    if not number.isdigit():
        raise ValueError(f"unknown ledger account {code!r}")
    owner = int(number)
    if prefix == "bank":
        return AccountSpec(f"Bank account {owner}", AccountKind.ASSET)
    if prefix == "payable":
        return AccountSpec(
            f"Payable to organisation {owner}", AccountKind.LIABILITY, owner, no_overdraft=True
        )
    if prefix == "direct":
        return AccountSpec(f"Collected directly by organisation {owner}", AccountKind.LIABILITY, owner)
    raise ValueError(f"unknown ledger account {code!r}")


def account_ids(session: Session, codes: Sequence[str]) -> dict[str, int]:
    """The ids of these accounts, opening those that do not exist yet (race-safe)."""
    wanted = set(codes)
    found = dict(
        session.exec(
            select(LedgerAccount.code, LedgerAccount.id).where(col(LedgerAccount.code).in_(wanted))
        ).all()
    )
    for code in sorted(wanted - found.keys()):
        spec = spec_for(code)
        insert_ignore(
            session,
            LedgerAccount,
            {
                "code": code,
                "name": spec.name,
                "kind": spec.kind.value,
                "organisation_id": spec.organisation_id,
                "no_overdraft": spec.no_overdraft,
                "balance_vnd": 0,
            },
            conflict_columns=["code"],
        )
        found[code] = session.exec(select(LedgerAccount.id).where(LedgerAccount.code == code)).one()
    return {code: int(found[code]) for code in wanted}  # type: ignore[arg-type]


def balance(session: Session, code: str) -> int:
    """The cached balance (debits minus credits) of an account; 0 if never used."""
    value = session.exec(select(LedgerAccount.balance_vnd).where(LedgerAccount.code == code)).first()
    return int(value or 0)


# --- posting ------------------------------------------------------------------------------------


def post(
    session: Session,
    *,
    key: str,
    kind: str,
    memo: str,
    postings: Sequence[Posting],
    cause_type: str,
    cause_id: int | None = None,
    reverses_id: int | None = None,
) -> LedgerTransaction:
    """Record a balanced transaction once; a replay of ``key`` returns the first one.

    Few round trips, because a hot account's row lock is held from its UPDATE to the commit:
    the transaction row is inserted with ON CONFLICT DO NOTHING (a concurrent post of the same
    key waits on the unique index, then finds the winner's row), the postings in one
    statement, and the balances last. The returned row is for reading (its id).
    """
    validate(postings)
    print_ = fingerprint(kind, postings)
    ids = account_ids(session, [p.account for p in postings])
    values = {
        "idempotency_key": key,
        "fingerprint": print_,
        "kind": kind,
        "memo": memo[:300],
        "cause_type": cause_type,
        "cause_id": cause_id,
        "reverses_id": reverses_id,
        "created_at": utcnow(),
    }
    new_id = insert_ignore(
        session, LedgerTransaction, values, conflict_columns=["idempotency_key"], returning="id"
    )
    if new_id is None:
        existing = _by_key(session, key)
        if existing is None:  # pragma: no cover - the conflicting row is committed by now
            raise RuntimeError(f"ledger transaction {key!r} conflicted but cannot be found")
        return _same_or_conflict(existing, print_)
    session.connection().execute(
        LedgerPosting.__table__.insert(),  # type: ignore[attr-defined]
        [
            {"transaction_id": new_id, "account_id": ids[p.account], "amount_vnd": p.amount_vnd}
            for p in postings
        ],
    )
    _apply_balances(session, sorted((ids[p.account], p.amount_vnd) for p in postings))
    return LedgerTransaction(id=new_id, **values)


def _by_key(session: Session, key: str) -> LedgerTransaction | None:
    return session.exec(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)).first()


def _same_or_conflict(existing: LedgerTransaction, print_: str) -> LedgerTransaction:
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different transaction."))
    return existing


_DEBIT_NORMAL = ("asset", "expense")


def _apply_balances(session: Session, deltas: list[tuple[int, int]]) -> None:
    """Add each delta to its account's balance, lowest account id first. The WHERE clause
    refuses an overdraft atomically (no read-then-write)."""
    table = LedgerAccount.__table__  # type: ignore[attr-defined]
    new_balance = table.c.balance_vnd + sa.bindparam("delta")
    allowed = sa.or_(
        sa.not_(table.c.no_overdraft),
        sa.and_(table.c.kind.in_(_DEBIT_NORMAL), new_balance >= 0),
        sa.and_(sa.not_(table.c.kind.in_(_DEBIT_NORMAL)), new_balance <= 0),
    )
    statement = (
        table.update()
        .where(table.c.id == sa.bindparam("account_id"), allowed)
        .values(balance_vnd=new_balance)
    )
    for account_id, delta in deltas:
        result = session.connection().execute(statement, {"account_id": account_id, "delta": delta})
        if result.rowcount != 1:
            raise InsufficientFunds(N_("The account does not have enough funds for this."))


def reverse(session: Session, *, transaction_id: int, key: str, memo: str) -> LedgerTransaction:
    """A new transaction undoing ``transaction_id`` (at most once: reverses_id is unique)."""
    original = session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise NotFound(N_("No such ledger transaction."))
    rows = session.exec(
        select(LedgerAccount.code, LedgerPosting.amount_vnd)
        .join(LedgerAccount, col(LedgerAccount.id) == LedgerPosting.account_id)
        .where(LedgerPosting.transaction_id == transaction_id)
    ).all()
    return post(
        session,
        key=key,
        kind="reversal",
        memo=memo,
        postings=reversal([Posting(code, amount) for code, amount in rows]),
        cause_type="ledger_transaction",
        cause_id=transaction_id,
        reverses_id=transaction_id,
    )


# --- invariants ---------------------------------------------------------------------------------


def check(session: Session) -> list[str]:
    """Every violated invariant, described; an empty list means the ledger is sound."""
    problems: list[str] = []
    p, t, a = LedgerPosting, LedgerTransaction, LedgerAccount
    unbalanced = session.exec(
        select(t.id, sa.func.coalesce(sa.func.sum(p.amount_vnd), 0), sa.func.count(col(p.id)))
        .outerjoin(p, col(p.transaction_id) == t.id)
        .group_by(col(t.id))
        .having(sa.or_(sa.func.coalesce(sa.func.sum(p.amount_vnd), 0) != 0, sa.func.count(col(p.id)) < 2))
    ).all()
    for transaction_id, total, count in unbalanced:
        problems.append(f"transaction {transaction_id}: {count} postings summing to {total}, not zero")
    mismatched = session.exec(
        select(a.code, a.balance_vnd, sa.func.coalesce(sa.func.sum(p.amount_vnd), 0))
        .outerjoin(p, col(p.account_id) == a.id)
        .group_by(col(a.id), col(a.code), col(a.balance_vnd))
        .having(a.balance_vnd != sa.func.coalesce(sa.func.sum(p.amount_vnd), 0))
    ).all()
    for code, cached, actual in mismatched:
        problems.append(f"account {code}: balance {cached} but its postings sum to {actual}")
    trial = session.exec(select(sa.func.coalesce(sa.func.sum(a.balance_vnd), 0))).one()
    if trial != 0:
        problems.append(f"trial balance is {trial}, not zero")
    for code, kind, cached in session.exec(
        select(a.code, a.kind, a.balance_vnd).where(col(a.no_overdraft).is_(True))
    ).all():
        if (cached < 0) if kind in _DEBIT_NORMAL else (cached > 0):
            problems.append(f"account {code}: overdrawn ({cached})")
    return problems
