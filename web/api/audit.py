"""The audit log for operators: search it, and export what a search finds as CSV (the export is
itself recorded). Nobody can change or delete a record (database triggers, choso.immutable)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from market.models import Role, User
from operations import audit_log
from web.actors import actor_of
from web.api.schemas import Page
from web.deps import DB, MAX_ID, api_role
from web.downloads import csv_attachment

router = APIRouter(prefix="/operator/audit", tags=["audit"])
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Text = Annotated[str | None, Query(max_length=254)]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: int | None
    actor_email: str
    actor_name: str
    actor_role: str
    organisation_id: int | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    ip_address: str | None


class AuditFilterIn(BaseModel):
    """What to export: the same filters as the search (all optional)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    actor: str | None = Field(None, max_length=254, description="A user id or an email")
    action: str | None = Field(None, max_length=60, description="An action, or a prefix ending in '.'")
    object_type: str | None = Field(None, max_length=40)
    object_id: str | None = Field(None, max_length=60)
    first: date | None = Field(None, alias="from")
    last: date | None = Field(None, alias="to")

    def as_filter(self) -> audit_log.AuditFilter:
        return audit_log.AuditFilter(**self.model_dump())


@router.get("", response_model=Page[AuditEntryOut])
def search_audit_log(
    _operator: Operator,
    session: DB,
    actor: Text = None,
    action: Annotated[str | None, Query(max_length=60)] = None,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=60)] = None,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[AuditEntryOut]:
    """Records by actor, action, object and local days, newest first."""
    f = audit_log.AuditFilter(actor, action, object_type, object_id, first, last)
    rows, total = audit_log.search(session, f, limit=limit, offset=offset)
    return Page(items=[AuditEntryOut(**row) for row in rows], total=total, limit=limit, offset=offset)


@router.post(
    "/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The matching records as CSV"}},
)
def export_audit_log(request: Request, operator: Operator, session: DB, data: AuditFilterIn) -> Response:
    """Every matching record as CSV (UTF-8, formula injection neutralised); the export is audited."""
    body, _count = audit_log.export(session, actor_of(request, operator), data.as_filter())
    return csv_attachment(body, "audit-log.csv")  # names people and addresses: never cached
