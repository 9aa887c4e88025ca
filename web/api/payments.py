"""Payment requests, payments, receipts, bank accounts and the suspense queue (JSON API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from market.models import Role, User
from payments import bank_accounts, qr_render, receipts, requests, sandbox
from payments.bank_accounts import BankAccountIn
from payments.requests import PaymentRequestIn
from payments.schemas import (
    AssignSuspenseIn,
    BankAccountOut,
    PaymentOut,
    PaymentRequestOut,
    ReceiptOut,
    RefundSuspenseIn,
    SimulateTransferIn,
    SuspenseItemOut,
)
from web.actors import actor_of
from web.api.schemas import Page
from web.deps import DB, MAX_ID, ObjectId, api_role, api_user

router = APIRouter(tags=["payments"])
Caller = Annotated[User, Depends(api_user)]
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Staff = Annotated[User, Depends(api_role(Role.PRODUCER, Role.AGENCY_OFFICER, Role.OPERATOR))]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


@router.post("/payment-requests", status_code=201, response_model=PaymentRequestOut)
def create_payment_request(
    request: Request, data: PaymentRequestIn, user: Staff, session: DB, idempotency_key: IdempotencyKey
) -> PaymentRequestOut:
    """Ask for a payment to the caller's organisation. A retry with the same `Idempotency-Key`
    returns the same request; the same key with other content is a 409."""
    created = requests.create_request(
        session, user, data, idempotency_key=idempotency_key, actor=actor_of(request, user)
    )
    return PaymentRequestOut.of(created)


@router.get("/payment-requests", response_model=Page[PaymentRequestOut])
def list_payment_requests(
    user: Caller,
    session: DB,
    status: Annotated[str | None, Query(pattern="^(open|paid|expired|cancelled)$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PaymentRequestOut]:
    rows, total = requests.list_requests_for(session, user, status=status, limit=limit, offset=offset)
    return Page[PaymentRequestOut](
        items=[PaymentRequestOut.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/payment-requests/{request_id}", response_model=PaymentRequestOut)
def get_payment_request(request_id: ObjectId, user: Caller, session: DB) -> PaymentRequestOut:
    return PaymentRequestOut.of(requests.get_request_for(session, user, request_id))


@router.post("/payment-requests/{request_id}/cancel", response_model=PaymentRequestOut)
def cancel_payment_request(
    request_id: ObjectId, request: Request, user: Caller, session: DB
) -> PaymentRequestOut:
    cancelled = requests.cancel_request(session, user, request_id, actor=actor_of(request, user))
    return PaymentRequestOut.of(cancelled)


@router.get(
    "/payment-requests/{request_id}/qr.{image_format}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The VietQR image"}},
)
def payment_request_qr(
    request_id: ObjectId, image_format: Annotated[str, Path(pattern="^(png|svg)$")], user: Caller, session: DB
) -> Response:
    payload = requests.vietqr_payload(session, requests.get_request_for(session, user, request_id))
    media = "image/png" if image_format == "png" else "image/svg+xml"
    return Response(
        qr_render.render(payload, image_format), media_type=media, headers={"Cache-Control": "private"}
    )


@router.get("/payment-requests/{request_id}/payments", response_model=list[PaymentOut])
def payment_request_payments(request_id: ObjectId, user: Caller, session: DB) -> list[PaymentOut]:
    requests.get_request_for(session, user, request_id)
    return [PaymentOut.of(p) for p in requests.payments_of(session, request_id)]


@router.get("/payment-requests/{request_id}/receipts", response_model=list[ReceiptOut])
def payment_request_receipts(request_id: ObjectId, user: Caller, session: DB) -> list[ReceiptOut]:
    requests.get_request_for(session, user, request_id)
    return [ReceiptOut.of(r) for r in receipts.for_request(session, request_id)]


@router.post(
    "/payment-requests/{request_id}/simulate-transfer", status_code=202, response_model=dict[str, int]
)
def simulate_transfer(
    request_id: ObjectId, data: SimulateTransferIn, user: Caller, session: DB
) -> dict[str, int]:
    """Sandbox only: a signed SePay notification of a transfer paying this request."""
    return {"queued": sandbox.simulate_transfer(session, user, request_id, amount_vnd=data.amount_vnd)}


@router.get("/bank-accounts", response_model=list[BankAccountOut])
def list_bank_accounts(user: Caller, session: DB) -> list[BankAccountOut]:
    return [BankAccountOut.of(a) for a in bank_accounts.list_bank_accounts(session, user)]


@router.post("/bank-accounts", status_code=201, response_model=BankAccountOut)
def add_bank_account(data: BankAccountIn, request: Request, user: Caller, session: DB) -> BankAccountOut:
    account = bank_accounts.add_bank_account(session, user, data, actor=actor_of(request, user))
    return BankAccountOut.of(account)


@router.post("/bank-accounts/{account_id}/deactivate", response_model=BankAccountOut)
def deactivate_bank_account(
    account_id: ObjectId, request: Request, user: Caller, session: DB
) -> BankAccountOut:
    account = bank_accounts.deactivate_bank_account(session, user, account_id, actor=actor_of(request, user))
    return BankAccountOut.of(account)


@router.get("/suspense", response_model=Page[SuspenseItemOut])
def list_suspense(
    _operator: Operator,
    session: DB,
    status: Annotated[str | None, Query(pattern="^(open|assigned|refund)$")] = "open",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SuspenseItemOut]:
    rows, total = requests.list_suspense(session, status=status, limit=limit, offset=offset)
    return Page[SuspenseItemOut](
        items=[SuspenseItemOut.of(i, p) for i, p in rows], total=total, limit=limit, offset=offset
    )


@router.post("/suspense/{item_id}/assign", response_model=dict[str, str])
def assign_suspense(
    item_id: ObjectId, data: AssignSuspenseIn, request: Request, operator: Operator, session: DB
) -> dict[str, str]:
    item = requests.assign_suspense(
        session,
        operator,
        item_id,
        request_id=data.request_id,
        note=data.note,
        actor=actor_of(request, operator),
    )
    return {"status": item.status}


@router.post("/suspense/{item_id}/refund", response_model=dict[str, str])
def refund_suspense(
    item_id: ObjectId, data: RefundSuspenseIn, request: Request, operator: Operator, session: DB
) -> dict[str, str]:
    item = requests.refund_suspense(
        session, operator, item_id, note=data.note, actor=actor_of(request, operator)
    )
    return {"status": item.status}
