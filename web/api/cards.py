"""Card payments, refunds and payouts (JSON API).

Refunds, payout approval and the payout account need a recent password
(api_reauthenticated); every route is one call into the payments domain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from market.models import Role, User
from payments import cards, payouts, refunds
from payments.card_schemas import (
    CardCheckoutOut,
    CardConfirmIn,
    PayoutAccountOut,
    PayoutBatchOut,
    PayoutLineOut,
    RefundOut,
)
from payments.payouts import FailLineIn, PayoutAccountIn, PayoutBatchIn, SettleLineIn
from payments.refunds import RefundIn
from web.actors import actor_of
from web.api.schemas import ErrorOut
from web.deps import DB, MAX_ID, ObjectId, api_reauthenticated, api_role, api_user
from web.downloads import csv_attachment

router = APIRouter(tags=["cards, refunds and payouts"])
Caller = Annotated[User, Depends(api_user)]
STAFF = (Role.PRODUCER, Role.AGENCY_OFFICER, Role.OPERATOR)
Staff = Annotated[User, Depends(api_role(*STAFF))]
RecentStaff = Annotated[User, Depends(api_reauthenticated(*STAFF))]
RecentOrganisationStaff = Annotated[User, Depends(api_reauthenticated(Role.PRODUCER, Role.AGENCY_OFFICER))]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
]
CARD_ERRORS: dict[int | str, dict[str, Any]] = {
    402: {"model": ErrorOut, "description": "The card was declined"},
    503: {"model": ErrorOut, "description": "The card processor cannot be reached; nothing was charged"},
}


# --- cards --------------------------------------------------------------------------------------


@router.post(
    "/payment-requests/{request_id}/card-attempts",
    status_code=201,
    response_model=CardCheckoutOut,
    responses=CARD_ERRORS,
)
def start_card_payment(request_id: ObjectId, user: Caller, session: DB) -> CardCheckoutOut:
    """Pay an open request by card: a PaymentIntent for what is still owed (the caller's
    unfinished one if it still fits). Give `client_secret` to Stripe.js; card details go to
    Stripe, never here."""
    return CardCheckoutOut.of(cards.start_checkout(session, user, request_id))


@router.post("/card-attempts/{attempt_id}/confirm", response_model=CardCheckoutOut, responses=CARD_ERRORS)
def confirm_card_payment(
    attempt_id: ObjectId, data: CardConfirmIn, user: Caller, session: DB
) -> CardCheckoutOut:
    """Charge the attempt with a payment method made by Stripe.js. `requires_action` means
    the card asks for authentication (Stripe.js handles it, then call `complete`)."""
    return CardCheckoutOut.of(cards.confirm(session, user, attempt_id, payment_method=data.payment_method))


@router.post("/card-attempts/{attempt_id}/complete", response_model=CardCheckoutOut, responses=CARD_ERRORS)
def complete_card_payment(attempt_id: ObjectId, user: Caller, session: DB) -> CardCheckoutOut:
    """Ask Stripe how the attempt stands and record it (a success posts once, whoever reports it)."""
    return CardCheckoutOut.of(cards.complete(session, user, attempt_id))


# --- refunds ------------------------------------------------------------------------------------


@router.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut)
def create_refund(
    payment_id: ObjectId,
    data: RefundIn,
    request: Request,
    user: RecentStaff,
    session: DB,
    idempotency_key: IdempotencyKey,
) -> RefundOut:
    """Refund a payment in full or in part, with a reason (the payee's staff or an operator).
    Card payments go back through Stripe; bank transfers join the next payout batch of the
    account they arrived on. The total never exceeds what was paid (409)."""
    refund = refunds.create_refund(
        session, user, payment_id, data, idempotency_key=idempotency_key, actor=actor_of(request, user)
    )
    return RefundOut.of(refund)


@router.get("/payments/{payment_id}/refunds", response_model=list[RefundOut])
def list_refunds(payment_id: ObjectId, user: Caller, session: DB) -> list[RefundOut]:
    return [RefundOut.of(refund) for refund in refunds.refunds_of_payment(session, user, payment_id)]


@router.get("/refunds/{refund_id}", response_model=RefundOut)
def get_refund(refund_id: ObjectId, user: Caller, session: DB) -> RefundOut:
    return RefundOut.of(refunds.get_refund_for(session, user, refund_id))


# --- payouts ------------------------------------------------------------------------------------


@router.get("/payout-account", response_model=PayoutAccountOut | None)
def get_payout_account(user: Caller, session: DB) -> PayoutAccountOut | None:
    """The bank account the caller's organisation is paid out to (null: none chosen yet)."""
    account = payouts.get_payout_account(session, user)
    return PayoutAccountOut.of(account) if account else None


@router.put("/payout-account", response_model=PayoutAccountOut)
def set_payout_account(
    data: PayoutAccountIn, request: Request, user: RecentOrganisationStaff, session: DB
) -> PayoutAccountOut:
    """Choose one of the organisation's own active bank accounts (audited; members are told)."""
    return PayoutAccountOut.of(payouts.set_payout_account(session, user, data, actor=actor_of(request, user)))


def _batch_out(session: DB, batch_id: int, user: User) -> PayoutBatchOut:
    batch = payouts.get_batch_for(session, user, batch_id)
    return PayoutBatchOut.of(batch, payouts.line_views(payouts.lines_of(session, batch_id)))


@router.post("/payout-batches", status_code=201, response_model=PayoutBatchOut)
def create_payout_batch(data: PayoutBatchIn, request: Request, user: Staff, session: DB) -> PayoutBatchOut:
    """A draft of everything owed out of one bank account (the platform's: operators)."""
    batch = payouts.create_batch(session, user, data, actor=actor_of(request, user))
    return _batch_out(session, batch.id or 0, user)


@router.get("/payout-batches", response_model=list[PayoutBatchOut])
def list_payout_batches(
    user: Staff,
    session: DB,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[PayoutBatchOut]:
    rows = payouts.list_batches_for(session, user, limit=limit, offset=offset)
    return [
        PayoutBatchOut.of(batch, payouts.line_views(payouts.lines_of(session, batch.id or 0)))
        for batch in rows
    ]


@router.get("/payout-batches/{batch_id}", response_model=PayoutBatchOut)
def get_payout_batch(batch_id: ObjectId, user: Staff, session: DB) -> PayoutBatchOut:
    return _batch_out(session, batch_id, user)


@router.post("/payout-batches/{batch_id}/approve", response_model=PayoutBatchOut)
def approve_payout_batch(
    batch_id: ObjectId, request: Request, user: RecentStaff, session: DB
) -> PayoutBatchOut:
    """Four-eyes: by anyone allowed but the batch's creator (403). The money goes in transit."""
    payouts.approve_batch(session, user, batch_id, actor=actor_of(request, user))
    return _batch_out(session, batch_id, user)


@router.post("/payout-batches/{batch_id}/send", response_model=PayoutBatchOut)
def send_payout_batch(batch_id: ObjectId, request: Request, user: Staff, session: DB) -> PayoutBatchOut:
    """The batch was handed to the bank."""
    payouts.mark_sent(session, user, batch_id, actor=actor_of(request, user))
    return _batch_out(session, batch_id, user)


@router.post("/payout-batches/{batch_id}/cancel", response_model=PayoutBatchOut)
def cancel_payout_batch(batch_id: ObjectId, request: Request, user: Staff, session: DB) -> PayoutBatchOut:
    payouts.cancel_batch(session, user, batch_id, actor=actor_of(request, user))
    return _batch_out(session, batch_id, user)


@router.get(
    "/payout-batches/{batch_id}/lines.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The batch for the bank's bulk upload"}},
)
def export_payout_batch(batch_id: ObjectId, user: Staff, session: DB) -> Response:
    content = payouts.export_csv(session, user, batch_id)
    return csv_attachment(content, f"payout-{batch_id}.csv")


@router.post("/payout-lines/{line_id}/settle", response_model=PayoutLineOut)
def settle_payout_line(
    line_id: ObjectId, data: SettleLineIn, request: Request, user: Staff, session: DB
) -> PayoutLineOut:
    """The bank statement shows the transfer (its reference): the line is paid."""
    line = payouts.settle_line(session, user, line_id, data, actor=actor_of(request, user))
    return PayoutLineOut.of(payouts.line_views([line])[0])


@router.post("/payout-lines/{line_id}/fail", response_model=PayoutLineOut)
def fail_payout_line(
    line_id: ObjectId, data: FailLineIn, request: Request, user: Staff, session: DB
) -> PayoutLineOut:
    """The bank rejected the transfer: the money goes back where it came from."""
    line = payouts.fail_line(session, user, line_id, data, actor=actor_of(request, user))
    return PayoutLineOut.of(payouts.line_views([line])[0])
