"""Refunds: money going back to whoever paid, through the card processor or by bank transfer.

Rules:

* the total refunded never exceeds what was paid: a refund first reserves its amount on the
  payment with one conditional UPDATE (``refunded_vnd + x <= amount_vnd``), so concurrent
  refunds can only share what is left and the others get a 409;
* the money is held at once: money already held as a refund due (an overpayment, a payment
  after expiry, a suspense item marked for refund) is taken first, the rest is moved from the
  payee's account to refunds due (a payee whose balance no longer covers it cannot refund:
  409), so it cannot be paid out meanwhile;
* the refund posts when the money has gone: a card refund when the processor confirms it (its
  webhook, or a look at the refund by the sync job), a bank transfer when the bank confirms
  its payout line (payments.payouts). A refund that fails releases the hold and the
  reservation: the money is where it was;
* a card refund reaches the processor through a job, with an idempotency key per refund; if
  the processor cannot be reached the refund stays pending and is tried again, waiting
  twice as long each time (CHOSO_REFUND_RETRY_SECONDS … CHOSO_REFUND_RETRY_MAX_SECONDS);
* who: the payee organisation's staff or an operator (operators alone for payments nobody
  claimed), with a reason, audited; a replay of the same Idempotency-Key returns the first
  refund. The payer gets a notification and a credit note.

Lock order: payment request → payment → refund → ledger accounts.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from choso import audit
from choso.db import lock_rows, utcnow
from choso.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.jobs import enqueue_after_commit
from choso.money import Vnd
from choso.settings import get_settings
from choso.text import NoControlCharacters
from market.models import Role, User
from payments import cards, ledger, receipts, requests
from payments.errors import IdempotencyKeyReused, InsufficientFunds
from payments.models import Payment, PaymentRequest, PaymentStatus, Refund, RefundMethod, RefundStatus
from payments.posting_rules import transfer

SUBMIT_TASK = "payments.submit_card_refund"
SYNC_TASK = "payments.sync_card_refunds"
REFUNDABLE = (PaymentStatus.SETTLED, PaymentStatus.REFUND_DUE)
# While one submission waits for the processor, nobody else submits the same refund.
SUBMISSION_LEASE = timedelta(minutes=2)
AUTOMATIC_REASON = "automatic: card payment not owed (paid twice, or after the request closed)"

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=500), NoControlCharacters
]
HolderName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100), NoControlCharacters
]


class RefundIn(BaseModel):
    """A refund: the amount (all that is left when omitted), why, and for a bank-transfer
    payment the payer's account to send it to."""

    model_config = ConfigDict(extra="forbid")

    amount_vnd: Vnd | None = None
    reason: Reason
    bank_bin: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None
    account_number: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6,19}$")] | None = (
        None
    )
    holder_name: HolderName | None = None

    @field_validator("bank_bin")
    @classmethod
    def _known_bank(cls, value: str | None) -> str | None:
        from payments import banks

        if value is not None and not banks.is_known_bin(value):
            raise ValueError(N_("This is not a bank on the NAPAS list."))
        return value

    @model_validator(mode="after")
    def _whole_destination(self) -> RefundIn:
        given = [self.bank_bin is not None, self.account_number is not None, self.holder_name is not None]
        if any(given) and not all(given):
            raise ValueError(N_("Give the bank, the account number and the holder's name together."))
        return self


# --- errors -------------------------------------------------------------------------------------


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class RefundNotCovered(Conflict):
    code = "refund_not_covered"


class PaymentNotRefundable(Conflict):
    code = "payment_not_refundable"


# --- asking for a refund ------------------------------------------------------------------------


def create_refund(
    session: Session, user: User, payment_id: int, data: RefundIn, *, idempotency_key: str, actor: audit.Actor
) -> Refund:
    """A refund asked for by the payee's staff or an operator. Commits."""
    payment, request = _payment_to_refund(session, user, payment_id)
    print_ = _fingerprint(payment_id, data)
    replay = _by_key(session, user.id or 0, idempotency_key)
    if replay is not None:
        return _same_or_conflict(replay, print_)
    method = RefundMethod.CARD if payment.channel == "card" else RefundMethod.BANK_TRANSFER
    if method == RefundMethod.BANK_TRANSFER and data.bank_bin is None:
        raise InvalidInput(N_("Give the payer's bank account to send the refund to."), field="account_number")
    amount = data.amount_vnd or payment.amount_vnd - payment.refunded_vnd
    try:
        refund = _open(
            session,
            payment,
            request,
            Refund(
                payment_id=payment_id,
                request_id=payment.request_id,
                method=method,
                amount_vnd=amount,
                reason=data.reason,
                created_by_id=user.id,
                idempotency_key=idempotency_key,
                fingerprint=print_,
                bank_bin=data.bank_bin or "",
                account_number=data.account_number or "",
                holder_name=data.holder_name or "",
            ),
        )
        _audit(session, actor, "refund.create", refund, before=None)
        session.commit()
    except IntegrityError:  # the same key, committed by a concurrent request
        session.rollback()
        replay = _by_key(session, user.id or 0, idempotency_key)
        if replay is None:
            raise
        return _same_or_conflict(replay, print_)
    return refund


def refund_automatically(session: Session, payment: Payment, *, amount_vnd: int) -> Refund | None:
    """Send back card money that is not owed, as soon as it arrives (flush only)."""
    if payment.channel != "card" or amount_vnd <= 0:
        return None
    request = session.get(PaymentRequest, payment.request_id) if payment.request_id else None
    refund = _open(
        session,
        payment,
        request,
        Refund(
            payment_id=payment.id or 0,
            request_id=payment.request_id,
            method=RefundMethod.CARD,
            amount_vnd=amount_vnd,
            reason=AUTOMATIC_REASON,
        ),
    )
    _audit(session, audit.SYSTEM, "refund.create", refund, before=None)
    return refund


def _open(session: Session, payment: Payment, request: PaymentRequest | None, refund: Refund) -> Refund:
    """Reserve, hold and record a refund (flush only)."""
    if refund.amount_vnd <= 0 or not _reserve(session, payment.id or 0, refund.amount_vnd):
        session.refresh(payment)
        if payment.status not in REFUNDABLE:
            raise PaymentNotRefundable(N_("This payment cannot be refunded (it is in suspense or refunded)."))
        left = payment.amount_vnd - payment.refunded_vnd
        raise RefundExceedsPayment(
            N_("Refunds would exceed what was paid: at most %(left)s can still be refunded."),
            params={"left": format_vnd(left)},
        )
    session.refresh(payment)
    held = session.exec(
        select(func.coalesce(func.sum(Refund.from_due_vnd), 0)).where(
            Refund.payment_id == payment.id, Refund.status != RefundStatus.FAILED
        )
    ).one()
    refund.from_due_vnd = min(refund.amount_vnd, max(0, payment.excess_vnd - int(held)))
    rest = refund.amount_vnd - refund.from_due_vnd
    if rest:
        refund.payee_account = _payee_account(session, payment, request)
    if refund.method == RefundMethod.CARD:
        refund.next_attempt_at = utcnow()
    session.add(refund)
    session.flush()
    if rest:
        _hold(session, refund, rest)
    if refund.method == RefundMethod.CARD:
        enqueue_after_commit(session, SUBMIT_TASK, refund_id=refund.id)
    return refund


def _reserve(session: Session, payment_id: int, amount_vnd: int) -> bool:
    """The one conditional UPDATE that keeps refunds within what was paid."""
    table = Payment.__table__  # type: ignore[attr-defined]
    result = session.connection().execute(
        table.update()
        .where(
            table.c.id == payment_id,
            table.c.status.in_([status.value for status in REFUNDABLE]),
            table.c.refunded_vnd + amount_vnd <= table.c.amount_vnd,
        )
        .values(refunded_vnd=table.c.refunded_vnd + amount_vnd)
    )
    return result.rowcount == 1


def _unreserve(session: Session, payment_id: int, amount_vnd: int) -> None:
    table = Payment.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        table.update().where(table.c.id == payment_id).values(refunded_vnd=table.c.refunded_vnd - amount_vnd)
    )


def _payee_account(session: Session, payment: Payment, request: PaymentRequest | None) -> str:
    if request is None:  # only held refunds dues have no request, and they are taken first
        raise PaymentNotRefundable(N_("This payment cannot be refunded (it is in suspense or refunded)."))
    return requests.settlement_credit_account(session, request, payment)


def _hold(session: Session, refund: Refund, amount_vnd: int) -> None:
    try:
        ledger.post(
            session,
            key=f"refund:{refund.id}:hold",
            kind="refund_hold",
            memo=f"refund {refund.id} held for the payer",
            postings=transfer(debit=refund.payee_account, credit=ledger.REFUNDS_DUE, amount_vnd=amount_vnd),
            cause_type="refund",
            cause_id=refund.id,
        )
    except InsufficientFunds:
        raise RefundNotCovered(
            N_("The organisation's balance no longer covers this refund (the money was paid out).")
        ) from None


def _fingerprint(payment_id: int, data: RefundIn) -> str:
    canonical = json.dumps([payment_id, data.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_key(session: Session, user_id: int, key: str) -> Refund | None:
    return session.exec(
        select(Refund).where(Refund.created_by_id == user_id, Refund.idempotency_key == key)
    ).first()


def _same_or_conflict(refund: Refund, print_: str) -> Refund:
    if refund.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different refund."))
    return refund


# --- who may see and refund -------------------------------------------------------------------


def visible_payment(session: Session, user: User, payment_id: int) -> tuple[Payment, PaymentRequest | None]:
    """A payment and its request, for whoever may see the request (operators: any payment)."""
    payment = session.get(Payment, payment_id)
    request = session.get(PaymentRequest, payment.request_id) if payment and payment.request_id else None
    if payment is None or not (
        user.role == Role.OPERATOR or (request is not None and requests.can_see(user, request))
    ):
        raise NotFound(N_("No such payment."))
    return payment, request


def _payment_to_refund(
    session: Session, user: User, payment_id: int
) -> tuple[Payment, PaymentRequest | None]:
    payment, request = visible_payment(session, user, payment_id)
    if not (user.role == Role.OPERATOR or (request is not None and requests.can_manage(user, request))):
        raise PermissionDenied(N_("Only the payee's staff or an operator can refund a payment."))
    return payment, request


def refunds_of_payment(session: Session, user: User, payment_id: int) -> list[Refund]:
    visible_payment(session, user, payment_id)
    return list(session.exec(select(Refund).where(Refund.payment_id == payment_id).order_by(col(Refund.id))))


def get_refund_for(session: Session, user: User, refund_id: int) -> Refund:
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(N_("No such refund."))
    try:
        visible_payment(session, user, refund.payment_id)
    except NotFound:
        raise NotFound(N_("No such refund.")) from None
    return refund


# --- card refunds at the processor --------------------------------------------------------------


def submit_card_refund(session: Session, refund_id: int, *, now: datetime | None = None) -> str:
    """Send a pending card refund to the processor (a job). Its idempotency key makes a retry
    after a lost answer refund once; a lease keeps two workers from sending it together."""
    now = now or utcnow()
    if not _claim(session, refund_id, now):
        session.rollback()
        return "not due"
    refund = session.get_one(Refund, refund_id, populate_existing=True)
    intent_id = session.get_one(Payment, refund.payment_id).provider_txn_id
    session.commit()  # the claim holds; no transaction across the call
    try:
        info = cards.provider().create_refund(
            intent_id=intent_id,
            amount_vnd=refund.amount_vnd,
            metadata={
                "choso_refund_id": str(refund_id),
                "choso_payment_id": str(refund.payment_id),
                **cards.trace(),
            },
            idempotency_key=cards.idempotency_key("refund", refund_id),
        )
    except (cards.ProviderUnavailable, cards.CardPaymentsUnavailable) as error:
        return _retry_later(session, refund_id, str(error) or "unavailable", now)
    except cards.ProviderRefused as error:
        return _give_up(session, refund_id, str(error))
    # Its answer only says the processor took it: the refund posts on the processor's
    # confirmation (its webhook, or the sync job's look), like every other report of it.
    outcome = apply_provider_refund(session, info, confirms=False)
    session.commit()
    return outcome


def _claim(session: Session, refund_id: int, now: datetime) -> bool:
    table = Refund.__table__  # type: ignore[attr-defined]
    due = sa.or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now)
    result = session.connection().execute(
        table.update()
        .where(
            table.c.id == refund_id,
            table.c.status == RefundStatus.PENDING.value,
            table.c.method == RefundMethod.CARD.value,
            due,
        )
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + SUBMISSION_LEASE)
    )
    return result.rowcount == 1


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed submission: doubling, capped."""
    settings = get_settings()
    return float(
        min(
            settings.refund_retry_seconds * 2 ** min(max(attempts - 1, 0), 30),
            settings.refund_retry_max_seconds,
        )
    )


def _retry_later(session: Session, refund_id: int, error: str, now: datetime) -> str:
    lock_rows(session, Refund, [refund_id])
    refund = session.get_one(Refund, refund_id, populate_existing=True)
    if refund.status != RefundStatus.PENDING:
        session.rollback()
        return f"refund {refund_id} {refund.status}"
    delay = retry_delay(refund.attempts)
    refund.next_attempt_at = now + timedelta(seconds=delay)
    refund.last_error = error[:300]
    session.add(refund)
    session.commit()
    return f"processor unavailable; refund {refund_id} tried again in {delay:.0f} s"


def _give_up(session: Session, refund_id: int, error: str) -> str:
    refund = session.get_one(Refund, refund_id)
    lock_rows(session, Payment, [refund.payment_id])
    lock_rows(session, Refund, [refund_id])
    session.refresh(refund)
    if refund.status in (RefundStatus.PENDING, RefundStatus.SUBMITTED):
        fail(session, refund, error=error)
    session.commit()
    return f"refund {refund_id} refused by the processor: {error}"


def retry_due_card_refunds(session: Session, *, now: datetime | None = None, batch: int = 50) -> int:
    """The periodic job: submit the pending card refunds whose wait is over."""
    now = now or utcnow()
    due = session.exec(
        select(Refund.id)
        .where(
            Refund.status == RefundStatus.PENDING,
            Refund.method == RefundMethod.CARD,
            col(Refund.next_attempt_at) <= now,
        )
        .order_by(col(Refund.next_attempt_at))
        .limit(batch)
    ).all()
    session.commit()
    return sum(submit_card_refund(session, refund_id or 0, now=now) != "not due" for refund_id in due)


def sync_card_refunds(session: Session, *, batch: int = 50) -> int:
    """The periodic job: ask the processor about submitted refunds, in case a webhook was lost."""
    rows = session.exec(
        select(Refund.id, Refund.provider_refund_id)
        .where(
            Refund.status == RefundStatus.SUBMITTED,
            Refund.method == RefundMethod.CARD,
            col(Refund.provider_refund_id).is_not(None),
        )
        .order_by(col(Refund.id))
        .limit(batch)
    ).all()
    session.commit()
    settled = 0
    for _refund_id, provider_refund_id in rows:
        try:
            info = cards.provider().retrieve_refund(provider_refund_id or "")
        except (cards.ProviderUnavailable, cards.ProviderRefused, cards.CardPaymentsUnavailable):
            continue
        settled += apply_provider_refund(session, info).endswith(("succeeded", "failed"))
        session.commit()
    return settled


def apply_provider_refund(session: Session, info: cards.RefundInfo, *, confirms: bool = True) -> str:
    """What the processor says of a refund (a webhook, a look; its answer to the creation,
    which does not ``confirm`` a success). Flush only; a final state is never left, so events
    in any order and any number of times act once."""
    refund = _refund_for_provider(session, info)
    if refund is None:
        return f"refund {info.id} is not ours"
    lock_rows(session, Payment, [refund.payment_id])
    lock_rows(session, Refund, [refund.id or 0])
    session.refresh(refund)
    if refund.provider_refund_id not in (None, info.id):
        return f"refund {info.id} names refund {refund.id}, which is {refund.provider_refund_id}"
    if refund.status in (RefundStatus.SUCCEEDED, RefundStatus.FAILED):
        return f"refund {refund.id} already {refund.status}"
    refund.provider_refund_id = info.id
    if info.status == "succeeded" and confirms:
        complete(session, refund)
    elif info.status in ("failed", "canceled"):
        fail(session, refund, error=info.failure_reason or info.status)
    else:
        refund.status = RefundStatus.SUBMITTED
        session.add(refund)
        session.flush()
    return f"refund {refund.id} {refund.status}"


def _refund_for_provider(session: Session, info: cards.RefundInfo) -> Refund | None:
    """Ours by the processor's id, or (its answer lost) by the id we put in its metadata."""
    found = session.exec(select(Refund).where(Refund.provider_refund_id == info.id)).first()
    if found is not None:
        return found
    raw = info.metadata.get("choso_refund_id", "")
    candidate = session.get(Refund, int(raw)) if raw.isdecimal() and len(raw) < 10 else None
    if candidate is None or candidate.method != RefundMethod.CARD:
        return None
    payment = session.get_one(Payment, candidate.payment_id)
    return candidate if payment.provider_txn_id == info.payment_intent else None


# --- the end of a refund ------------------------------------------------------------------------


def complete(session: Session, refund: Refund) -> None:
    """The money went back (flush only; the caller holds the payment and refund locks). A card
    refund posts here; a bank one was posted by its payout line."""
    if refund.method == RefundMethod.CARD:
        ledger.post(
            session,
            key=f"refund:{refund.id}:paid",
            kind="refund",
            memo=f"refund {refund.id} paid back by card",
            postings=transfer(
                debit=ledger.REFUNDS_DUE, credit=ledger.CARD_CLEARING, amount_vnd=refund.amount_vnd
            ),
            cause_type="refund",
            cause_id=refund.id,
        )
    before = {"status": refund.status}
    refund.status = RefundStatus.SUCCEEDED
    refund.completed_at = utcnow()
    session.add(refund)
    session.flush()
    payment = session.get_one(Payment, refund.payment_id, populate_existing=True)
    done = session.exec(
        select(func.coalesce(func.sum(Refund.amount_vnd), 0)).where(
            Refund.payment_id == payment.id, Refund.status == RefundStatus.SUCCEEDED
        )
    ).one()
    if int(done) >= payment.amount_vnd:
        payment.status = PaymentStatus.REFUNDED
        session.add(payment)
    if refund.request_id is not None:
        _credit_note_and_notices(session, refund, payment)
    _audit(session, audit.SYSTEM, "refund.complete", refund, before=before)
    session.flush()


def _credit_note_and_notices(session: Session, refund: Refund, payment: Payment) -> None:
    request = session.get_one(PaymentRequest, refund.request_id)
    note = receipts.issue(
        session, request, channel=payment.channel, kind="credit_note", amount_vnd=refund.amount_vnd
    )
    refund.credit_note_id = note.id
    session.add(refund)
    params = {"reference": request.reference_code, "amount": format_vnd(refund.amount_vnd)}
    if request.payer_user_id is not None:
        enqueue_after_commit(
            session,
            "market.deliver_notification",
            user_id=request.payer_user_id,
            kind="refund_completed",
            params=params,
            dedupe_key=f"refund_completed:{refund.id}",
        )
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=request.payee_organisation_id,
        kind="refund_completed",
        params=params,
        dedupe_key=f"refund_completed:{refund.id}",
    )


def fail(session: Session, refund: Refund, *, error: str) -> None:
    """The money did not go back: release the hold and the reservation (flush only; the
    caller holds the payment and refund locks)."""
    rest = refund.amount_vnd - refund.from_due_vnd
    if rest:
        ledger.post(
            session,
            key=f"refund:{refund.id}:release",
            kind="refund_release",
            memo=f"refund {refund.id} failed: held money released",
            postings=transfer(debit=ledger.REFUNDS_DUE, credit=refund.payee_account, amount_vnd=rest),
            cause_type="refund",
            cause_id=refund.id,
        )
    _unreserve(session, refund.payment_id, refund.amount_vnd)
    before = {"status": refund.status}
    refund.status = RefundStatus.FAILED
    refund.last_error = error[:300]
    refund.completed_at = utcnow()
    session.add(refund)
    _audit(session, audit.SYSTEM, "refund.fail", refund, before=before)
    session.flush()


def _audit(
    session: Session, actor: audit.Actor, action: str, refund: Refund, *, before: dict[str, object] | None
) -> None:
    audit.record(
        session,
        actor,
        action=action,
        object_type="refund",
        object_id=refund.id or 0,
        before=before,
        after={
            "payment_id": refund.payment_id,
            "amount_vnd": refund.amount_vnd,
            "method": refund.method,
            "status": refund.status,
            "reason": refund.reason,
            "error": refund.last_error,
        },
    )
