"""Bank statements, their lines, confirming suggestions, daily reconciliation reports (JSON API).

A bank account's statements are for operators and for the staff of the organisation that owns
the account; to anyone else the account (and its statements) do not exist (404). Uploads are
multipart (`file`, optional `format`), up to 10 MB: this route's own body limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from choso.i18n import N_
from market.models import Role, User
from payments import recon_reports, statements
from payments.recon.formats import FORMATS
from payments.recon_schemas import (
    CardSettlementOut,
    ConfirmSuggestionIn,
    ReportOut,
    StatementDetailOut,
    StatementLineOut,
    StatementOut,
)
from payments.statement_models import MAX_STATEMENT_BYTES
from web.actors import actor_of
from web.api.schemas import Page
from web.bodylimit import allow_larger_bodies
from web.deps import DB, MAX_ID, ObjectId, api_role, api_user

router = APIRouter(tags=["reconciliation"])
Caller = Annotated[User, Depends(api_user)]
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
CATEGORIES = ("matched", "underpaid", "overpaid", "suggested", "duplicate", "unmatched", "outgoing")
UPLOAD_PATH = r"/api/v1/bank-accounts/[0-9]+/statements"
allow_larger_bodies(UPLOAD_PATH, MAX_STATEMENT_BYTES + 64 * 1024)  # the multipart envelope too
FormatName = Annotated[str, Form(pattern=f"^({'|'.join(FORMATS)})$", description="Statement format.")]
TOO_LARGE = N_("A statement file may be at most 10 MB.")


@router.post(
    "/bank-accounts/{account_id}/statements",
    status_code=202,
    response_model=StatementOut,
    responses={200: {"model": StatementOut, "description": "This file was imported before: that statement"}},
)
def upload_statement(
    account_id: ObjectId,
    request: Request,
    user: Caller,
    session: DB,
    file: Annotated[UploadFile, File(description="CAMT.053, MT940, CSV or XLSX, at most 10 MB.")],
    format: FormatName = "auto",
) -> JSONResponse:
    """Store a bank statement and queue its import (202); the same file again answers 200 with
    the statement stored the first time, and imports nothing twice."""
    data = file.file.read(MAX_STATEMENT_BYTES + 1)
    statement, new = statements.submit(
        session,
        user,
        account_id,
        data,
        filename=file.filename or "",
        format=format,
        source="api",
        actor=actor_of(request, user),
    )
    body = StatementOut.of(statement, new=new).model_dump(mode="json")
    return JSONResponse(body, status_code=202 if new else 200)


@router.get("/bank-accounts/{account_id}/statements", response_model=Page[StatementOut])
def list_statements(
    account_id: ObjectId, user: Caller, session: DB, limit: Limit = 50, offset: Offset = 0
) -> Page[StatementOut]:
    rows, total = statements.list_statements(session, user, account_id, limit=limit, offset=offset)
    return Page[StatementOut](
        items=[StatementOut.of(s) for s in rows], total=total, limit=limit, offset=offset
    )


@router.get("/statements/{statement_id}", response_model=StatementDetailOut)
def get_statement(
    statement_id: ObjectId,
    user: Caller,
    session: DB,
    category: Annotated[list[str] | None, Query(max_length=len(CATEGORIES))] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> StatementDetailOut:
    """A statement with its lines (in file order; ``category`` filters them, repeatable)."""
    statement = statements.get_statement_for(session, user, statement_id)
    wanted = [c for c in category or [] if c in CATEGORIES]
    lines, total = statements.list_lines(
        session, user, statement_id, categories=wanted, limit=limit, offset=offset
    )
    reviews = statements.reviews(session, lines)
    return StatementDetailOut(
        **StatementOut.of(statement).model_dump(),
        lines=[StatementLineOut.of(line, reviews.get(line.id or 0)) for line in lines],
        lines_total=total,
    )


@router.post("/statement-lines/{line_id}/confirm", response_model=dict[str, str])
def confirm_suggestion(
    line_id: ObjectId, data: ConfirmSuggestionIn, request: Request, operator: Operator, session: DB
) -> dict[str, str]:
    """Operators: the line's payment (in suspense) pays the request the matcher suggested."""
    item = statements.confirm_suggestion(
        session, operator, line_id, note=data.note, actor=actor_of(request, operator)
    )
    return {"status": item.status}


@router.get("/bank-accounts/{account_id}/reconciliation-reports", response_model=list[ReportOut])
def account_reports(
    account_id: ObjectId, user: Caller, session: DB, limit: Annotated[int, Query(ge=1, le=366)] = 31
) -> list[ReportOut]:
    """The nightly reports of this bank account, newest day first."""
    return [
        ReportOut.of(r) for r in recon_reports.reports_for_account(session, user, account_id, limit=limit)
    ]


@router.get("/card-settlements", response_model=Page[CardSettlementOut])
def card_settlements(
    _operator: Operator,
    session: DB,
    exceptions: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CardSettlementOut]:
    """Operators: the card processor's balance transactions and what each was matched to."""
    from payments import card_settlements as cards

    rows, total = cards.list_lines(session, exceptions_only=exceptions, limit=limit, offset=offset)
    return Page[CardSettlementOut](
        items=[CardSettlementOut.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/card-settlements/reports", response_model=list[ReportOut])
def card_reports(
    _operator: Operator, session: DB, limit: Annotated[int, Query(ge=1, le=366)] = 31
) -> list[ReportOut]:
    """Operators: the nightly reports of the card clearing account, newest day first."""
    return [ReportOut.of(r) for r in recon_reports.card_reports(session, limit=limit)]
