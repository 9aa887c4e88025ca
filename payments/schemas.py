"""What the payments API returns (inputs are the In models of each use-case module)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from choso.text import NoControlCharacters
from payments.models import BankAccount, Payment, PaymentRequest, Receipt, SuspenseItem

Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), NoControlCharacters]


class PaymentRequestOut(BaseModel):
    id: int
    reference_code: str
    payee_organisation_id: int
    bank_account_id: int
    amount_vnd: int
    received_vnd: int
    outstanding_vnd: int
    underpaid: bool
    currency: str
    description: str
    payer_name: str
    status: str
    cause_type: str
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None

    @classmethod
    def of(cls, request: PaymentRequest) -> PaymentRequestOut:
        fields = {name: getattr(request, name) for name in cls.model_fields if name not in ("id",)}
        return cls(id=request.id or 0, **fields)


class PaymentOut(BaseModel):
    id: int
    provider: str
    channel: str
    request_id: int | None
    amount_vnd: int
    excess_vnd: int
    status: str
    memo: str
    bank_reference: str
    received_at: datetime

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(id=payment.id or 0, **{n: getattr(payment, n) for n in cls.model_fields if n != "id"})


class ReceiptOut(BaseModel):
    id: int
    kind: str
    series: str
    number: int
    request_id: int
    amount_vnd: int
    amount_in_words: str
    payer_name: str
    verification_url: str
    issued_at: datetime

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptOut:
        return cls(
            id=receipt.id or 0,
            kind=receipt.kind,
            series=receipt.content["series"],
            number=receipt.number,
            request_id=receipt.request_id,
            amount_vnd=receipt.amount_vnd,
            amount_in_words=receipt.content["amount_in_words"],
            payer_name=receipt.payer_name,
            verification_url=receipt.content["verification_url"],
            issued_at=receipt.issued_at,
        )


class BankAccountOut(BaseModel):
    id: int
    bank_bin: str
    bank_name: str
    account_number: str
    holder_name: str
    is_active: bool

    @classmethod
    def of(cls, account: BankAccount) -> BankAccountOut:
        from payments import banks

        bank = banks.find_bank(account.bank_bin)
        return cls(
            id=account.id or 0,
            bank_bin=account.bank_bin,
            bank_name=bank.short_name if bank else account.bank_bin,
            account_number=account.account_number,
            holder_name=account.holder_name,
            is_active=account.is_active,
        )


class SuspenseItemOut(BaseModel):
    id: int
    status: str
    reason: str
    note: str
    payment: PaymentOut
    created_at: datetime

    @classmethod
    def of(cls, item: SuspenseItem, payment: Payment) -> SuspenseItemOut:
        return cls(
            id=item.id or 0,
            status=item.status,
            reason=item.reason,
            note=item.note,
            payment=PaymentOut.of(payment),
            created_at=item.created_at,
        )


class AssignSuspenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: int = Field(ge=1, le=2**31 - 1)
    note: Note = ""


class RefundSuspenseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = ""


class SimulateTransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_vnd: Annotated[int, Field(strict=True, gt=0, le=10**12)] | None = None


class WebhookAck(BaseModel):
    success: bool = True
