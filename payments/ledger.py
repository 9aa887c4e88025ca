"""The double-entry ledger: accounts, idempotent transactions, cached balances, checks.

Rules (see also payments.posting_rules, the pure part):

* every transaction carries a unique idempotency key: the same key with the same postings
  returns the first transaction, with different postings it is a 409;
* balances are cached and changed in the same transaction as the postings: on the account's
  row for no-overdraft accounts (a conditional UPDATE, rows locked in account-id order so
  that concurrent transactions cannot deadlock); on PostgreSQL, accounts that may go negative
  add to one of a few balance slots instead (``LedgerBalanceSlot``), so that a hot account
  (suspense, clearing) does not serialise every writer on one row lock held until commit;
* a no-overdraft account that would go below zero fails the whole transaction;
* postings and transactions are immutable (database triggers); corrections are reversals.

Functions here only flush: the use case that calls them commits.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from choso.db import insert_ignore, utcnow
from choso.errors import NotFound
from choso.i18n import N_
from payments.errors import IdempotencyKeyReused, InsufficientFunds
from payments.models import (
    AccountKind,
    LedgerAccount,
    LedgerBalanceSlot,
    LedgerPosting,
    LedgerTransaction,
)
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
    """The cached balance (debits minus credits) of an account, its slots included; 0 if
    never used."""
    slots = (
        select(sa.func.coalesce(sa.func.sum(LedgerBalanceSlot.balance_vnd), 0))
        .where(LedgerBalanceSlot.account_id == LedgerAccount.id)
        .scalar_subquery()
    )
    value = session.exec(select(LedgerAccount.balance_vnd + slots).where(LedgerAccount.code == code)).first()
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

    On PostgreSQL this is one statement (``_POST_PG``); on SQLite, whose writers hold the
    database lock from BEGIN, a few: the transaction row by INSERT ... ON CONFLICT DO NOTHING,
    the postings in one statement, the balances last. The returned row is for reading (its id).
    """
    validate(postings)
    print_ = fingerprint(kind, postings)
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
    if session.get_bind().dialect.name == "postgresql":
        new_id = _post_in_one_statement(session, values, postings)
        if new_id is not None:
            return LedgerTransaction(id=new_id, **values)
        return _replay(session, key, print_)
    ids = account_ids(session, [p.account for p in postings])
    new_id = insert_ignore(
        session, LedgerTransaction, values, conflict_columns=["idempotency_key"], returning="id"
    )
    if new_id is None:
        return _replay(session, key, print_)
    session.connection().execute(
        LedgerPosting.__table__.insert(),  # type: ignore[attr-defined]
        [
            {"transaction_id": new_id, "account_id": ids[p.account], "amount_vnd": p.amount_vnd}
            for p in postings
        ],
    )
    _apply_balances(session, sorted((ids[p.account], p.amount_vnd) for p in postings))
    return LedgerTransaction(id=new_id, **values)


def _replay(session: Session, key: str, print_: str) -> LedgerTransaction:
    """The transaction already recorded under ``key``, if its content is the same."""
    existing = session.exec(select(LedgerTransaction).where(LedgerTransaction.idempotency_key == key)).first()
    if existing is None:  # pragma: no cover - the conflicting row is committed by now
        raise RuntimeError(f"ledger transaction {key!r} conflicted but cannot be found")
    if existing.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different transaction."))
    return existing


# PostgreSQL posts in one statement (one round trip while the caller's transaction is open):
#
# * nothing is written, and nothing locked, unless every account exists (the caller opens
#   the missing ones and runs it again: opening them cannot then deadlock with a writer that
#   waits for locks this statement would hold);
# * the no-overdraft accounts are locked first, in id order (the order every writer uses, so
#   writers cannot deadlock), and their balances change on their own row only if the account
#   allows it (READ COMMITTED re-checks an UPDATE's WHERE on the newest committed row);
# * the transaction row is inserted unless its key exists (a concurrent post of the same key
#   waits on the unique index, then inserts nothing), then its postings;
# * accounts that may go negative add their amounts to one balance slot each, chosen at
#   random (:slot), in account id order: no hot row that every writer locks until commit.
SLOTS = 32
_POST_PG = sa.text(
    """
WITH v AS (
    SELECT * FROM unnest(CAST(:codes AS varchar[]), CAST(:amounts AS bigint[])) AS v(code, amount)
), account AS MATERIALIZED (
    SELECT id, code, no_overdraft FROM ledger_account WHERE code = ANY(CAST(:codes AS varchar[]))
), locked AS MATERIALIZED (
    SELECT id FROM ledger_account
    WHERE code = ANY(CAST(:codes AS varchar[])) AND no_overdraft
        AND (SELECT count(*) FROM account) = :n
    ORDER BY id
    FOR NO KEY UPDATE
), tx AS (
    INSERT INTO ledger_transaction
        (idempotency_key, fingerprint, kind, memo, cause_type, cause_id, reverses_id, created_at)
    SELECT :idempotency_key, :fingerprint, :kind, :memo, :cause_type, :cause_id, :reverses_id,
        :created_at
    WHERE (SELECT count(*) FROM account) = :n
        AND (SELECT count(*) FROM locked) = (SELECT count(*) FROM account WHERE no_overdraft)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), posted AS (
    INSERT INTO ledger_posting (transaction_id, account_id, amount_vnd)
    SELECT tx.id, account.id, v.amount FROM tx CROSS JOIN v JOIN account ON account.code = v.code
), moved AS (
    UPDATE ledger_account AS a SET balance_vnd = a.balance_vnd + v.amount
    FROM tx CROSS JOIN v JOIN locked ON TRUE
    WHERE a.id = locked.id AND a.code = v.code AND (
        (a.kind IN ('asset', 'expense') AND a.balance_vnd + v.amount >= 0)
        OR (a.kind NOT IN ('asset', 'expense') AND a.balance_vnd + v.amount <= 0)
    )
    RETURNING a.id
), slotted AS (
    INSERT INTO ledger_balance_slot AS s (account_id, slot, balance_vnd)
    SELECT account.id, :slot, v.amount
    FROM tx CROSS JOIN v JOIN account ON account.code = v.code
    WHERE NOT account.no_overdraft
    ORDER BY account.id
    ON CONFLICT (account_id, slot) DO UPDATE SET balance_vnd = s.balance_vnd + excluded.balance_vnd
)
SELECT (SELECT id FROM tx), (SELECT count(*) FROM account),
    (SELECT count(*) FROM account WHERE no_overdraft) - (SELECT count(*) FROM moved)
"""
)


def _post_in_one_statement(
    session: Session, values: dict[str, object], postings: Sequence[Posting]
) -> int | None:
    """Post on PostgreSQL; the new transaction's id, or None when its key already exists."""
    codes = [p.account for p in postings]
    params = {
        **values,
        "codes": codes,
        "amounts": [p.amount_vnd for p in postings],
        "n": len(codes),
        "slot": random.randrange(SLOTS),  # noqa: S311 - spreading load, not a secret
    }
    new_id, found, refused = session.connection().execute(_POST_PG, params).one()
    if found < len(codes):  # first use of an account: open it (nothing was written or locked)
        account_ids(session, codes)
        new_id, found, refused = session.connection().execute(_POST_PG, params).one()
    if new_id is not None and refused:
        raise InsufficientFunds(N_("The account does not have enough funds for this."))
    return new_id


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
    slots = (
        select(sa.func.coalesce(sa.func.sum(LedgerBalanceSlot.balance_vnd), 0))
        .where(LedgerBalanceSlot.account_id == a.id)
        .scalar_subquery()
    )
    cached_balance = (a.balance_vnd + slots).label("cached")
    postings = (
        select(p.account_id, sa.func.sum(p.amount_vnd).label("total")).group_by(col(p.account_id)).subquery()
    )
    actual = sa.func.coalesce(postings.c.total, 0)
    mismatched = session.exec(
        select(a.code, cached_balance, actual)
        .outerjoin(postings, postings.c.account_id == a.id)
        .where(cached_balance != actual)
    ).all()
    for code, cached, total in mismatched:
        problems.append(f"account {code}: balance {cached} but its postings sum to {total}")
    trial = session.exec(select(sa.func.coalesce(sa.func.sum(a.balance_vnd), 0))).one()
    trial += session.exec(select(sa.func.coalesce(sa.func.sum(LedgerBalanceSlot.balance_vnd), 0))).one()
    if trial != 0:
        problems.append(f"trial balance is {trial}, not zero")
    for code, kind, cached in session.exec(
        select(a.code, a.kind, a.balance_vnd).where(col(a.no_overdraft).is_(True))
    ).all():
        if (cached < 0) if kind in _DEBIT_NORMAL else (cached > 0):
            problems.append(f"account {code}: overdrawn ({cached})")
    slotted = select(LedgerBalanceSlot.account_id).where(LedgerBalanceSlot.account_id == a.id).exists()
    for (code,) in session.exec(select(a.code).where(col(a.no_overdraft).is_(True), slotted)).all():
        problems.append(f"account {code}: a no-overdraft account has balance slots")
    return problems
