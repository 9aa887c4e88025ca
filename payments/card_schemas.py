"""What the API returns for card payments, refunds and payouts (inputs are the In models of
payments.refunds and payments.payouts, and :class:`CardConfirmIn` here)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from payments.cards import Checkout
from payments.models import PayoutAccount, PayoutBatch, Refund
from payments.payouts import LineView

# What Stripe.js hands the page: a payment method (pm_…) or, from localstripe's stand-in, a
# card (card_…). Never a card number: nothing else is accepted.
PaymentMethodId = Annotated[str, StringConstraints(pattern=r"^(pm|card|src)_[A-Za-z0-9]{6,64}$")]


class CardConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethodId


class CardCheckoutOut(BaseModel):
    """An attempt to pay by card, and what the payer's browser needs to go on with Stripe.js."""

    attempt_id: int
    request_id: int
    amount_vnd: int
    status: str
    intent_id: str | None
    client_secret: str | None
    publishable_key: str
    stripe_js_url: str
    last_error: str

    @classmethod
    def of(cls, checkout: Checkout) -> CardCheckoutOut:
        attempt, intent = checkout.attempt, checkout.intent
        return cls(
            attempt_id=attempt.id or 0,
            request_id=attempt.request_id,
            amount_vnd=attempt.amount_vnd,
            status=attempt.status,
            intent_id=attempt.intent_id,
            client_secret=intent.client_secret if intent and attempt.status != "succeeded" else None,
            publishable_key=checkout.publishable_key,
            stripe_js_url=checkout.stripe_js_url,
            last_error=attempt.last_error,
        )


class RefundOut(BaseModel):
    id: int
    payment_id: int
    request_id: int | None
    method: str
    status: str
    amount_vnd: int
    reason: str
    attempts: int
    last_error: str
    credit_note_id: int | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(id=refund.id or 0, **{n: getattr(refund, n) for n in cls.model_fields if n != "id"})


class PayoutAccountOut(BaseModel):
    organisation_id: int
    bank_account_id: int
    updated_at: datetime

    @classmethod
    def of(cls, account: PayoutAccount) -> PayoutAccountOut:
        return cls(
            organisation_id=account.organisation_id,
            bank_account_id=account.bank_account_id,
            updated_at=account.updated_at,
        )


class PayoutLineOut(BaseModel):
    id: int
    kind: str
    organisation_id: int | None
    refund_id: int | None
    bank_bin: str
    bank_name: str
    account_number: str
    holder_name: str
    amount_vnd: int
    reference: str
    status: str
    bank_reference: str
    vietqr: str

    @classmethod
    def of(cls, view: LineView) -> PayoutLineOut:
        line = view.line
        return cls(
            id=line.id or 0,
            kind=line.kind,
            organisation_id=line.organisation_id,
            refund_id=line.refund_id,
            bank_bin=line.bank_bin,
            bank_name=view.bank_name,
            account_number=line.account_number,
            holder_name=line.holder_name,
            amount_vnd=line.amount_vnd,
            reference=line.reference,
            status=line.status,
            bank_reference=line.bank_reference,
            vietqr=view.vietqr,
        )


class PayoutBatchOut(BaseModel):
    id: int
    organisation_id: int | None
    source_bank_account_id: int
    status: str
    total_vnd: int
    created_by_id: int
    approved_by_id: int | None
    created_at: datetime
    approved_at: datetime | None
    sent_at: datetime | None
    settled_at: datetime | None
    lines: list[PayoutLineOut]

    @classmethod
    def of(cls, batch: PayoutBatch, lines: list[LineView]) -> PayoutBatchOut:
        fields = {n: getattr(batch, n) for n in cls.model_fields if n not in ("id", "lines")}
        return cls(id=batch.id or 0, lines=[PayoutLineOut.of(view) for view in lines], **fields)
