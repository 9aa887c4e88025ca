"""Reconciliation pages: bank accounts with their statements and daily reports, uploading a
statement, a statement's lines with what became of each, confirming the matcher's suggestions,
and (for operators) the card processor's settlements.

Rule: a bank account's reconciliation is shown to operators and to the staff of the
organisation that owns the account; to anyone else it is a 404 like a missing page. Confirming
a suggestion is an operator's decision on the review queue and needs a recent password, as
every suspense decision does. Every lookup and change is one call into the payments domain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from market.models import Role, User
from payments import banks, card_settlements, recon_reports, statements
from payments.recon.formats import FORMATS
from payments.statement_models import MAX_STATEMENT_BYTES
from web.actors import actor_of
from web.bodylimit import allow_larger_bodies
from web.deps import DB, ObjectId, page_reauthenticated, page_role, page_user
from web.pages.common import form_text, render
from web.pages.payments import PAYMENT_STATUSES, SUSPENSE_STATUSES

router = APIRouter()
Viewer = Annotated[User, Depends(page_user)]
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
Confirmer = Annotated[User, Depends(page_reauthenticated(Role.OPERATOR))]
UPLOAD_PATH = r"/reconciliation/accounts/[0-9]+/statements"
allow_larger_bodies(UPLOAD_PATH, MAX_STATEMENT_BYTES + 64 * 1024)  # the form's own fields too
LINES_PER_PAGE = 200

STATEMENT_STATUSES = {
    "queued": N_("Waiting to be imported"),
    "applying": N_("Being imported"),
    "imported": N_("Imported"),
    "failed": N_("Could not be read"),
}
CATEGORIES = {
    "matched": N_("Matched"),
    "underpaid": N_("Underpaid"),
    "overpaid": N_("Overpaid"),
    "suggested": N_("Suggested, to confirm"),
    "unmatched": N_("Not matched"),
    "duplicate": N_("Already reported"),
    "outgoing": N_("Money out"),
}
CATEGORY_STYLES = {
    "matched": "paid",
    "underpaid": "underpaid",
    "overpaid": "underpaid",
    "suggested": "open",
    "unmatched": "expired",
    "duplicate": "cancelled",
    "outgoing": "cancelled",
}
RULES = {
    "reference": N_("Reference code in the transfer message"),
    "name_amount_date": N_("Same amount, similar payer name, date near the due date"),
    "none": N_("Nothing to go by"),
    "unknown_reference": N_("A reference code no open request of this account expects"),
    "ambiguous": N_("Several candidates fit equally: none was chosen"),
    "bank_reference": N_("Same bank reference as an earlier line"),
    "fingerprint": N_("Same amount, time and message as an earlier line"),
    "debit": N_("Money out of the account"),
    "recorded": N_("Already reported by the bank's notification"),
}
FORMAT_NAMES = {
    "auto": N_("Recognise it"),
    "camt053": "ISO 20022 CAMT.053",
    "mt940": "SWIFT MT940",
    "csv": N_("CSV (date, amount, description, bank reference)"),
    "vietcombank": "Vietcombank (CSV, XLSX)",
    "bidv": "BIDV (CSV, XLSX)",
}
CARD_CATEGORIES = {
    "matched": N_("Matched"),
    "recovered": N_("Recorded now: its notification never came"),
    "mismatch": N_("Amounts differ"),
    "unknown": N_("No payment in Chợ Số: waiting in the review queue"),
    "unknown_refund": N_("No refund in Chợ Số"),
    "currency": N_("Not in đồng"),
    "payout": N_("Payout to the bank"),
    "fee": N_("Processor fee"),
    "other": N_("Other"),
}
UPLOAD_FAILED = N_("Choose a statement file to upload.")


def _labels() -> dict[str, Any]:
    return {
        "statement_statuses": STATEMENT_STATUSES,
        "categories": CATEGORIES,
        "category_styles": CATEGORY_STYLES,
        "rules": RULES,
        "payment_statuses": PAYMENT_STATUSES,
        "suspense_statuses": SUSPENSE_STATUSES,
        "card_categories": CARD_CATEGORIES,
    }


def _bank_names() -> dict[str, str]:
    return {bank.bin: bank.short_name for bank in banks.current_banks()}


def _require_reconciler(user: User) -> None:
    """Buyers have no bank accounts to reconcile: the pages do not exist for them."""
    if user.role == Role.BUYER:
        raise NotFound(N_("This page or object does not exist."))


# --- every account ------------------------------------------------------------------------------


@router.get("/reconciliation", response_class=HTMLResponse)
def overview(request: Request, session: DB, user: Viewer) -> HTMLResponse:
    """The bank accounts the user reconciles, with their last statement and daily report."""
    _require_reconciler(user)
    context = {
        "rows": recon_reports.overview(session, user),
        "bank_names": _bank_names(),
        "card_reports": recon_reports.card_reports(session, limit=7) if user.role == Role.OPERATOR else [],
        **_labels(),
    }
    return render(request, "reconciliation/index.html", context)


# --- one account: statements, reports, upload ---------------------------------------------------


def _account_context(session: Session, user: User, account_id: int, error: str = "") -> dict[str, Any]:
    account = statements.get_account_for(session, user, account_id)
    rows, total = statements.list_statements(session, user, account_id, limit=50)
    return {
        "account": account,
        "bank_names": _bank_names(),
        "statements": rows,
        "total": total,
        "reports": recon_reports.reports_for_account(session, user, account_id, limit=31),
        "formats": {name: FORMAT_NAMES.get(name, name) for name in FORMATS},
        "error": error,
        **_labels(),
    }


@router.get("/reconciliation/accounts/{account_id}", response_class=HTMLResponse)
def account_page(account_id: ObjectId, request: Request, session: DB, user: Viewer) -> HTMLResponse:
    _require_reconciler(user)
    return render(request, "reconciliation/account.html", _account_context(session, user, account_id))


@router.post("/reconciliation/accounts/{account_id}/statements", response_class=HTMLResponse)
async def upload_statement(account_id: ObjectId, request: Request, session: DB, user: Viewer) -> Response:
    _require_reconciler(user)
    form = await request.form()
    upload = form.get("file")
    data = await upload.read(MAX_STATEMENT_BYTES + 1) if isinstance(upload, UploadFile) else b""
    filename = upload.filename or "" if isinstance(upload, UploadFile) else ""
    fmt = form_text(form, "format", 20) or "auto"
    return await run_in_threadpool(_store_upload, request, session, user, account_id, data, filename, fmt)


def _store_upload(
    request: Request, session: Session, user: User, account_id: int, data: bytes, filename: str, fmt: str
) -> Response:
    try:
        if not data:
            raise InvalidInput(UPLOAD_FAILED, field="file")
        statement, new = statements.submit(
            session, user, account_id, data, filename=filename, format=fmt, source="upload",
            actor=actor_of(request, user),
        )  # fmt: skip
    except DomainError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        context = _account_context(session, user, account_id, exc.translated())
        return render(request, "reconciliation/account.html", context, status=exc.status_code)
    return RedirectResponse(
        f"/reconciliation/statements/{statement.id}?{'uploaded' if new else 'known'}=1", status_code=303
    )


# --- one statement ------------------------------------------------------------------------------


@router.get("/reconciliation/statements/{statement_id}", response_class=HTMLResponse)
def statement_page(
    statement_id: ObjectId,
    request: Request,
    session: DB,
    user: Viewer,
    category: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """A statement's balances and counts, and its lines with what became of each."""
    _require_reconciler(user)
    statement = statements.get_statement_for(session, user, statement_id)
    wanted = [category] if category in CATEGORIES else []
    lines, total = statements.list_lines(
        session,
        user,
        statement_id,
        categories=wanted,
        limit=LINES_PER_PAGE,
        offset=(page - 1) * LINES_PER_PAGE,
    )
    context = {
        "statement": statement,
        "account": statements.get_account_for(session, user, statement.bank_account_id),
        "lines": lines,
        "reviews": statements.reviews(session, lines),
        "total": total,
        "category": category if wanted else "",
        "page": page,
        "pages": max(1, -(-total // LINES_PER_PAGE)),
        "can_confirm": user.role == Role.OPERATOR,
        "error": "",
        **_labels(),
    }
    return render(request, "reconciliation/statement.html", context)


@router.post("/reconciliation/statement-lines/{line_id}/confirm")
async def confirm_suggestion(
    line_id: ObjectId, request: Request, session: DB, operator: Confirmer
) -> Response:
    form = await request.form()
    note = form_text(form, "note", 500)
    return await run_in_threadpool(_confirm, request, session, operator, line_id, note)


def _confirm(request: Request, session: Session, operator: User, line_id: int, note: str) -> Response:
    statement_id = statements.statement_of_line(session, operator, line_id)
    try:
        statements.confirm_suggestion(
            session, operator, line_id, note=note, actor=actor_of(request, operator)
        )
    except DomainError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        return RedirectResponse(
            f"/reconciliation/statements/{statement_id}?refused={line_id}#line-{line_id}", status_code=303
        )
    return RedirectResponse(
        f"/reconciliation/statements/{statement_id}?confirmed={line_id}#line-{line_id}", status_code=303
    )


# --- card settlements (operators) ---------------------------------------------------------------


@router.get("/reconciliation/cards", response_class=HTMLResponse)
def card_page(
    request: Request,
    session: DB,
    _operator: Operator,
    exceptions: bool = False,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    """The card processor's balance transactions and what each matched; the daily reports."""
    rows, total = card_settlements.list_lines(
        session, exceptions_only=exceptions, limit=LINES_PER_PAGE, offset=(page - 1) * LINES_PER_PAGE
    )
    context = {
        "rows": rows,
        "total": total,
        "exceptions": exceptions,
        "page": page,
        "pages": max(1, -(-total // LINES_PER_PAGE)),
        "reports": recon_reports.card_reports(session, limit=31),
        **_labels(),
    }
    return render(request, "reconciliation/cards.html", context)
