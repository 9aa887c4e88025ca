"""Payment requests and the money that arrives for them.

A request is open until the payments received reach its amount (paid), its time runs out
(expired) or its payee cancels it (cancelled). Several payments may arrive for one request:
their sum decides. Money is never lost: a payment for nobody goes to suspense for an
operator, a payment after expiry or cancellation is kept and marked for refund, and an
overpayment's excess is held as a refund due.

:func:`open_request` and :func:`apply_incoming_payment` only flush (orders, fee notices,
webhooks and statement imports compose them into their own transaction); the other public
functions are use cases and commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from choso import audit
from choso.db import lock_rows, utcnow
from choso.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.jobs import enqueue_after_commit
from choso.money import Vnd
from choso.text import NoControlCharacters
from market.models import Organisation, Role, User
from payments import causes, ledger, receipts
from payments.errors import IdempotencyKeyReused, RequestNotOpen
from payments.models import (
    BankAccount,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Receipt,
    RequestStatus,
    SuspenseItem,
    SuspenseStatus,
    WebhookEvent,
)
from payments.posting_rules import Posting, split
from payments.reference import new_reference_code, normalise_reference

Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NoControlCharacters
]
PayerName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120), NoControlCharacters]


class PaymentRequestIn(BaseModel):
    """A manual payment request (orders and fee notices open theirs themselves)."""

    model_config = ConfigDict(extra="forbid")

    amount_vnd: Vnd
    description: Description
    payer_name: PayerName = ""
    expires_in_hours: int = Field(default=72, ge=1, le=24 * 90)
    bank_account_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    payee_organisation_id: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Operators only: whom the request pays."
    )


# --- opening requests ---------------------------------------------------------------------------


def receiving_account(session: Session, organisation_id: int, bank_account_id: int | None) -> BankAccount:
    """The active bank account a request of ``organisation_id`` is paid into: the one named
    (the organisation's own, or the platform's), else the organisation's first."""
    query = select(BankAccount).where(col(BankAccount.is_active).is_(True))
    if bank_account_id is not None:
        account = session.exec(query.where(BankAccount.id == bank_account_id)).first()
        if account is None or account.organisation_id not in (organisation_id, None):
            raise InvalidInput(N_("No such bank account for this organisation."), field="bank_account_id")
        return account
    account = session.exec(
        query.where(BankAccount.organisation_id == organisation_id).order_by(col(BankAccount.id))
    ).first()
    if account is None:
        raise InvalidInput(N_("Register a bank account to receive payments first."), field="bank_account_id")
    return account


def open_request(
    session: Session,
    *,
    payee_organisation_id: int,
    bank_account_id: int | None,
    amount_vnd: int,
    description: str,
    expires_at: datetime,
    cause_type: str = "manual",
    cause_id: int | None = None,
    payer_name: str = "",
    payer_user_id: int | None = None,
    created_by_id: int | None = None,
    idempotency_key: str | None = None,
    fingerprint: str = "",
    access_token_hash: str | None = None,
) -> PaymentRequest:
    """Add an open request to the caller's transaction (flushed, not committed)."""
    account = receiving_account(session, payee_organisation_id, bank_account_id)
    request = PaymentRequest(
        reference_code=new_reference_code(),
        payee_organisation_id=payee_organisation_id,
        bank_account_id=account.id or 0,
        amount_vnd=amount_vnd,
        description=description,
        payer_name=payer_name,
        payer_user_id=payer_user_id,
        created_by_id=created_by_id,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        cause_type=cause_type,
        cause_id=cause_id,
        access_token_hash=access_token_hash,
        expires_at=expires_at,
    )
    session.add(request)
    session.flush()
    return request


def _payee_for(user: User, data: PaymentRequestIn) -> int:
    if user.role == Role.OPERATOR:
        if data.payee_organisation_id is None:
            raise InvalidInput(N_("Choose the organisation to be paid."), field="payee_organisation_id")
        return data.payee_organisation_id
    if user.role not in (Role.PRODUCER, Role.AGENCY_OFFICER) or user.organisation_id is None:
        raise PermissionDenied(N_("Your role does not allow this."))
    if data.payee_organisation_id not in (None, user.organisation_id):
        raise PermissionDenied(N_("You can only request payments for your own organisation."))
    return user.organisation_id


def _fingerprint(data: BaseModel) -> str:
    return hashlib.sha256(json.dumps(data.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def create_request(
    session: Session,
    user: User,
    data: PaymentRequestIn,
    *,
    idempotency_key: str,
    actor: audit.Actor | None = None,
) -> PaymentRequest:
    """A manual request by an organisation's staff (or an operator), audited. A replay of the
    same idempotency key returns the first request; the same key for other content is a 409."""
    payee = _payee_for(user, data)
    print_ = _fingerprint(data)
    replay = _by_idempotency_key(session, user.id or 0, idempotency_key)
    if replay is not None:
        return _same_request_or_conflict(replay, print_)
    try:
        request = open_request(
            session,
            payee_organisation_id=payee,
            bank_account_id=data.bank_account_id,
            amount_vnd=data.amount_vnd,
            description=data.description,
            payer_name=data.payer_name,
            expires_at=utcnow() + timedelta(hours=data.expires_in_hours),
            created_by_id=user.id,
            idempotency_key=idempotency_key,
            fingerprint=print_,
        )
        audit.record(
            session,
            actor or audit.Actor(user.id, str(user.role), user.organisation_id),
            action="payment_request.create",
            object_type="payment_request",
            object_id=request.id or 0,
            after={"amount_vnd": request.amount_vnd, "payee_organisation_id": payee},
        )
        session.commit()
    except IntegrityError:  # the same key, committed by a concurrent request
        session.rollback()
        replay = _by_idempotency_key(session, user.id or 0, idempotency_key)
        if replay is None:
            raise
        return _same_request_or_conflict(replay, print_)
    return request


def _by_idempotency_key(session: Session, user_id: int, key: str) -> PaymentRequest | None:
    return session.exec(
        select(PaymentRequest).where(
            PaymentRequest.created_by_id == user_id, PaymentRequest.idempotency_key == key
        )
    ).first()


def _same_request_or_conflict(request: PaymentRequest, print_: str) -> PaymentRequest:
    if request.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different request."))
    return request


# --- who may see a request ----------------------------------------------------------------------


def can_see(user: User, request: PaymentRequest) -> bool:
    return (
        user.role == Role.OPERATOR
        or (user.organisation_id is not None and user.organisation_id == request.payee_organisation_id)
        or (request.payer_user_id is not None and request.payer_user_id == user.id)
    )


def can_manage(user: User, request: PaymentRequest) -> bool:
    """Cancel, refund: the payee's staff or an operator, never the payer."""
    return user.role == Role.OPERATOR or (
        user.organisation_id is not None and user.organisation_id == request.payee_organisation_id
    )


def get_request_for(session: Session, user: User, request_id: int) -> PaymentRequest:
    """The request if ``user`` may see it; someone else's looks exactly like a missing one."""
    request = session.get(PaymentRequest, request_id)
    if request is None or not can_see(user, request):
        raise NotFound(N_("No such payment request."))
    return request


def list_requests_for(
    session: Session, user: User, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[PaymentRequest], int]:
    conditions = []
    if user.role != Role.OPERATOR:
        mine = [PaymentRequest.payer_user_id == user.id]
        if user.organisation_id is not None:
            mine.append(PaymentRequest.payee_organisation_id == user.organisation_id)
        from sqlalchemy import or_

        conditions.append(or_(*mine))
    if status:
        conditions.append(PaymentRequest.status == status)
    total = session.exec(select(func.count()).select_from(PaymentRequest).where(*conditions)).one()
    rows = session.exec(
        select(PaymentRequest)
        .where(*conditions)
        .order_by(col(PaymentRequest.created_at).desc(), col(PaymentRequest.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def payments_of(session: Session, request_id: int) -> list[Payment]:
    return list(
        session.exec(select(Payment).where(Payment.request_id == request_id).order_by(col(Payment.id)))
    )


# --- closing requests ---------------------------------------------------------------------------


def cancel_request(session: Session, user: User, request_id: int, *, actor: audit.Actor) -> PaymentRequest:
    request = get_request_for(session, user, request_id)
    if not can_manage(user, request):
        raise PermissionDenied(N_("Only the payee can cancel a payment request."))
    lock_rows(session, PaymentRequest, [request_id])
    session.refresh(request)
    if request.status != RequestStatus.OPEN:
        raise RequestNotOpen(N_("This payment request is no longer open."))
    _close(session, request, RequestStatus.CANCELLED)
    audit.record(
        session,
        actor,
        action="payment_request.cancel",
        object_type="payment_request",
        object_id=request_id,
        before={"status": "open"},
        after={"status": "cancelled"},
    )
    session.commit()
    return request


def _close(session: Session, request: PaymentRequest, status: RequestStatus) -> None:
    request.status = status
    request.closed_at = utcnow()
    session.add(request)
    session.flush()
    causes.handler_for(request.cause_type).on_closed(session, request)


def expire_one(session: Session, request_id: int, *, now: datetime | None = None) -> bool:
    """Expire one request if it is still open and due (the row lock orders it with payments)."""
    lock_rows(session, PaymentRequest, [request_id])
    request = session.get(PaymentRequest, request_id, populate_existing=True)
    now = now or utcnow()
    if request is None or request.status != RequestStatus.OPEN or request.expires_at > now:
        return False
    _close(session, request, RequestStatus.EXPIRED)
    return True


def expire_due_requests(session: Session, *, now: datetime | None = None, batch: int = 200) -> int:
    """The periodic job's use case: expire open requests whose time is up, one transaction each."""
    now = now or utcnow()
    due = session.exec(
        select(PaymentRequest.id)
        .where(PaymentRequest.status == RequestStatus.OPEN, col(PaymentRequest.expires_at) <= now)
        .order_by(col(PaymentRequest.id))
        .limit(batch)
    ).all()
    session.commit()
    expired = 0
    for request_id in due:
        expired += expire_one(session, request_id or 0, now=now)
        session.commit()
    return expired


# --- money arriving -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingPayment:
    """Money that a provider (bank webhook, statement, card) says arrived."""

    provider: str
    provider_txn_id: str
    amount_vnd: int
    received_at: datetime
    bank_account_id: int | None = None  # None for cards (card clearing)
    reference_code: str | None = None
    request_id: int | None = None  # a card payment knows its request
    memo: str = ""
    payer_name: str = ""
    bank_reference: str = ""
    channel: str = "vietqr"


def find_payment(session: Session, provider: str, provider_txn_id: str) -> Payment | None:
    return session.exec(
        select(Payment).where(Payment.provider == provider, Payment.provider_txn_id == provider_txn_id)
    ).first()


def apply_incoming_payment(session: Session, incoming: IncomingPayment) -> Payment:
    """Record a payment once and post it; flushes only. A replay returns the first row."""
    existing = find_payment(session, incoming.provider, incoming.provider_txn_id) or _same_bank_transaction(
        session, incoming
    )
    if existing is not None:
        return existing
    request = _request_for(session, incoming)
    source = ledger.bank(incoming.bank_account_id) if incoming.bank_account_id else ledger.CARD_CLEARING
    payment = Payment(
        provider=incoming.provider,
        provider_txn_id=incoming.provider_txn_id,
        channel=incoming.channel,
        request_id=request.id if request else None,
        bank_account_id=incoming.bank_account_id,
        amount_vnd=incoming.amount_vnd,
        memo=incoming.memo[:500],
        payer_name=incoming.payer_name[:120],
        bank_reference=incoming.bank_reference[:100],
        received_at=incoming.received_at,
        status=PaymentStatus.SUSPENSE,
    )
    session.add(payment)
    session.flush()
    reason = _unclaimed_reason(session, incoming, request)
    if request is None or reason is not None:
        payment.request_id = None
        postings = split(source, incoming.amount_vnd, [(ledger.SUSPENSE, incoming.amount_vnd)])
        session.add(SuspenseItem(payment_id=payment.id or 0, reason=reason))
    else:
        postings = _settle(session, request, payment, source)
    transaction = ledger.post(
        session,
        key=f"payment:{incoming.provider}:{incoming.provider_txn_id}",
        kind="payment",
        memo=f"{incoming.provider} {incoming.provider_txn_id}",
        postings=postings,
        cause_type="payment",
        cause_id=payment.id,
    )
    payment.ledger_transaction_id = transaction.id
    session.add(payment)
    session.flush()
    return payment


def _same_bank_transaction(session: Session, incoming: IncomingPayment) -> Payment | None:
    """The payment already recorded for this bank transaction from another source: a webhook
    and a statement line naming the same bank reference, account and amount are one transfer."""
    if not incoming.bank_reference or incoming.bank_account_id is None:
        return None
    return session.exec(
        select(Payment).where(
            Payment.bank_account_id == incoming.bank_account_id,
            Payment.bank_reference == incoming.bank_reference[:100],
            Payment.amount_vnd == incoming.amount_vnd,
        )
    ).first()


def _request_for(session: Session, incoming: IncomingPayment) -> PaymentRequest | None:
    if incoming.request_id is not None:
        request_id: int | None = incoming.request_id
    elif incoming.reference_code:
        request_id = session.exec(
            select(PaymentRequest.id).where(PaymentRequest.reference_code == incoming.reference_code)
        ).first()
    else:
        request_id = None
    if request_id is None:
        return None
    lock_rows(session, PaymentRequest, [request_id])  # serialises with expiry and other payments
    return session.get(PaymentRequest, request_id, populate_existing=True)


def _unclaimed_reason(
    session: Session, incoming: IncomingPayment, request: PaymentRequest | None
) -> str | None:
    if request is None:
        return "unknown reference" if incoming.reference_code else "no reference"
    if incoming.bank_account_id is not None and incoming.bank_account_id != request.bank_account_id:
        # The money reached an account that is not this request's: nobody may assume it is the payee's.
        return "paid into another bank account than the request's"
    return None


def settlement_credit_account(session: Session, request: PaymentRequest, payment: Payment) -> str:
    """The ledger account a payment's settlement credits: the payee's own account when the money
    went straight into the payee's bank account, otherwise the one the request's cause names."""
    if payment.bank_account_id is not None:
        account = session.get(BankAccount, payment.bank_account_id)
        if account is not None and account.organisation_id == request.payee_organisation_id:
            return ledger.direct(request.payee_organisation_id)
    return causes.handler_for(request.cause_type).credit_account(request)


def _settle(session: Session, request: PaymentRequest, payment: Payment, source: str) -> list[Posting]:
    """Count the payment towards its request; what is not owed is held for refund."""
    owed = request.outstanding_vnd if request.status == RequestStatus.OPEN else 0
    applied = min(payment.amount_vnd, owed)
    payment.excess_vnd = payment.amount_vnd - applied
    payment.status = PaymentStatus.SETTLED if applied else PaymentStatus.REFUND_DUE
    postings = split(
        source,
        payment.amount_vnd,
        [
            (settlement_credit_account(session, request, payment), applied),
            (ledger.REFUNDS_DUE, payment.excess_vnd),
        ],
    )
    if applied:
        request.received_vnd += applied
        if request.received_vnd >= request.amount_vnd:
            request.status = RequestStatus.PAID
            request.paid_at = request.closed_at = utcnow()
        session.add(request)
        session.flush()
        if request.status == RequestStatus.PAID:
            receipts.issue(session, request, channel=payment.channel)
            causes.handler_for(request.cause_type).on_paid(session, request)
    _notify_payee(session, request, payment)
    return postings


def _notify_payee(session: Session, request: PaymentRequest, payment: Payment) -> None:
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=request.payee_organisation_id,
        kind="payment_received",
        params={"reference": request.reference_code, "amount": format_vnd(payment.amount_vnd)},
        dedupe_key=f"payment_received:{payment.id}",
    )


# --- suspense -----------------------------------------------------------------------------------


def list_suspense(
    session: Session, *, status: str | None = "open", limit: int = 50, offset: int = 0
) -> tuple[list[tuple[SuspenseItem, Payment]], int]:
    conditions = [SuspenseItem.status == status] if status else []
    total = session.exec(select(func.count()).select_from(SuspenseItem).where(*conditions)).one()
    rows = session.exec(
        select(SuspenseItem, Payment)
        .join(Payment, col(Payment.id) == SuspenseItem.payment_id)
        .where(*conditions)
        .order_by(col(SuspenseItem.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [(item, payment) for item, payment in rows], int(total)


def _open_suspense(session: Session, operator: User, item_id: int) -> tuple[SuspenseItem, Payment]:
    if operator.role != Role.OPERATOR:
        raise PermissionDenied(N_("Only operators can do this."))
    lock_rows(session, SuspenseItem, [item_id])
    item = session.get(SuspenseItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(N_("No such suspense item."))
    if item.status != SuspenseStatus.OPEN:
        raise Conflict(N_("This item has already been resolved."))
    return item, session.get_one(Payment, item.payment_id)


def assign_suspense(
    session: Session, operator: User, item_id: int, *, request_id: int, note: str, actor: audit.Actor
) -> SuspenseItem:
    """An operator decides that an unclaimed payment pays ``request_id``."""
    item, payment = _open_suspense(session, operator, item_id)
    lock_rows(session, PaymentRequest, [request_id])
    request = session.get(PaymentRequest, request_id, populate_existing=True)
    if request is None:
        raise NotFound(N_("No such payment request."))
    payment.request_id = request.id
    postings = _settle(session, request, payment, ledger.SUSPENSE)
    ledger.post(
        session,
        key=f"suspense:{item.id}:assign",
        kind="suspense_assign",
        memo=f"suspense {item.id} → request {request_id}",
        postings=postings,
        cause_type="suspense_item",
        cause_id=item.id,
    )
    _resolve(session, item, SuspenseStatus.ASSIGNED, operator, note)
    audit.record(
        session,
        actor,
        action="suspense.assign",
        object_type="suspense_item",
        object_id=item.id or 0,
        before={"status": "open"},
        after={"status": "assigned", "request_id": request_id, "note": note},
    )
    session.add(payment)
    session.commit()
    return item


def refund_suspense(
    session: Session, operator: User, item_id: int, *, note: str, actor: audit.Actor
) -> SuspenseItem:
    """An operator decides that an unclaimed payment goes back to its payer."""
    item, payment = _open_suspense(session, operator, item_id)
    ledger.post(
        session,
        key=f"suspense:{item.id}:refund",
        kind="suspense_refund",
        memo=f"suspense {item.id} → refund",
        postings=split(ledger.SUSPENSE, payment.amount_vnd, [(ledger.REFUNDS_DUE, payment.amount_vnd)]),
        cause_type="suspense_item",
        cause_id=item.id,
    )
    payment.status = PaymentStatus.REFUND_DUE
    payment.excess_vnd = payment.amount_vnd
    session.add(payment)
    _resolve(session, item, SuspenseStatus.REFUND, operator, note)
    audit.record(
        session,
        actor,
        action="suspense.refund",
        object_type="suspense_item",
        object_id=item.id or 0,
        before={"status": "open"},
        after={"status": "refund", "note": note},
    )
    session.commit()
    return item


def _resolve(session: Session, item: SuspenseItem, status: SuspenseStatus, operator: User, note: str) -> None:
    item.status = status
    item.resolved_by_id = operator.id
    item.resolved_at = utcnow()
    item.note = note[:500]
    session.add(item)
    session.flush()


def settle_bank_credits(session: Session, credits: Sequence[IncomingPayment]) -> list[Payment]:
    """Apply several incoming payments in one transaction (statement imports, tests)."""
    payments = [apply_incoming_payment(session, credit) for credit in credits]
    session.commit()
    return payments


def vietqr_payload(session: Session, request: PaymentRequest) -> str:
    """The VietQR a payer scans: the request's bank account, what is still owed, and a memo
    that starts with the reference code (ASCII, at most 25 characters)."""
    from payments import vietqr

    account = session.get_one(BankAccount, request.bank_account_id)
    return vietqr.encode(
        bin=account.bank_bin,
        account=account.account_number,
        amount=request.outstanding_vnd or request.amount_vnd,
        purpose=vietqr.qr_purpose(request.reference_code, request.description),
    )


# --- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestView:
    """A request with what its pay page shows: whom it pays, into which account, what arrived."""

    request: PaymentRequest
    payee: Organisation
    account: BankAccount
    payments: list[Payment]
    receipts: list[Receipt]


def request_view(session: Session, user: User, request_id: int) -> RequestView:
    """Everything the pay page shows, if ``user`` may see the request (else NotFound)."""
    request = get_request_for(session, user, request_id)
    return RequestView(
        request=request,
        payee=session.get_one(Organisation, request.payee_organisation_id),
        account=session.get_one(BankAccount, request.bank_account_id),
        payments=payments_of(session, request_id),
        receipts=receipts.for_request(session, request_id),
    )


def payee_names(session: Session, rows: Sequence[PaymentRequest]) -> dict[int, str]:
    """Organisation id → name, for the payees of ``rows`` (one query for a whole list)."""
    ids = {row.payee_organisation_id for row in rows}
    if not ids:
        return {}
    found = session.exec(select(Organisation.id, Organisation.name).where(col(Organisation.id).in_(ids)))
    return {organisation_id or 0: name for organisation_id, name in found}


def find_request_by_reference(session: Session, text: str) -> PaymentRequest | None:
    """The request whose reference code a person typed as ``text`` (any case, separators
    ignored); None if ``text`` is not a valid code or no request has it."""
    code = normalise_reference(text)
    if code is None:
        return None
    return session.exec(select(PaymentRequest).where(PaymentRequest.reference_code == code)).first()


def get_receipt_for(session: Session, user: User, receipt_id: int) -> Receipt:
    """A receipt, for whoever may see its request; anyone else's looks like a missing one."""
    receipt = session.get(Receipt, receipt_id)
    request = session.get(PaymentRequest, receipt.request_id) if receipt is not None else None
    if receipt is None or request is None or not can_see(user, request):
        raise NotFound(N_("No such receipt."))
    return receipt


def transfer_pending(session: Session, event_id: int) -> bool:
    """Whether a stored bank notification still waits for the job that processes it."""
    event = session.get(WebhookEvent, event_id)
    return event is not None and event.processed_at is None
