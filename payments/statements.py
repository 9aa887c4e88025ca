"""Bank statements: who may see them, receiving a file, the lines to review.

A statement reaches Choso as a file (upload page, API, ``choso recon import``, the inbox
folder): :func:`submit` stores it once per bank account (the same bytes are the same
statement) and queues the job ``payments.import_statement`` (see payments.statement_import).
Lines that need a person (``suggested``, ``unmatched``) have their payment in suspense: the
one review queue, shared with bank webhooks, where an operator assigns the payment, confirms
the matcher's suggestion (:func:`confirm_suggestion`) or marks it for refund, each audited.

Who may see or import a bank account's statements: operators, and the staff of the
organisation that owns the account; to anyone else the account does not exist (404).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, func, select

from choso import audit
from choso.db import insert_ignore, utcnow
from choso.errors import InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from market.models import Role, User
from payments import requests
from payments.models import BankAccount, Payment, PaymentRequest, SuspenseItem
from payments.recon.formats import FORMATS
from payments.statement_models import MAX_STATEMENT_BYTES, BankStatement, StatementLine, StatementStatus

IMPORT_TASK = "payments.import_statement"
SOURCES = frozenset({"upload", "api", "cli", "inbox"})


# --- who may see what ---------------------------------------------------------------------------


def can_reconcile(user: User, account: BankAccount) -> bool:
    """Operators, and the staff of the organisation that owns the account."""
    if user.role == Role.OPERATOR:
        return True
    return (
        user.role in (Role.PRODUCER, Role.AGENCY_OFFICER)
        and user.organisation_id is not None
        and account.organisation_id == user.organisation_id
    )


def get_account_for(session: Session, user: User, account_id: int) -> BankAccount:
    account = session.get(BankAccount, account_id)
    if account is None or not can_reconcile(user, account):
        raise NotFound(N_("No such bank account."))
    return account


def accounts_for(session: Session, user: User) -> list[BankAccount]:
    """The bank accounts whose statements ``user`` may see (none for buyers)."""
    query = select(BankAccount).order_by(col(BankAccount.id))
    if user.role == Role.OPERATOR:
        return list(session.exec(query))
    if user.role not in (Role.PRODUCER, Role.AGENCY_OFFICER) or user.organisation_id is None:
        return []
    return list(session.exec(query.where(BankAccount.organisation_id == user.organisation_id)))


def get_statement_for(session: Session, user: User, statement_id: int) -> BankStatement:
    statement = session.get(BankStatement, statement_id)
    account = session.get(BankAccount, statement.bank_account_id) if statement else None
    if statement is None or account is None or not can_reconcile(user, account):
        raise NotFound(N_("No such bank statement."))
    return statement


def list_statements(
    session: Session, user: User, account_id: int, *, limit: int = 50, offset: int = 0
) -> tuple[list[BankStatement], int]:
    get_account_for(session, user, account_id)
    where = BankStatement.bank_account_id == account_id
    total = session.exec(select(func.count()).select_from(BankStatement).where(where)).one()
    rows = session.exec(
        select(BankStatement).where(where).order_by(col(BankStatement.id).desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def list_lines(
    session: Session,
    user: User,
    statement_id: int,
    *,
    categories: Collection[str] = (),
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[StatementLine], int]:
    get_statement_for(session, user, statement_id)
    where = [StatementLine.statement_id == statement_id]
    if categories:
        where.append(col(StatementLine.category).in_(list(categories)))
    total = session.exec(select(func.count()).select_from(StatementLine).where(*where)).one()
    rows = session.exec(
        select(StatementLine).where(*where).order_by(col(StatementLine.position)).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def statement_of_line(session: Session, user: User, line_id: int) -> int:
    """The statement a line belongs to, if ``user`` may see it (else NotFound)."""
    line = session.get(StatementLine, line_id)
    if line is None:
        raise NotFound(N_("No such statement line."))
    return get_statement_for(session, user, line.statement_id).id or 0


# --- receiving a file ---------------------------------------------------------------------------


def submit(
    session: Session,
    user: User | None,
    account_id: int,
    data: bytes,
    *,
    filename: str,
    format: str = "auto",
    source: str,
    actor: audit.Actor = audit.SYSTEM,
    queue: bool = True,
) -> tuple[BankStatement, bool]:
    """Store a statement file and queue its import (unless the caller imports it itself, as
    the CLI does); commits. The same bytes for the same account return the statement stored
    first (``False``: nothing new)."""
    account = get_account_for(session, user, account_id) if user else session.get(BankAccount, account_id)
    if account is None:
        raise NotFound(N_("No such bank account."))
    _check_file(data, format, source)
    digest = hashlib.sha256(data).hexdigest()
    new_id = insert_ignore(
        session,
        BankStatement,
        {
            "bank_account_id": account_id,
            "sha256": digest,
            "filename": _clean_filename(filename),
            "requested_format": format,
            "format": "",
            "source": source,
            "content": data,
            "status": StatementStatus.QUEUED.value,
            "error": "",
            "uploaded_by_id": user.id if user else None,
            "created_at": utcnow(),
            "updated_at": utcnow(),
            "counts": {},
        },
        conflict_columns=["bank_account_id", "sha256"],
        returning="id",
    )
    statement = session.exec(
        select(BankStatement).where(
            BankStatement.bank_account_id == account_id, BankStatement.sha256 == digest
        )
    ).one()
    if new_id is not None:
        audit.record(
            session,
            actor,
            action="bank_statement.import",
            object_type="bank_statement",
            object_id=new_id,
            after={"bank_account_id": account_id, "filename": statement.filename, "sha256": digest},
        )
        if queue:
            enqueue_after_commit(session, IMPORT_TASK, statement_id=new_id)
    session.commit()
    return statement, new_id is not None


def _check_file(data: bytes, format: str, source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown statement source {source!r}")
    if format not in FORMATS:
        raise InvalidInput(N_("Unknown statement format."), field="format")
    if not data.strip():
        raise InvalidInput(N_("The statement file is empty."), field="file")
    if len(data) > MAX_STATEMENT_BYTES:
        raise InvalidInput(N_("A statement file may be at most 10 MB."), field="file")


def _clean_filename(name: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    return "".join(c for c in base if c.isprintable())[:200] or "statement"


# --- the review queue: confirming a suggestion ---------------------------------------------------


@dataclass(frozen=True)
class Review:
    """Where a line's money went: its payment, that payment's suspense item (the review queue)
    if it has one, and the request the matcher suggests."""

    line: StatementLine
    payment: Payment | None
    item: SuspenseItem | None
    suggested: PaymentRequest | None


def reviews(session: Session, lines: list[StatementLine]) -> dict[int, Review]:
    """Line id → its review state, for the lines shown on a page (three queries in all)."""
    payment_ids = [line.payment_id for line in lines if line.payment_id]
    payments = {p.id: p for p in session.exec(select(Payment).where(col(Payment.id).in_(payment_ids)))}
    items = {
        item.payment_id: item
        for item in session.exec(select(SuspenseItem).where(col(SuspenseItem.payment_id).in_(payment_ids)))
    }
    request_ids = [line.suggested_request_id for line in lines if line.suggested_request_id]
    suggested = {
        request.id: request
        for request in session.exec(select(PaymentRequest).where(col(PaymentRequest.id).in_(request_ids)))
    }
    return {
        line.id or 0: Review(
            line,
            payments.get(line.payment_id),
            items.get(line.payment_id or 0),
            suggested.get(line.suggested_request_id or 0),
        )
        for line in lines
    }


@dataclass(frozen=True)
class Suggestion:
    """What the matcher suggested for the statement line that brought a payment in."""

    request: PaymentRequest
    confidence: float
    statement_id: int


def suggestions_for(session: Session, payment_ids: list[int]) -> dict[int, Suggestion]:
    """Payment id → its statement line's suggestion, for the review queue (one query)."""
    rows = session.exec(
        select(StatementLine, PaymentRequest)
        .join(PaymentRequest, col(PaymentRequest.id) == StatementLine.suggested_request_id)
        .where(col(StatementLine.payment_id).in_(payment_ids))
    )
    found: dict[int, Suggestion] = {}
    for line, request in rows:
        found[line.payment_id or 0] = Suggestion(request, line.confidence, line.statement_id)
    return found


def confirm_suggestion(
    session: Session, operator: User, line_id: int, *, note: str = "", actor: audit.Actor
) -> SuspenseItem:
    """An operator confirms the matcher's suggestion: the line's payment, waiting in suspense,
    is assigned to the suggested request (audited by the suspense queue). Commits."""
    if operator.role != Role.OPERATOR:
        raise PermissionDenied(N_("Only operators can do this."))
    line = session.get(StatementLine, line_id)
    if line is None:
        raise NotFound(N_("No such statement line."))
    item = (
        session.exec(select(SuspenseItem).where(SuspenseItem.payment_id == line.payment_id)).first()
        if line.payment_id
        else None
    )
    if line.suggested_request_id is None or item is None:
        raise InvalidInput(N_("This line has no suggestion waiting to be confirmed."))
    reason = note or f"suggestion of statement {line.statement_id} line {line.position} confirmed"
    return requests.assign_suspense(
        session, operator, item.id or 0, request_id=line.suggested_request_id, note=reason, actor=actor
    )
