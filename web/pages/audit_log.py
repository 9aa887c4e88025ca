"""The audit log pages for operators: search, and a CSV export of a search (a POST: the export
is itself recorded in the log)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from choso.errors import InvalidInput
from market.models import Role, User
from operations import audit_log
from web.actors import actor_of
from web.deps import DB, MAX_ID, page_role
from web.downloads import csv_attachment
from web.pages.common import form_text, render

router = APIRouter()
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
PAGE_SIZE = 50
FIELDS = ("actor", "action", "object_type", "object_id", "from", "to")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filter(values: dict[str, str]) -> audit_log.AuditFilter:
    return audit_log.AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        object_type=values["object_type"] or None,
        object_id=values["object_id"] or None,
        first=_date(values["from"]),
        last=_date(values["to"]),
    )


@router.get("/operator/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DB,
    _operator: Operator,
    page: Annotated[int, Query(ge=1, le=MAX_ID // PAGE_SIZE)] = 1,
) -> HTMLResponse:
    values = {name: form_text(request.query_params, name, 254) for name in FIELDS}
    error = ""
    try:
        rows, total = audit_log.search(
            session, _filter(values), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except InvalidInput as exc:
        rows, total, error = [], 0, exc.translated()
    query = urlencode({k: v for k, v in values.items() if v})
    context = {"values": values, "rows": rows, "total": total, "page": page, "error": error, "query": query}
    return render(request, "dashboard/audit.html", context)


@router.post("/operator/audit/export")
async def audit_export(request: Request, session: DB, operator: Operator) -> Response:
    form = await request.form()
    values = {name: form_text(form, name, 254) for name in FIELDS}
    body, _count = await run_in_threadpool(
        audit_log.export, session, actor_of(request, operator), _filter(values)
    )
    return csv_attachment(body, "audit-log.csv")  # names people and addresses: never cached
