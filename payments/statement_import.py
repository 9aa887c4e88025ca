"""Importing a stored bank statement: decide every line once, apply the lines, compare balances.

The job ``payments.import_statement`` runs :func:`run_import` in three phases:

1. **decide**, in one transaction with the bank account locked: read the file, recognise the
   lines already stored (their bank transaction's dedupe key) and the transfers already
   recorded from another source (a webhook: same bank reference and amount), run the pure
   matcher against the account's open payment requests, and store every line with its
   decision. A job killed here stores nothing; run again, it decides the same.
2. **apply**, one transaction per line, each line once (``processed_at``): credits go through
   :func:`payments.requests.apply_incoming_payment` exactly like a webhook payment — with the
   matched reference code, or without one (suspense: the review queue shared with webhooks,
   where a suggestion waits for a person). The same bank transaction already recorded by a
   webhook comes back as that payment: one payment, linked to both sources. A credit that
   settles a request no webhook reported is how a lost webhook is caught. Money out may
   confirm a payout line; duplicates are only recorded.
3. **finish**: count, compare the statement's closing balance with the ledger's balance of the
   bank account at the end of the statement's last day (payments counted by when the bank
   received them), and alert operators and the account's organisation when lines need a
   person or the balances differ.
"""

from __future__ import annotations

import hashlib
import json
import re
import time as time_module
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from choso.db import lock_rows, session_scope, utcnow
from choso.errors import DomainError
from choso.i18n import format_vnd
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from market.models import Role, User
from payments import ledger, requests, transfer_twins
from payments.models import (
    BankAccount,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Payment,
    PaymentRequest,
    RequestStatus,
)
from payments.recon import model as recon
from payments.recon.errors import StatementError
from payments.recon.formats import read_statement
from payments.recon.matcher import ExpectedBook, reconcile
from payments.reference import find_references
from payments.statement_models import BankStatement, StatementLine, StatementStatus
from payments.statements import IMPORT_TASK

PROVIDER = "statement"  # Payment.provider of the payments a statement line records
RECORDED = "recorded"  # the rule of a line whose transfer a webhook had already recorded
HELD = "ambiguous_transfer"  # the rule of a line that may repeat one of several webhook payments
CREDIT_CATEGORIES = frozenset({"matched", "underpaid", "overpaid"})
REVIEW_CATEGORIES = frozenset({"suggested", "unmatched"})
_CHUNK = 500  # ids or keys per IN (...) list
APPLY_BATCH = 50  # statement lines applied per transaction, at most ...
APPLY_SECONDS = 0.25  # ... and for about this long
STALE_AFTER = timedelta(minutes=2)  # an import not heard of for this long is queued again


# --- the import job -----------------------------------------------------------------------------


def run_import(statement_id: int) -> str:
    """The job: decide, apply, finish, each phase in its own unit(s) of work. Idempotent, and
    safe to run again after a kill at any point (or twice at once)."""
    with session_scope() as session:
        state = decide(session, statement_id)
    if state not in ("decided", StatementStatus.APPLYING):
        return str(state)
    with session_scope() as session:
        apply_pending(session, statement_id)
    with session_scope() as session:
        return finish(session, statement_id)


def requeue_stale(session: Session, *, older_than: timedelta = STALE_AFTER) -> int:
    """Queue again the imports not heard of for a while (a worker killed mid-way, a job lost by
    the broker); harmless for one merely slow, since every phase skips what is done. Commits."""
    stale = session.exec(
        select(BankStatement.id)
        .where(
            col(BankStatement.status).in_([StatementStatus.QUEUED, StatementStatus.APPLYING]),
            col(BankStatement.updated_at) <= utcnow() - older_than,
        )
        .order_by(col(BankStatement.id))
        .limit(100)
    ).all()
    for statement_id in stale:
        enqueue_after_commit(session, IMPORT_TASK, statement_id=statement_id)
    session.commit()
    return len(stale)


# --- phase 1: decide ----------------------------------------------------------------------------


def decide(session: Session, statement_id: int) -> str:
    """Read the file and store every line with its decision, in one transaction (commits)."""
    first = session.get(BankStatement, statement_id)
    if first is None:
        return "missing"
    lock_rows(session, BankAccount, [first.bank_account_id])  # one import of an account at a time
    statement = session.get_one(BankStatement, statement_id, populate_existing=True)
    if statement.status != StatementStatus.QUEUED:
        session.commit()
        return statement.status
    account = session.get_one(BankAccount, statement.bank_account_id)
    try:
        parsed = _read(statement, account)
    except StatementError as error:
        return _fail(session, statement, str(error))
    lines = parsed.lines
    for line in lines:
        line.account = ""  # the key is scoped by bank account in the table already
    keys = [_digest(line.dedup_key()) for line in lines]
    stored = _stored_keys(session, account.id or 0, keys)
    recorded = _recorded_payments(session, account.id or 0, lines, keys, stored)
    rest = [index for index in range(len(lines)) if index not in recorded]
    seen = _Seen({lines[i].dedup_key(): keys[i] for i in range(len(lines))}, set(stored))
    seen.hashes.update(keys[i] for i in recorded)
    book, request_ids = _expected(session, account.id or 0)
    result = reconcile([lines[i] for i in rest], book, seen=seen)
    decisions = dict(zip(rest, result.lines, strict=True))
    _store_lines(session, statement, lines, keys, stored, recorded, decisions, request_ids)
    _describe(statement, parsed)
    statement.status = StatementStatus.APPLYING
    statement.updated_at = utcnow()
    session.add(statement)
    session.commit()
    return "decided"


def _read(statement: BankStatement, account: BankAccount) -> recon.Statement:
    try:
        parsed = read_statement(statement.content, statement.requested_format)
    except StatementError:
        raise
    except Exception as error:
        raise StatementError(str(error)[:300] or type(error).__name__) from None
    if parsed.currency.upper() not in ("VND", ""):
        raise StatementError(f"the statement is in {parsed.currency}, not VND")
    digits = re.sub(r"\D", "", parsed.account)
    if digits and account.account_number not in digits:
        raise StatementError(f"the statement is of account {parsed.account}, not {account.account_number}")
    if not parsed.lines:
        raise StatementError("the statement has no transactions")
    return parsed


def _fail(session: Session, statement: BankStatement, reason: str) -> str:
    statement.status = StatementStatus.FAILED
    statement.error = reason[:500]
    statement.updated_at = utcnow()
    session.add(statement)
    session.commit()
    return StatementStatus.FAILED


def _digest(key: tuple[object, ...]) -> str:
    text = json.dumps(list(key), default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class _Seen(Collection[object]):
    """The ``seen`` of the matcher: a line's dedupe key is seen if its digest is stored."""

    def __init__(self, digests: dict[tuple[object, ...], str], hashes: set[str]) -> None:
        self.digests = digests
        self.hashes = hashes

    def __contains__(self, key: object) -> bool:
        return self.digests.get(key) in self.hashes  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[object]:
        return (key for key, digest in self.digests.items() if digest in self.hashes)

    def __len__(self) -> int:
        return len(self.hashes)


def _chunks(values: Iterable[object]) -> Iterator[list[object]]:
    values = list(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _stored_keys(session: Session, account_id: int, keys: list[str]) -> dict[str, int]:
    """Digest → line id, for the bank transactions of this file that are stored already."""
    found: dict[str, int] = {}
    for chunk in _chunks(set(keys)):
        rows = session.exec(
            select(StatementLine.dedupe_key, StatementLine.id).where(
                StatementLine.bank_account_id == account_id, col(StatementLine.dedupe_key).in_(chunk)
            )
        )
        found.update({key: line_id for key, line_id in rows if key and line_id})
    return found


def _expected(session: Session, account_id: int) -> tuple[ExpectedBook, dict[str, int]]:
    """What the account's open payment requests still expect, and their ids by reference."""
    zone = _zone()
    rows = session.exec(
        select(
            PaymentRequest.id,
            PaymentRequest.reference_code,
            PaymentRequest.amount_vnd,
            PaymentRequest.received_vnd,
            PaymentRequest.payer_name,
            PaymentRequest.expires_at,
        ).where(PaymentRequest.bank_account_id == account_id, PaymentRequest.status == RequestStatus.OPEN)
    ).all()
    expected = [
        recon.ExpectedPayment(code, amount - received, name or "", expires.astimezone(zone).date())
        for _id, code, amount, received, name, expires in rows
        if amount > received
    ]
    return ExpectedBook(expected), {code: request_id or 0 for request_id, code, *_ in rows}


# --- transfers already recorded by a webhook ----------------------------------------------------


def _recorded_payments(
    session: Session,
    account_id: int,
    lines: list[recon.StatementLine],
    keys: list[str],
    stored: dict[str, int],
) -> dict[int, Payment | None]:
    """Line index → the payment another source (a webhook) already recorded for that transfer,
    or None when several could be it (the line is held for a person).

    The same bank reference and amount decide; otherwise the rule of payments.transfer_twins
    (same amount and day, references that do not contradict, a common code in the memos).
    Each payment serves one line."""
    firsts: list[int] = []
    seen_keys: set[str] = set()
    for index, line in enumerate(lines):
        if line.amount_vnd > 0 and keys[index] not in stored and keys[index] not in seen_keys:
            firsts.append(index)
        seen_keys.add(keys[index])
    if not firsts:
        return {}
    by_reference = _payments_by_reference(session, account_id, [lines[i] for i in firsts])
    candidates = _feed_payments(session, account_id, [lines[i] for i in firsts])
    linked = _linked_payment_ids(session, [p.id or 0 for p in [*by_reference.values(), *candidates]])
    by_day: dict[tuple[int, date], list[Payment]] = {}
    for candidate in candidates:
        day = transfer_twins.local_day(candidate.received_at)
        by_day.setdefault((candidate.amount_vnd, day), []).append(candidate)
    found: dict[int, Payment | None] = {}
    for index in firsts:
        line = lines[index]
        reference = line.bank_reference
        payment = by_reference.get((reference[:100], line.amount_vnd)) if reference else None
        if payment is None or payment.id in linked:
            bucket = by_day.get((line.amount_vnd, line.booked_on), [])
            twin = transfer_twins.choose(_report(account_id, line), bucket, linked)
            if twin.ambiguous:
                found[index] = None
                continue
            payment = twin.payment
        if payment is not None and payment.id not in linked:
            linked.add(payment.id or 0)
            found[index] = payment
    return found


def _report(account_id: int, line: recon.StatementLine) -> transfer_twins.Report:
    return transfer_twins.Report(
        account_id, line.amount_vnd, line.booked_on, line.memo, (line.bank_reference or "")[:100]
    )


def _payments_by_reference(
    session: Session, account_id: int, lines: list[recon.StatementLine]
) -> dict[tuple[str, int], Payment]:
    references = {line.bank_reference[:100] for line in lines if line.bank_reference}
    found: dict[tuple[str, int], Payment] = {}
    for chunk in _chunks(references):
        rows = session.exec(
            select(Payment)
            .where(Payment.bank_account_id == account_id, col(Payment.bank_reference).in_(chunk))
            .order_by(col(Payment.id))
        )
        for payment in rows:
            found.setdefault((payment.bank_reference, payment.amount_vnd), payment)
    return found


def _feed_payments(session: Session, account_id: int, lines: list[recon.StatementLine]) -> list[Payment]:
    """Payments recorded by other sources on the lines' days with one of their amounts."""
    start = _local_start(min(line.booked_on for line in lines))
    end = _local_start(max(line.booked_on for line in lines) + timedelta(days=1))
    amounts = sorted({line.amount_vnd for line in lines})
    found: list[Payment] = []
    for chunk in _chunks(amounts):
        found.extend(
            session.exec(
                select(Payment).where(
                    Payment.bank_account_id == account_id,
                    Payment.provider != PROVIDER,
                    col(Payment.amount_vnd).in_(chunk),
                    col(Payment.received_at) >= start,
                    col(Payment.received_at) < end,
                )
            )
        )
    return sorted(found, key=lambda payment: payment.id or 0)


def _linked_payment_ids(session: Session, payment_ids: list[int]) -> set[int]:
    linked: set[int] = set()
    for chunk in _chunks(set(payment_ids)):
        rows = session.exec(select(StatementLine.payment_id).where(col(StatementLine.payment_id).in_(chunk)))
        linked.update(payment_id for payment_id in rows if payment_id)
    return linked


# --- storing the decisions ----------------------------------------------------------------------


def _store_lines(
    session: Session,
    statement: BankStatement,
    lines: list[recon.StatementLine],
    keys: list[str],
    stored: dict[str, int],
    recorded: dict[int, Payment | None],
    decisions: dict[int, recon.LineResult],
    request_ids: dict[str, int],
) -> None:
    """Insert the new bank transactions first, then the lines repeating one (pointing at it)."""
    now = utcnow()
    new_rows, repeats = [], []
    for index, line in enumerate(lines):
        row = _row(statement, line, now)
        if index in recorded:
            payment = recorded[index]
            decision_ = _held_decision() if payment is None else _recorded_decision(session, payment, now)
            row.update(decision_, dedupe_key=keys[index])
            new_rows.append(row)
            continue
        decision = decisions[index]
        row.update(_decision(decision, request_ids, now))
        if decision.category == recon.Category.DUPLICATE:
            repeats.append((row, keys[index]))
        else:
            row["dedupe_key"] = keys[index]
            new_rows.append(row)
    table = StatementLine.__table__  # type: ignore[attr-defined]
    if new_rows:
        session.connection().execute(sa.insert(table), new_rows)
    if repeats:
        ids = {**_stored_keys(session, statement.bank_account_id, [key for _, key in repeats]), **stored}
        for row, key in repeats:
            row["duplicate_of_id"] = ids.get(key)
        session.connection().execute(sa.insert(table), [row for row, _ in repeats])


def _row(statement: BankStatement, line: recon.StatementLine, now: datetime) -> dict[str, object]:
    return {
        "statement_id": statement.id,
        "bank_account_id": statement.bank_account_id,
        "position": line.position,
        "booked_on": line.booked_on,
        "booked_time": (line.booked_time or None) and line.booked_time[:8],
        "amount_vnd": line.amount_vnd,
        "memo": line.memo[:500],
        "bank_reference": (line.bank_reference or "")[:100],
        "counterparty_name": line.counterparty_name[:200],
        "counterparty_account": line.counterparty_account[:40],
        "dedupe_key": None,
        "duplicate_of_id": None,
        "reference": None,
        "candidates": [],
        "suggested_request_id": None,
        "payment_id": None,
        "processed_at": None,
        "outcome": "",
    }


def _decision(decision: recon.LineResult, request_ids: dict[str, int], now: datetime) -> dict[str, object]:
    category = decision.category
    values: dict[str, object] = {
        "category": category.value,
        "rule": str(decision.rule),
        "confidence": float(decision.confidence),
        "reference": decision.reference,
        "candidates": list(decision.candidates)[:10],
    }
    if category == recon.Category.SUGGESTED and decision.reference:
        values["suggested_request_id"] = request_ids.get(decision.reference)
    if category == recon.Category.DUPLICATE:
        values.update(processed_at=now, outcome="already reported")
    return values


def _held_decision() -> dict[str, object]:
    """A transfer that may be one of several a webhook recorded: suspense, for a person."""
    return {"category": "unmatched", "rule": HELD, "confidence": 0.0, "reference": None, "candidates": []}


def _recorded_decision(session: Session, payment: Payment, now: datetime) -> dict[str, object]:
    """A transfer a webhook recorded already: the line takes that payment's standing."""
    request = session.get(PaymentRequest, payment.request_id) if payment.request_id else None
    if request is None:
        category = "unmatched"
    elif payment.excess_vnd:
        category = "overpaid"
    elif request.status == RequestStatus.OPEN and request.received_vnd < request.amount_vnd:
        category = "underpaid"
    else:
        category = "matched"
    return {
        "category": category,
        "rule": RECORDED,
        "confidence": 1.0,
        "reference": request.reference_code if request else None,
        "payment_id": payment.id,
        "processed_at": now,
        "outcome": f"same transfer as {payment.provider} payment {payment.id} ({payment.status})"[:200],
    }


def _describe(statement: BankStatement, parsed: recon.Statement) -> None:
    statement.format = parsed.format[:20]
    statement.period_start = min(line.booked_on for line in parsed.lines)
    statement.period_end = max(line.booked_on for line in parsed.lines)
    statement.opening_balance_vnd = parsed.opening_balance_vnd
    statement.closing_balance_vnd = parsed.closing_balance_vnd


# --- phase 2: apply -----------------------------------------------------------------------------


def apply_pending(session: Session, statement_id: int) -> int:
    """Apply every line not yet applied, in short batches (one transaction each); how many this
    call applied."""
    pending = session.exec(
        select(StatementLine.id)
        .where(StatementLine.statement_id == statement_id, col(StatementLine.processed_at).is_(None))
        .order_by(col(StatementLine.position))
    ).all()
    session.commit()
    ids, applied = [line_id or 0 for line_id in pending], 0
    while ids:
        chunk = ids[:APPLY_BATCH]
        done = apply_batch(session, chunk, statement_id)
        applied += len(done)
        # Lines are applied in order: what follows the last one applied is left for the next batch.
        ids = ids[chunk.index(done[-1]) + 1 :] if done else ids[APPLY_BATCH:]
    return applied


def apply_batch(session: Session, line_ids: list[int], statement_id: int | None = None) -> list[int]:
    """Apply lines in one transaction (commits once), in order, until ``APPLY_SECONDS`` have
    passed (a SQLite writer must not hold the database for long); the ids applied.

    The lines and the requests they name are locked up front (lines, then requests, lowest id
    first), what the lines need is read in a few queries, and the lines are marked applied by
    one UPDATE. A line that raises a DomainError sends the batch back to one transaction per
    line, so that only that line records the error. Killed half-way, nothing of the batch is
    kept and a new run applies it again."""
    lock_rows(session, StatementLine, line_ids)
    lines = session.exec(
        select(StatementLine)
        .where(col(StatementLine.id).in_(line_ids), col(StatementLine.processed_at).is_(None))
        .order_by(col(StatementLine.position))
        .execution_options(populate_existing=True)
    ).all()
    for line in lines:
        session.expunge(line)  # marked by one UPDATE below, not by every flush of the batch
    context = _BatchContext.load(session, lines)
    deadline = time_module.monotonic() + APPLY_SECONDS
    outcomes: list[dict[str, object]] = []
    try:
        for line in lines:
            outcome = _apply(session, line, context)[:200]
            outcomes.append({"id": line.id, "outcome": outcome, "payment_id": line.payment_id})
            if time_module.monotonic() > deadline:
                break
    except DomainError:
        session.rollback()
        return [line.id or 0 for line in lines if apply_line(session, line.id or 0)]
    _mark_applied(session, outcomes, statement_id)
    session.commit()
    return [int(outcome["id"]) for outcome in outcomes]  # type: ignore[call-overload]


def _mark_applied(session: Session, outcomes: list[dict[str, object]], statement_id: int | None) -> None:
    if outcomes:  # an ORM bulk UPDATE by primary key: one executemany for the whole batch
        now = utcnow()
        session.execute(sa.update(StatementLine), [{**outcome, "processed_at": now} for outcome in outcomes])
    if statement_id is not None:  # a long import shows that it is alive (see requeue_stale)
        session.execute(
            sa.update(BankStatement).where(col(BankStatement.id) == statement_id).values(updated_at=utcnow())
        )


class _BatchContext:
    """What the lines of a batch need from the database, read once: their own payments already
    recorded (a run killed before), the feed payments that may be their transfers, and which
    payments are linked to a line (in the database or earlier in this batch)."""

    def __init__(self) -> None:
        self.mine: dict[str, Payment] = {}
        self.feed: dict[tuple[int, date], list[Payment]] = {}
        self.linked: set[int] = set()
        self.locked = False

    @classmethod
    def load(cls, session: Session, lines: Sequence[StatementLine]) -> _BatchContext:
        context = cls()
        credits = [line for line in lines if line.amount_vnd > 0]
        if not credits:
            return context
        codes = {line.reference for line in credits if line.reference}
        codes.update(code for line in credits for code in find_references(line.memo))
        codes.update(line.candidates[0] for line in credits if len(line.candidates) == 1)
        if codes:
            ids = session.exec(select(PaymentRequest.id).where(col(PaymentRequest.reference_code).in_(codes)))
            lock_rows(session, PaymentRequest, [request_id for request_id in ids if request_id])
        context.locked = True
        txn_ids = [_txn_id(line) for line in credits]
        for payment in session.exec(
            select(Payment).where(Payment.provider == PROVIDER, col(Payment.provider_txn_id).in_(txn_ids))
        ):
            context.mine[payment.provider_txn_id] = payment
        account_id = credits[0].bank_account_id
        start = _local_start(min(line.booked_on for line in credits))
        end = _local_start(max(line.booked_on for line in credits) + timedelta(days=1))
        candidates = session.exec(
            select(Payment).where(
                Payment.bank_account_id == account_id,
                Payment.provider != PROVIDER,
                col(Payment.amount_vnd).in_({line.amount_vnd for line in credits}),
                col(Payment.received_at) >= start,
                col(Payment.received_at) < end,
            )
        ).all()
        for payment in candidates:
            key = (payment.amount_vnd, transfer_twins.local_day(payment.received_at))
            context.feed.setdefault(key, []).append(payment)
        context.linked = _linked_payment_ids(session, [payment.id or 0 for payment in candidates])
        return context


def apply_line(session: Session, line_id: int, *, touch: int | None = None) -> bool:
    """Apply one line once (commits): a credit becomes a payment, money out may confirm a payout."""
    lock_rows(session, StatementLine, [line_id])
    line = session.get(StatementLine, line_id, populate_existing=True)
    if line is None or line.processed_at is not None:
        session.commit()
        return False
    try:
        outcome = _apply(session, line, None)
    except DomainError as error:  # a decision this line cannot take: a person looks at it
        session.rollback()
        line = session.get_one(StatementLine, line_id, populate_existing=True)
        outcome = f"error: {error.message}"
    line.processed_at = utcnow()
    line.outcome = outcome[:200]
    session.add(line)
    if touch is not None:  # a long import shows that it is alive (see requeue_stale)
        session.execute(
            sa.update(BankStatement).where(col(BankStatement.id) == touch).values(updated_at=utcnow())
        )
    session.commit()
    return True


def _apply(session: Session, line: StatementLine, context: _BatchContext | None) -> str:
    if line.amount_vnd == 0:  # some exports list zero-amount entries (fee waivers): no money
        return "no money moved"
    if line.amount_vnd < 0:
        return _apply_outgoing(session, line)
    return _apply_credit(session, line, context)


def _apply_credit(session: Session, line: StatementLine, context: _BatchContext | None = None) -> str:
    if context is None:
        context = _BatchContext.load(session, [line])
    incoming = incoming_payment(line)
    twin = transfer_twins.Twin()
    if incoming.provider_txn_id not in context.mine:
        twin = _feed_twin(line, context)
        earlier = twin.payment
        if earlier is not None:
            context.linked.add(earlier.id or 0)
            line.payment_id = earlier.id
            return f"same transfer as {earlier.provider} payment {earlier.id} ({earlier.status})"
    if twin.ambiguous or line.rule == HELD:  # a person decides; nobody is credited twice
        held = transfer_twins.hold(session, incoming, twin)
        line.payment_id = held.id
        return f"payment {held.id} held: it may repeat a payment a webhook recorded"
    payment = requests.apply_incoming_payment(session, incoming)
    mine = payment.provider == PROVIDER and payment.provider_txn_id == _txn_id(line)
    if not mine and (payment.id in context.linked or _linked_payment_ids(session, [payment.id or 0])):
        return f"same transfer as payment {payment.id}, already linked to another line"
    if not mine:
        context.linked.add(payment.id or 0)
    line.payment_id = payment.id
    if mine:
        return f"payment {payment.id} {payment.status}"
    return f"same transfer as {payment.provider} payment {payment.id} ({payment.status})"


def _feed_twin(line: StatementLine, context: _BatchContext) -> transfer_twins.Twin:
    """A webhook's payment of this line's transfer recorded after the line was decided."""
    candidates = context.feed.get((line.amount_vnd, line.booked_on), [])
    if not candidates:
        return transfer_twins.Twin()
    if line.bank_reference and any(p.bank_reference == line.bank_reference for p in candidates):
        return transfer_twins.Twin()  # the bank reference decides (apply_incoming_payment)
    report = transfer_twins.Report(
        line.bank_account_id, line.amount_vnd, line.booked_on, line.memo, line.bank_reference
    )
    return transfer_twins.choose(report, candidates, context.linked)


def incoming_payment(line: StatementLine) -> requests.IncomingPayment:
    """The payment a credit line reports: with its reference when the matcher found one (or
    when the memo names exactly one code, as a webhook would), else without (suspense)."""
    if line.category in CREDIT_CATEGORIES:
        reference = line.reference
    elif line.category == "unmatched" and len(line.candidates) == 1:
        reference = line.candidates[0]  # a code no open request of this account expects
    else:
        reference = None
    return requests.IncomingPayment(
        provider=PROVIDER,
        provider_txn_id=_txn_id(line),
        amount_vnd=line.amount_vnd,
        received_at=booked_at(line.booked_on, line.booked_time),
        bank_account_id=line.bank_account_id,
        reference_code=reference,
        memo=line.memo,
        payer_name=line.counterparty_name[:120],
        bank_reference=line.bank_reference,
    )


def _txn_id(line: StatementLine) -> str:
    return f"{line.bank_account_id}:{line.dedupe_key}"


def _apply_outgoing(session: Session, line: StatementLine) -> str:
    from payments import payouts
    from payments.bank_feeds import BankNotification

    account = session.get_one(BankAccount, line.bank_account_id)
    notice = BankNotification(
        source=PROVIDER,
        external_id=_txn_id(line),
        account_number=account.account_number,
        bank_hint="",
        amount_vnd=-line.amount_vnd,
        direction="out",
        memo=line.memo,
        occurred_at=booked_at(line.booked_on, line.booked_time),
        bank_reference=line.bank_reference,
        payer_name=line.counterparty_name[:120],
    )
    return payouts.apply_outgoing(session, notice, account)


# --- phase 3: finish ----------------------------------------------------------------------------


def finish(session: Session, statement_id: int) -> str:
    """Count, compare balances and alert, once every line is applied (commits)."""
    lock_rows(session, BankStatement, [statement_id])
    statement = session.get_one(BankStatement, statement_id, populate_existing=True)
    if statement.status != StatementStatus.APPLYING:
        session.commit()
        return statement.status
    if _unprocessed(session, statement_id):
        session.commit()
        return "applying"  # another run of the job is still at it
    statement.counts = line_counts(session, statement_id)
    if statement.closing_balance_vnd is not None and statement.period_end is not None:
        end = _local_start(statement.period_end + timedelta(days=1))
        statement.ledger_balance_vnd = ledger_balance_at(session, ledger.bank(statement.bank_account_id), end)
        statement.balance_difference_vnd = statement.closing_balance_vnd - statement.ledger_balance_vnd
    statement.status = StatementStatus.IMPORTED
    statement.imported_at = statement.updated_at = utcnow()
    session.add(statement)
    if statement.counts.get("exceptions") or statement.balance_difference_vnd:
        _alert(session, statement)
    session.commit()
    return StatementStatus.IMPORTED


def _unprocessed(session: Session, statement_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(StatementLine)
            .where(StatementLine.statement_id == statement_id, col(StatementLine.processed_at).is_(None))
        ).one()
    )


def line_counts(session: Session, statement_id: int) -> dict[str, int]:
    """Lines by category, with what needs a person (``exceptions``) and where the money went."""
    counts = {
        category: int(count)
        for category, count in session.exec(
            select(StatementLine.category, func.count())
            .where(StatementLine.statement_id == statement_id)
            .group_by(col(StatementLine.category))
        )
    }
    counts["lines"] = sum(counts.values())
    errors = session.exec(
        select(func.count()).where(
            StatementLine.statement_id == statement_id, col(StatementLine.outcome).startswith("error")
        )
    ).one()
    counts["errors"] = int(errors)
    counts["exceptions"] = sum(counts.get(c, 0) for c in REVIEW_CATEGORIES) + counts["errors"]
    counts["recorded_before"] = int(
        session.exec(
            select(func.count()).where(
                StatementLine.statement_id == statement_id, StatementLine.rule == RECORDED
            )
        ).one()
    )
    counts["caught"] = _caught(session, statement_id)
    return counts


def _caught(session: Session, statement_id: int) -> int:
    """Requests this statement settled with a payment no webhook had reported (lost webhooks)."""
    return int(
        session.exec(
            select(func.count())
            .select_from(StatementLine)
            .join(Payment, col(Payment.id) == StatementLine.payment_id)
            .where(
                StatementLine.statement_id == statement_id,
                Payment.provider == PROVIDER,
                Payment.status == "settled",
            )
        ).one()
    )


def ledger_balance_at(session: Session, code: str, end: datetime) -> int:
    """The balance of a ledger account counting what happened before ``end``: a payment by the
    time the money was received, anything else by the time it was posted."""
    account_id = session.exec(select(LedgerAccount.id).where(LedgerAccount.code == code)).first()
    if account_id is None:
        return 0
    value_time = func.coalesce(Payment.received_at, LedgerTransaction.created_at)
    total = session.exec(
        select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0))
        .select_from(LedgerPosting)
        .join(LedgerTransaction, col(LedgerTransaction.id) == LedgerPosting.transaction_id)
        .outerjoin(
            Payment,
            sa.and_(LedgerTransaction.cause_type == "payment", col(Payment.id) == LedgerTransaction.cause_id),
        )
        .where(LedgerPosting.account_id == account_id, value_time < end)
    ).one()
    return int(total)


def _alert(session: Session, statement: BankStatement) -> None:
    account = session.get_one(BankAccount, statement.bank_account_id)
    params = {
        "statement": statement.id,
        "account": f"…{account.account_number[-4:]}",
        "exceptions": statement.counts.get("exceptions", 0),
        "difference": format_vnd(statement.balance_difference_vnd or 0),
    }
    notify(session, account, "statement_needs_review", params, f"statement_needs_review:{statement.id}")


def notify(session: Session, account: BankAccount, kind: str, params: dict[str, object], key: str) -> None:
    """Tell every operator, and the staff of the account's organisation (jobs, after commit)."""
    operators = session.exec(
        select(User.id).where(User.role == Role.OPERATOR, col(User.is_active).is_(True))
    ).all()
    for operator_id in operators:
        enqueue_after_commit(
            session,
            "market.deliver_notification",
            user_id=operator_id,
            kind=kind,
            params=params,
            dedupe_key=f"{key}:{operator_id}",
        )
    if account.organisation_id is not None:
        enqueue_after_commit(
            session,
            "market.notify_organisation",
            organisation_id=account.organisation_id,
            kind=kind,
            params=params,
            dedupe_key=key,
        )


# --- times ----------------------------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=_zone()).astimezone(UTC)


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants where the local ``day`` starts and the next one starts."""
    return _local_start(day), _local_start(day + timedelta(days=1))


def local_today() -> date:
    return utcnow().astimezone(_zone()).date()


def booked_at(day: date, clock: str | None) -> datetime:
    """When the bank booked a line, in UTC: its local date and time (start of day if no time)."""
    moment = time(0)
    if clock:
        try:
            moment = time.fromisoformat(clock if len(clock) > 5 else f"{clock}:00")
        except ValueError:
            moment = time(0)
    return datetime.combine(day, moment, tzinfo=_zone()).astimezone(UTC)
