"""Payouts: what the platform owes organisations, and refunds by bank transfer, paid in batches.

A batch is drawn up for one source bank account: the platform's (operators; it lists every
organisation whose payable balance is owed, to its payout account) or an organisation's own
(its staff; it lists the refunds of payments that reached that account). Bank-transfer refunds
waiting for a transfer join the batch of the account their payment arrived on.

States and the ledger at each step:

* draft — nothing posted; lines can still be dropped by cancelling the batch;
* approved — by a second person (four-eyes: never its creator, also a CHECK in the database):
  each line moves its amount from the account it is owed from (``payable:<org>``, or refunds
  due for a refund) to payouts in transit; an account that no longer holds it fails the
  whole approval (409);
* sent — handed to the bank (its CSV uploaded, or the lines paid one by one by VietQR);
* each line settles when the bank confirms it (a transfer-out notice naming the line's
  reference, or a clerk entering the statement line): in transit → the source bank account;
  a refund line completes its refund (credit note, notifications). A line the bank rejects
  moves back from in transit to where it came from (a refund fails and is released);
* settled — once no line is pending.

Who: a batch is visible to operators and to the staff of the organisation that owns its
source account; to anyone else it does not exist (404).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, col, select

from choso import audit
from choso.db import lock_rows, utcnow
from choso.errors import Conflict, NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.jobs import enqueue_after_commit
from choso.text import NoControlCharacters
from market.models import Organisation, Role, User
from payments import banks, ledger, refunds, vietqr
from payments.bank_feeds import BankNotification
from payments.models import (
    BankAccount,
    LedgerAccount,
    Payment,
    PayoutAccount,
    PayoutBatch,
    PayoutBatchStatus,
    PayoutLine,
    PayoutLineStatus,
    Refund,
    RefundMethod,
    RefundStatus,
)
from payments.posting_rules import transfer

STAFF_ROLES = (Role.PRODUCER, Role.AGENCY_OFFICER)
_LINE_REFERENCE = re.compile(r"CHOSO\s*PO\s*(\d{1,10})", re.IGNORECASE)
Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200), NoControlCharacters
]


class PayoutAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_account_id: int = Field(ge=1, le=2**31 - 1)


class PayoutBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_bank_account_id: int = Field(ge=1, le=2**31 - 1)


class SettleLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class FailLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text


class NothingToPayOut(Conflict):
    code = "nothing_to_pay_out"


class BatchNotInState(Conflict):
    code = "payout_batch_state"


class FourEyes(PermissionDenied):
    code = "four_eyes"


# --- payout accounts ----------------------------------------------------------------------------


def _own_organisation(user: User) -> int:
    if user.role not in STAFF_ROLES or user.organisation_id is None:
        raise PermissionDenied(N_("Only an organisation's staff manage its bank accounts."))
    return user.organisation_id


def get_payout_account(session: Session, user: User) -> PayoutAccount | None:
    organisation_id = _own_organisation(user)
    return session.exec(select(PayoutAccount).where(PayoutAccount.organisation_id == organisation_id)).first()


def set_payout_account(
    session: Session, user: User, data: PayoutAccountIn, *, actor: audit.Actor
) -> PayoutAccount:
    """Choose which of the organisation's own active accounts it is paid out to: audited and
    announced to its members (a changed payout account is how money gets diverted). Commits."""
    organisation_id = _own_organisation(user)
    account = session.get(BankAccount, data.bank_account_id)
    if account is None or account.organisation_id != organisation_id or not account.is_active:
        raise NotFound(N_("No such bank account."))
    current = session.exec(
        select(PayoutAccount).where(PayoutAccount.organisation_id == organisation_id)
    ).first()
    before = {"bank_account_id": current.bank_account_id} if current else None
    current = current or PayoutAccount(organisation_id=organisation_id, bank_account_id=data.bank_account_id)
    current.bank_account_id = data.bank_account_id
    current.updated_by_id = user.id
    current.updated_at = utcnow()
    session.add(current)
    session.flush()
    audit.record(
        session,
        actor,
        action="payout_account.set",
        object_type="organisation",
        object_id=organisation_id,
        before=before,
        after={"bank_account_id": account.id, "account_number": account.account_number},
    )
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=organisation_id,
        kind="payout_account_changed",
        params={"account": f"…{account.account_number[-4:]}", "by": user.full_name},
        dedupe_key=f"payout_account_changed:{organisation_id}:{current.updated_at.isoformat()}",
    )
    session.commit()
    return current


# --- batches ------------------------------------------------------------------------------------


def _may_handle(user: User, owner: int | None) -> bool:
    return user.role == Role.OPERATOR or (
        owner is not None and user.role in STAFF_ROLES and user.organisation_id == owner
    )


def get_batch_for(session: Session, user: User, batch_id: int) -> PayoutBatch:
    """A batch for its handlers; for anyone else it looks like a missing one."""
    batch = session.get(PayoutBatch, batch_id)
    if batch is None or not _may_handle(user, batch.organisation_id):
        raise NotFound(N_("No such payout batch."))
    return batch


def list_batches_for(session: Session, user: User, *, limit: int = 50, offset: int = 0) -> list[PayoutBatch]:
    query = select(PayoutBatch)
    if user.role != Role.OPERATOR:
        if user.role not in STAFF_ROLES or user.organisation_id is None:
            return []
        query = query.where(PayoutBatch.organisation_id == user.organisation_id)
    return list(session.exec(query.order_by(col(PayoutBatch.id).desc()).limit(limit).offset(offset)))


def lines_of(session: Session, batch_id: int) -> list[PayoutLine]:
    return list(
        session.exec(select(PayoutLine).where(PayoutLine.batch_id == batch_id).order_by(col(PayoutLine.id)))
    )


def create_batch(session: Session, user: User, data: PayoutBatchIn, *, actor: audit.Actor) -> PayoutBatch:
    """A draft of everything owed out of one source account. Commits."""
    source = session.get(BankAccount, data.source_bank_account_id)
    if source is None or not _may_handle(user, source.organisation_id):
        raise NotFound(N_("No such bank account."))
    batch = PayoutBatch(
        organisation_id=source.organisation_id,
        source_bank_account_id=source.id or 0,
        created_by_id=user.id or 0,
    )
    session.add(batch)
    session.flush()
    lines = _refund_lines(session, batch)
    if source.organisation_id is None:
        lines += _payout_lines(session, batch)
    if not lines:
        raise NothingToPayOut(N_("Nothing is waiting to be paid out of this account."))
    session.add_all(lines)
    batch.total_vnd = sum(line.amount_vnd for line in lines)
    session.add(batch)
    session.flush()
    _audit(session, actor, "payout_batch.create", batch, before=None)
    session.commit()
    return batch


def _in_open_batches() -> sa.Select[tuple[int | None]]:
    return (
        select(PayoutLine.organisation_id)
        .join(PayoutBatch, col(PayoutBatch.id) == PayoutLine.batch_id)
        .where(PayoutBatch.status == PayoutBatchStatus.DRAFT)
    )


def _payout_lines(session: Session, batch: PayoutBatch) -> list[PayoutLine]:
    """Each organisation owed money (payable balance), with a payout account, not already in a draft."""
    owed = session.exec(
        select(LedgerAccount.organisation_id, LedgerAccount.balance_vnd, BankAccount)
        .join(PayoutAccount, PayoutAccount.organisation_id == LedgerAccount.organisation_id)
        .join(BankAccount, col(BankAccount.id) == PayoutAccount.bank_account_id)
        .where(
            col(LedgerAccount.code).like("payable:%"),
            LedgerAccount.balance_vnd < 0,
            col(BankAccount.is_active).is_(True),
            col(LedgerAccount.organisation_id).not_in(
                _in_open_batches().where(col(PayoutLine.organisation_id).is_not(None))
            ),
        )
        .order_by(col(LedgerAccount.organisation_id))
    ).all()
    return [
        PayoutLine(
            batch_id=batch.id or 0,
            kind="payout",
            organisation_id=organisation_id,
            debit_account=ledger.payable(organisation_id or 0),
            bank_bin=account.bank_bin,
            account_number=account.account_number,
            holder_name=account.holder_name,
            amount_vnd=-balance,
        )
        for organisation_id, balance, account in owed
    ]


def _refund_lines(session: Session, batch: PayoutBatch) -> list[PayoutLine]:
    """Bank-transfer refunds of payments that arrived on this account, not on a line yet."""
    waiting = [refund for refund, _account in _refunds_off_batches(session, [batch.source_bank_account_id])]
    return [
        PayoutLine(
            batch_id=batch.id or 0,
            kind="refund",
            refund_id=refund.id,
            debit_account=ledger.REFUNDS_DUE,
            bank_bin=refund.bank_bin,
            account_number=refund.account_number,
            holder_name=refund.holder_name,
            amount_vnd=refund.amount_vnd,
        )
        for refund in waiting
    ]


def _batch_in(session: Session, user: User, batch_id: int, *states: PayoutBatchStatus) -> PayoutBatch:
    batch = get_batch_for(session, user, batch_id)
    lock_rows(session, PayoutBatch, [batch_id])
    session.refresh(batch)
    if batch.status not in states:
        raise BatchNotInState(
            N_("This payout batch is %(status)s: it cannot do that now."), params={"status": batch.status}
        )
    return batch


def approve_batch(session: Session, user: User, batch_id: int, *, actor: audit.Actor) -> PayoutBatch:
    """The second person's approval: the money of every line goes in transit. Commits."""
    batch = _batch_in(session, user, batch_id, PayoutBatchStatus.DRAFT)
    if batch.created_by_id == user.id:
        raise FourEyes(N_("Someone other than the person who drew up this batch must approve it."))
    for line in lines_of(session, batch_id):
        _post_line(session, line, "approve", debit=line.debit_account, credit=ledger.PAYOUTS_IN_TRANSIT)
        if line.refund_id is not None:
            refund = session.get_one(Refund, line.refund_id)
            refund.status = RefundStatus.SUBMITTED
            session.add(refund)
    _move(session, actor, batch, PayoutBatchStatus.APPROVED, approved_by_id=user.id, approved_at=utcnow())
    return batch


def mark_sent(session: Session, user: User, batch_id: int, *, actor: audit.Actor) -> PayoutBatch:
    batch = _batch_in(session, user, batch_id, PayoutBatchStatus.APPROVED)
    _move(session, actor, batch, PayoutBatchStatus.SENT, sent_at=utcnow())
    return batch


def cancel_batch(session: Session, user: User, batch_id: int, *, actor: audit.Actor) -> PayoutBatch:
    """Give up a draft: its lines go (their refunds and balances wait for another batch)."""
    batch = _batch_in(session, user, batch_id, PayoutBatchStatus.DRAFT)
    session.connection().execute(sa.delete(PayoutLine).where(col(PayoutLine.batch_id) == batch_id))
    _move(session, actor, batch, PayoutBatchStatus.CANCELLED)
    return batch


def _move(
    session: Session, actor: audit.Actor, batch: PayoutBatch, status: PayoutBatchStatus, **changes: object
) -> None:
    before = {"status": batch.status}
    batch.status = status
    for name, value in changes.items():
        setattr(batch, name, value)
    session.add(batch)
    session.flush()
    _audit(session, actor, f"payout_batch.{status}", batch, before=before)
    session.commit()


def _post_line(session: Session, line: PayoutLine, step: str, *, debit: str, credit: str) -> None:
    ledger.post(
        session,
        key=f"payout_line:{line.id}:{step}",
        kind=f"payout_{step}",
        memo=f"payout line {line.id} ({line.kind}) {step}",
        postings=transfer(debit=debit, credit=credit, amount_vnd=line.amount_vnd),
        cause_type="payout_line",
        cause_id=line.id,
    )


# --- the bank's confirmation, line by line ------------------------------------------------------


def _line_for(session: Session, user: User, line_id: int) -> tuple[PayoutBatch, PayoutLine]:
    line = session.get(PayoutLine, line_id)
    if line is None:
        raise NotFound(N_("No such payout line."))
    try:
        batch = get_batch_for(session, user, line.batch_id)
    except NotFound:
        raise NotFound(N_("No such payout line.")) from None
    return batch, line


def settle_line(
    session: Session, user: User, line_id: int, data: SettleLineIn, *, actor: audit.Actor
) -> PayoutLine:
    """A clerk records the bank statement line of a transfer. Commits."""
    batch, line = _line_for(session, user, line_id)
    _settle(session, batch.id or 0, line.id or 0, bank_reference=data.bank_reference, actor=actor)
    session.commit()
    return line


def fail_line(
    session: Session, user: User, line_id: int, data: FailLineIn, *, actor: audit.Actor
) -> PayoutLine:
    """The bank rejected a transfer: its money goes back where it came from. Commits."""
    batch, line = _line_for(session, user, line_id)
    line = _lock_pending(session, batch.id or 0, line.id or 0)
    refund = _lock_refund(session, line)
    _post_line(session, line, "fail", debit=ledger.PAYOUTS_IN_TRANSIT, credit=line.debit_account)
    if refund is not None:
        refunds.fail(session, refund, error=f"bank transfer rejected: {data.reason}"[:300])
    _close_line(session, actor, line, PayoutLineStatus.FAILED, data.reason)
    session.commit()
    return line


def apply_outgoing(session: Session, notice: BankNotification, account: BankAccount) -> str:
    """A transfer out of one of our accounts (bank webhook): it settles the payout line its
    memo names, if that line is pending on a batch out of this account for this amount.
    Flush only (inside the inbox job)."""
    match = _LINE_REFERENCE.search(notice.memo.replace(" ", ""))
    line = session.get(PayoutLine, int(match.group(1))) if match else None
    batch = session.get(PayoutBatch, line.batch_id) if line else None
    if line is None or batch is None or batch.source_bank_account_id != account.id:
        return "outgoing transfer recorded"
    if line.amount_vnd != notice.amount_vnd or line.status != PayoutLineStatus.PENDING:
        return f"outgoing transfer for payout line {line.id} does not match it"
    _settle(session, batch.id or 0, line.id or 0, bank_reference=notice.bank_reference or notice.external_id)
    return f"payout line {line.id} settled"


def _lock_pending(session: Session, batch_id: int, line_id: int) -> PayoutLine:
    lock_rows(session, PayoutBatch, [batch_id])
    batch = session.get_one(PayoutBatch, batch_id, populate_existing=True)
    if batch.status not in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.SENT):
        raise BatchNotInState(
            N_("This payout batch is %(status)s: it cannot do that now."), params={"status": batch.status}
        )
    line = session.get_one(PayoutLine, line_id, populate_existing=True)
    if line.status != PayoutLineStatus.PENDING:
        raise Conflict(N_("This payout line is already %(status)s."), params={"status": line.status})
    return line


def _lock_refund(session: Session, line: PayoutLine) -> Refund | None:
    """A refund line's refund, locked before any ledger account (payment → refund → ledger)."""
    if line.refund_id is None:
        return None
    refund = session.get_one(Refund, line.refund_id)
    lock_rows(session, Payment, [refund.payment_id])
    lock_rows(session, Refund, [refund.id or 0])
    session.refresh(refund)
    return refund


def _settle(
    session: Session, batch_id: int, line_id: int, *, bank_reference: str, actor: audit.Actor = audit.SYSTEM
) -> None:
    line = _lock_pending(session, batch_id, line_id)
    batch = session.get_one(PayoutBatch, batch_id)
    refund = _lock_refund(session, line)
    _post_line(
        session,
        line,
        "settle",
        debit=ledger.PAYOUTS_IN_TRANSIT,
        credit=ledger.bank(batch.source_bank_account_id),
    )
    if refund is not None:
        refunds.complete(session, refund)
    elif line.organisation_id is not None:
        enqueue_after_commit(
            session,
            "market.notify_organisation",
            organisation_id=line.organisation_id,
            kind="payout_settled",
            params={"amount": format_vnd(line.amount_vnd), "account": f"…{line.account_number[-4:]}"},
            dedupe_key=f"payout_settled:{line.id}",
        )
    _close_line(session, actor, line, PayoutLineStatus.SETTLED, bank_reference)


def _close_line(
    session: Session, actor: audit.Actor, line: PayoutLine, status: PayoutLineStatus, note: str
) -> None:
    line.status = status
    line.bank_reference = note[:100]
    line.settled_at = utcnow()
    session.add(line)
    session.flush()
    audit.record(
        session,
        actor,
        action=f"payout_line.{status}",
        object_type="payout_line",
        object_id=line.id or 0,
        before={"status": "pending"},
        after={"status": status, "amount_vnd": line.amount_vnd, "note": note[:100]},
    )
    pending = session.exec(
        select(PayoutLine.id).where(
            PayoutLine.batch_id == line.batch_id, PayoutLine.status == PayoutLineStatus.PENDING
        )
    ).first()
    if pending is None:
        batch = session.get_one(PayoutBatch, line.batch_id)
        batch.status = PayoutBatchStatus.SETTLED
        batch.settled_at = utcnow()
        session.add(batch)
        session.flush()


def _audit(
    session: Session, actor: audit.Actor, action: str, batch: PayoutBatch, *, before: dict[str, object] | None
) -> None:
    audit.record(
        session,
        actor,
        action=action,
        object_type="payout_batch",
        object_id=batch.id or 0,
        before=before,
        after={"status": batch.status, "total_vnd": batch.total_vnd, "source": batch.source_bank_account_id},
    )


# --- what a clerk takes to the bank -------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    line: PayoutLine
    bank_name: str
    vietqr: str


def line_views(lines: Sequence[PayoutLine]) -> list[LineView]:
    """Each line with its bank's name and a VietQR a clerk can pay it with from a banking app."""
    return [LineView(line, _bank_name(line.bank_bin), vietqr_payload(line)) for line in lines]


def vietqr_payload(line: PayoutLine) -> str:
    purpose = f"{line.reference} {'HOAN TIEN' if line.kind == 'refund' else 'CHI TRA'}"
    return vietqr.encode(
        bin=line.bank_bin, account=line.account_number, amount=line.amount_vnd, purpose=purpose
    )


def _bank_name(bin: str) -> str:
    bank = banks.find_bank(bin)
    return bank.short_name if bank else bin


CSV_HEADER = (
    "STT",
    "Mã ngân hàng (BIN)",
    "Ngân hàng",
    "Số tài khoản",
    "Chủ tài khoản",
    "Số tiền",
    "Nội dung",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: one starting like a formula gets an apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_csv(session: Session, user: User, batch_id: int) -> str:
    """The batch as a CSV for the bank's bulk-transfer upload (approved or later)."""
    batch = get_batch_for(session, user, batch_id)
    if batch.status in (PayoutBatchStatus.DRAFT, PayoutBatchStatus.CANCELLED):
        raise BatchNotInState(
            N_("This payout batch is %(status)s: it cannot do that now."), params={"status": batch.status}
        )
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for number, line in enumerate(lines_of(session, batch_id), start=1):
        row = (
            number,
            line.bank_bin,
            _bank_name(line.bank_bin),
            line.account_number,
            line.holder_name,
            line.amount_vnd,
            line.reference,
        )
        writer.writerow([safe_cell(cell) for cell in row])
    return output.getvalue()


# --- what the staff pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class Owed:
    """An organisation the platform owes money to, and whether a batch can pay it now."""

    organisation_id: int
    name: str
    amount_vnd: int
    account: BankAccount | None  # its payout account; None: none chosen (or no longer active)
    in_draft: bool  # already on a draft batch


def owed_for(session: Session, user: User) -> list[Owed]:
    """What the platform owes organisations (payable balances), for operators; nobody else
    pays out of the platform's account, so for them it is empty."""
    if user.role != Role.OPERATOR:
        return []
    rows = session.exec(
        select(LedgerAccount.organisation_id, LedgerAccount.balance_vnd, Organisation.name, BankAccount)
        .join(Organisation, col(Organisation.id) == LedgerAccount.organisation_id)
        .outerjoin(PayoutAccount, PayoutAccount.organisation_id == LedgerAccount.organisation_id)
        .outerjoin(
            BankAccount,
            sa.and_(
                col(BankAccount.id) == PayoutAccount.bank_account_id, col(BankAccount.is_active).is_(True)
            ),
        )
        .where(col(LedgerAccount.code).like("payable:%"), LedgerAccount.balance_vnd < 0)
        .order_by(col(LedgerAccount.balance_vnd), col(LedgerAccount.organisation_id))
    ).all()
    drafted = set(session.exec(_in_open_batches().where(col(PayoutLine.organisation_id).is_not(None))).all())
    return [
        Owed(organisation_id or 0, name, -balance, account, organisation_id in drafted)
        for organisation_id, balance, name, account in rows
    ]


@dataclass(frozen=True)
class WaitingRefund:
    """A refund by bank transfer that no batch holds yet, and the account it will be paid out of
    (the one its payment arrived on)."""

    refund: Refund
    source: BankAccount


def refunds_waiting_for(session: Session, user: User, *, limit: int = 200) -> list[WaitingRefund]:
    """Bank-transfer refunds not on any batch line yet, out of the accounts ``user`` draws
    batches on (see ``source_accounts``): what the next batch of each account will pay."""
    sources = {account.id: account for account in source_accounts(session, user)}
    if not sources:
        return []
    rows = _refunds_off_batches(session, [account_id for account_id in sources if account_id], limit=limit)
    return [WaitingRefund(refund, sources[account_id]) for refund, account_id in rows]


def _refunds_off_batches(
    session: Session, account_ids: list[int], *, limit: int | None = None
) -> list[tuple[Refund, int]]:
    """Pending bank-transfer refunds of payments that arrived on these accounts and that no
    batch line holds yet, oldest first, each with that account's id: what a batch drawn up on
    the account pays (``create_batch``), and what the payouts page shows as waiting."""
    query = (
        select(Refund, col(Payment.bank_account_id))
        .join(Payment, col(Payment.id) == Refund.payment_id)
        .where(
            Refund.method == RefundMethod.BANK_TRANSFER,
            Refund.status == RefundStatus.PENDING,
            col(Payment.bank_account_id).in_(account_ids),
            col(Refund.id).not_in(select(PayoutLine.refund_id).where(col(PayoutLine.refund_id).is_not(None))),
        )
        .order_by(col(Refund.id))
    )
    rows = session.exec(query if limit is None else query.limit(limit)).all()
    return [(refund, account_id or 0) for refund, account_id in rows]


def source_accounts(session: Session, user: User) -> list[BankAccount]:
    """The active accounts ``user`` may draw a batch on: the platform's (operators) or the
    organisation's own (its staff, for its refunds by bank transfer)."""
    if user.role == Role.OPERATOR:
        owner = col(BankAccount.organisation_id).is_(None)
    elif user.role in STAFF_ROLES and user.organisation_id is not None:
        owner = BankAccount.organisation_id == user.organisation_id
    else:
        return []
    query = select(BankAccount).where(owner, col(BankAccount.is_active).is_(True))
    return list(session.exec(query.order_by(col(BankAccount.id))))


@dataclass(frozen=True)
class BatchView:
    batch: PayoutBatch
    lines: list[LineView]
    source: BankAccount
    payees: dict[int, str]  # organisation id → name, for the payout lines
    people: dict[int, str]  # user id → name: who drew the batch up and who approved it


def batch_view(session: Session, user: User, batch_id: int) -> BatchView:
    """A batch with everything its page shows, for its handlers (else NotFound)."""
    batch = get_batch_for(session, user, batch_id)
    lines = lines_of(session, batch_id)
    payee_ids = {line.organisation_id for line in lines if line.organisation_id is not None}
    people_ids = {batch.created_by_id, *([batch.approved_by_id] if batch.approved_by_id else [])}
    payees = session.exec(
        select(Organisation.id, Organisation.name).where(col(Organisation.id).in_(payee_ids))
    )
    people = session.exec(select(User.id, User.full_name).where(col(User.id).in_(people_ids)))
    return BatchView(
        batch=batch,
        lines=line_views(lines),
        source=session.get_one(BankAccount, batch.source_bank_account_id),
        payees={org_id or 0: name for org_id, name in payees},
        people={person_id or 0: name for person_id, name in people},
    )


def get_line_for(session: Session, user: User, line_id: int) -> PayoutLine:
    """A line of a batch ``user`` handles (else NotFound)."""
    return _line_for(session, user, line_id)[1]


def payable_line_for(session: Session, user: User, line_id: int) -> PayoutLine:
    """A line a clerk may still pay (its batch approved or sent, the line pending), for the
    batch's handlers; any other line has no QR to pay it with (NotFound)."""
    batch, line = _line_for(session, user, line_id)
    payable = batch.status in (PayoutBatchStatus.APPROVED, PayoutBatchStatus.SENT)
    if not payable or line.status != PayoutLineStatus.PENDING:
        raise NotFound(N_("No such payout line."))
    return line
