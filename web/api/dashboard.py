"""Dashboards as JSON: the operators' control room, its drill-down lists, and an organisation's own.

The operators' figures are for operators only (403 to anyone else); an organisation's
dashboard is for its own staff and for operators, and does not exist for anyone else (404).
Windows: ``range=today|7d|30d``, or ``range=custom&from=YYYY-MM-DD&to=YYYY-MM-DD`` (local days,
at most 366). Definitions of every figure are in the domains' ``stats`` modules.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder

from market.models import Role, User
from operations import dashboard
from operations.periods import Window, window
from web.deps import DB, MAX_ID, api_role, api_user

router = APIRouter(prefix="/dashboard", tags=["dashboard"])
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Caller = Annotated[User, Depends(api_user)]
RangeName = Literal["today", "7d", "30d", "custom"]
DrillKind = Literal["orders", "payments", "refunds", "webhooks", "job-failures", "outbox", "emails", "rounds"]


def window_of(
    range: Annotated[RangeName, Query(description="today, 7d, 30d or custom")] = "7d",
    first: Annotated[date | None, Query(alias="from", description="First day (custom)")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last day (custom)")] = None,
) -> Window:
    return window(range, first, last)


Chosen = Annotated[Window, Depends(window_of)]


def _window_out(w: Window) -> dict[str, Any]:
    return {"range": w.range, "from": w.first, "to": w.last}


def _encode(view: dict[str, Any]) -> dict[str, Any]:
    view = {**view, "window": _window_out(view["window"])}
    return jsonable_encoder(view)


@router.get("/operator", response_model=dict[str, Any])
def operator_dashboard(_operator: Operator, session: DB, chosen: Chosen) -> dict[str, Any]:
    """Sales, payments by channel, fees, what waits for a person, matching rounds and the jobs."""
    return _encode(dashboard.operator_view(session, chosen))


@router.get("/operator/lists/{kind}", response_model=dict[str, Any])
def operator_list(
    kind: DrillKind,
    _operator: Operator,
    session: DB,
    chosen: Chosen,
    filter: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """A drill-down list: orders, payments, refunds, webhooks, job-failures, outbox, emails
    (account e-mails waiting, and given up in the window; `filter` waiting or failed) or rounds."""
    _spec, rows, total = dashboard.drill(session, kind, chosen, filter, limit=limit, offset=offset)
    return jsonable_encoder(
        {
            "kind": kind,
            "window": _window_out(chosen),
            "items": rows,
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@router.get("/organisation", response_model=dict[str, Any])
def organisation_dashboard(
    user: Caller,
    session: DB,
    chosen: Chosen,
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> dict[str, Any]:
    """A producer's sales and payables, or an agency's collections: the caller's own organisation
    (operators name one with ``organisation_id``)."""
    return _encode(dashboard.organisation_view(session, user, organisation_id, chosen))
