"""Payout batch pages: what the platform owes, drawing a batch up, its lines (bank, account,
amount, reference, a VietQR per line), the CSV for the bank, four-eyes approval, and the
bank's confirmation line by line.

Rules are the API's (payments.payouts, web.api.cards): operators pay out of the platform's
accounts, an organisation's staff out of its own (its refunds by bank transfer); a batch is
visible to its handlers only and to anyone else it is a 404; its approval needs a recent
password and someone other than its creator (a refusal is shown on the batch's page). Every
lookup and change is one call into the payments domain; there is no SQL here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from market.models import Role, User
from payments import banks, payouts, qr_render
from payments.payouts import FailLineIn, PayoutBatchIn, SettleLineIn
from web.actors import actor_of
from web.deps import DB, MAX_ID, ObjectId, page_reauthenticated, page_role
from web.downloads import csv_attachment
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
STAFF = (Role.PRODUCER, Role.AGENCY_OFFICER, Role.OPERATOR)
Staff = Annotated[User, Depends(page_role(*STAFF))]
Approver = Annotated[User, Depends(page_reauthenticated(*STAFF))]

BATCH_STATUSES = {
    "draft": N_("Draft: waiting for approval"),
    "approved": N_("Approved: to send to the bank"),
    "sent": N_("Sent to the bank"),
    "settled": N_("Settled"),
    "cancelled": N_("Cancelled"),
}
LINE_STATUSES = {
    "pending": N_("Waiting for the bank"),
    "settled": N_("Paid"),
    "failed": N_("Rejected by the bank"),
}
LINE_KINDS = {"payout": N_("Payout"), "refund": N_("Refund")}
CHOOSE_ACCOUNT = N_("Choose the bank account to pay out of.")
BATCHES_PER_PAGE = 50


def _bank_names() -> dict[str, str]:
    return {bank.bin: bank.short_name for bank in banks.current_banks()}


# --- the list: what is owed, the batches, a new batch ---------------------------------------------


def _index_context(session: Session, user: User, page: int = 1) -> dict[str, Any]:
    # One row more than a page tells whether there is a next one, without counting them all.
    batches = payouts.list_batches_for(
        session, user, limit=BATCHES_PER_PAGE + 1, offset=(page - 1) * BATCHES_PER_PAGE
    )
    return {
        "owed": payouts.owed_for(session, user),
        "waiting_refunds": payouts.refunds_waiting_for(session, user),
        "batches": batches[:BATCHES_PER_PAGE],
        "page": page,
        "has_next": len(batches) > BATCHES_PER_PAGE,
        "sources": payouts.source_accounts(session, user),
        "bank_names": _bank_names(),
        "batch_statuses": BATCH_STATUSES,
        "errors": {},
    }


@router.get("/payouts", response_class=HTMLResponse)
def payouts_page(
    request: Request,
    session: DB,
    user: Staff,
    page: Annotated[int, Query(ge=1, le=MAX_ID // BATCHES_PER_PAGE)] = 1,
) -> HTMLResponse:
    return render(request, "payments/payouts.html", _index_context(session, user, page))


@router.post("/payouts", response_class=HTMLResponse)
async def create_batch(request: Request, session: DB, user: Staff) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create_batch, request, session, user, form)


def _create_batch(request: Request, session: Session, user: User, form: FormData) -> Response:
    chosen = form_text(form, "source_bank_account_id", 12)
    try:
        if not chosen.isdecimal() or not 1 <= int(chosen) <= MAX_ID:
            raise InvalidInput(CHOOSE_ACCOUNT, field="source_bank_account_id")
        data = PayoutBatchIn(source_bank_account_id=int(chosen))
        batch = payouts.create_batch(session, user, data, actor=actor_of(request, user))
    except DomainError as exc:
        session.rollback()
        context = {**_index_context(session, user), "errors": form_errors_from(exc)}
        return render(request, "payments/payouts.html", context, status=exc.status_code)
    return RedirectResponse(f"/payouts/{batch.id}", status_code=303)


# --- one batch --------------------------------------------------------------------------------------


def _batch_context(session: Session, user: User, batch_id: int) -> dict[str, Any]:
    view = payouts.batch_view(session, user, batch_id)
    return {
        "view": view,
        "batch": view.batch,
        "bank_names": _bank_names(),
        "batch_statuses": BATCH_STATUSES,
        "line_statuses": LINE_STATUSES,
        "line_kinds": LINE_KINDS,
        "is_creator": view.batch.created_by_id == user.id,
        "payable": view.batch.status in ("approved", "sent"),
        "errors": {},
        "values": {},
    }


@router.get("/payouts/{batch_id}", response_class=HTMLResponse)
def batch_page(batch_id: ObjectId, request: Request, session: DB, user: Staff) -> HTMLResponse:
    return render(request, "payments/payout_batch.html", _batch_context(session, user, batch_id))


def _act(
    request: Request, session: Session, user: User, batch_id: int, action: str, form: FormData
) -> Response:
    """Approve, send or cancel a batch, or settle or fail one of its lines; a refusal (four
    eyes, a state that does not allow it, bad input) is shown on the batch's page."""
    actor = actor_of(request, user)
    line_id = form_text(form, "line_id", 12)
    try:
        if action == "approve":
            payouts.approve_batch(session, user, batch_id, actor=actor)
        elif action == "send":
            payouts.mark_sent(session, user, batch_id, actor=actor)
        elif action == "cancel":
            payouts.cancel_batch(session, user, batch_id, actor=actor)
        else:
            line = _line_of_batch(session, user, batch_id, line_id)
            if action == "settle":
                paid = SettleLineIn(bank_reference=form_text(form, "bank_reference", 100))
                payouts.settle_line(session, user, line, paid, actor=actor)
            else:
                rejected = FailLineIn(reason=form_text(form, "reason", 200))
                payouts.fail_line(session, user, line, rejected, actor=actor)
    except NotFound:
        raise
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = _batch_context(session, user, batch_id)
        errors = form_errors_from(exc)
        context["errors"] = {int(line_id): next(iter(errors.values()))} if line_id.isdecimal() else errors
        context["values"] = {
            "line_id": line_id,
            **{k: form_text(form, k, 200) for k in ("bank_reference", "reason")},
        }
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(request, "payments/payout_batch.html", context, status=status)
    return RedirectResponse(f"/payouts/{batch_id}?done={action}", status_code=303)


def _line_of_batch(session: Session, user: User, batch_id: int, line_id: str) -> int:
    if not line_id.isdecimal() or not 1 <= int(line_id) <= MAX_ID:
        raise NotFound(N_("No such payout line."))
    line = payouts.get_line_for(session, user, int(line_id))
    if line.batch_id != batch_id:
        raise NotFound(N_("No such payout line."))
    return line.id or 0


@router.post("/payouts/{batch_id}/approve", response_class=HTMLResponse)
async def approve_batch(batch_id: ObjectId, request: Request, session: DB, user: Approver) -> Response:
    form = await request.form()
    return await run_in_threadpool(_act, request, session, user, batch_id, "approve", form)


@router.post("/payouts/{batch_id}/send", response_class=HTMLResponse)
async def send_batch(batch_id: ObjectId, request: Request, session: DB, user: Staff) -> Response:
    form = await request.form()
    return await run_in_threadpool(_act, request, session, user, batch_id, "send", form)


@router.post("/payouts/{batch_id}/cancel", response_class=HTMLResponse)
async def cancel_batch(batch_id: ObjectId, request: Request, session: DB, user: Staff) -> Response:
    form = await request.form()
    return await run_in_threadpool(_act, request, session, user, batch_id, "cancel", form)


@router.post("/payouts/{batch_id}/settle", response_class=HTMLResponse)
async def settle_line(batch_id: ObjectId, request: Request, session: DB, user: Staff) -> Response:
    """The bank statement shows a line's transfer: it is paid."""
    form = await request.form()
    return await run_in_threadpool(_act, request, session, user, batch_id, "settle", form)


@router.post("/payouts/{batch_id}/fail", response_class=HTMLResponse)
async def fail_line(batch_id: ObjectId, request: Request, session: DB, user: Staff) -> Response:
    """The bank rejected a line's transfer: its money goes back where it came from."""
    form = await request.form()
    return await run_in_threadpool(_act, request, session, user, batch_id, "fail", form)


@router.get("/payouts/{batch_id}/lines.csv")
def export_batch(batch_id: ObjectId, session: DB, user: Staff) -> Response:
    """The batch for the bank's bulk-transfer upload (approved or later)."""
    content = payouts.export_csv(session, user, batch_id)
    return csv_attachment(content, f"payout-{batch_id}.csv")


@router.get("/payouts/lines/{line_id}/qr.svg")
def line_qr(line_id: ObjectId, session: DB, user: Staff) -> Response:
    """The VietQR a clerk scans to pay a line from a banking app: only while it is payable."""
    line = payouts.payable_line_for(session, user, line_id)
    image = qr_render.render(payouts.vietqr_payload(line), "svg")
    return Response(
        image, media_type=qr_render.MEDIA_TYPES["svg"], headers={"Cache-Control": "private, no-store"}
    )
