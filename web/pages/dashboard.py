"""Dashboard pages: the operators' control room with its charts and drill-down lists, and an
organisation's own dashboard (a producer's sales and payables, an agency's collections).

Rule (as the API's): the control room is for operators (403 to other roles); an organisation's
dashboard is for its own staff and for operators, a 404 to anyone else. Charts are SVG drawn on
the server (operations.charts); every figure is also printed in a table.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from choso.errors import InvalidInput
from choso.i18n import N_, gettext_
from market.models import Role, User
from market.orders import STATUS_LABELS
from operations import charts, dashboard
from operations.periods import Window, local_today, window
from web.deps import DB, MAX_ID, page_role, page_user
from web.pages.common import render
from web.pages.payments import CHANNELS, PAYMENT_STATUSES

router = APIRouter()
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
Viewer = Annotated[User, Depends(page_user)]
RANGE_LABELS = {"today": N_("Today"), "7d": N_("7 days"), "30d": N_("30 days"), "custom": N_("Chosen range")}
NOTICE_STATES = {
    "open": N_("Outstanding"),
    "paid": N_("Paid"),
    "cancelled": N_("Cancelled"),
    "expired": N_("Expired"),
}


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def page_window(
    range: Annotated[str, Query(max_length=10)] = "7d",
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> tuple[Window, str]:
    """The window asked for, or the last 7 days with the reason the request was refused."""
    try:
        return window(range, _date(first), _date(last)), ""
    except InvalidInput as exc:
        return window("7d"), exc.translated()


Chosen = Annotated[tuple[Window, str], Depends(page_window)]


def _day_points(series: list[tuple[date, int]]) -> list[tuple[str, int]]:
    return [(f"{day.day:02d}/{day.month:02d}", value) for day, value in series]


def _common(chosen: tuple[Window, str]) -> dict[str, Any]:
    w, error = chosen
    return {"window": w, "range_labels": RANGE_LABELS, "window_error": error, "today": local_today()}


@router.get("/operator/dashboard", response_class=HTMLResponse)
def operator_dashboard(request: Request, session: DB, _operator: Operator, chosen: Chosen) -> HTMLResponse:
    view = dashboard.operator_view(session, chosen[0])
    states = [
        (gettext_(STATUS_LABELS[row["status"]]), row["orders"]) for row in view["sales"]["orders_by_state"]
    ]
    received = view["payments"]["received_by_channel"]
    context = {
        **_common(chosen),
        "view": view,
        "status_labels": STATUS_LABELS,
        "payment_statuses": PAYMENT_STATUSES,
        "channels": CHANNELS,
        "chart_gmv": charts.bars(
            _day_points(view["sales"]["daily_gmv"]), title=gettext_(N_("Sales paid per day"))
        ),
        "chart_states": charts.hbars(states, title=gettext_(N_("Orders by state"))),
        "chart_channels": charts.hbars(
            [(gettext_(CHANNELS[k]), v) for k, v in received.items()],
            title=gettext_(N_("Money received by channel")),
            unit="₫",
        ),
        "chart_agencies": charts.hbars(
            [(row["agency"], row["amount_vnd"]) for row in view["fees"]["by_agency"]],
            title=gettext_(N_("Fees collected per agency")),
            unit="₫",
        ),
    }
    return render(request, "dashboard/operator.html", context)


@router.get("/operator/dashboard/lists/{kind}", response_class=HTMLResponse)
def operator_list(
    kind: str,
    request: Request,
    session: DB,
    _operator: Operator,
    chosen: Chosen,
    filter: Annotated[str | None, Query(max_length=30)] = None,
    page: Annotated[int, Query(ge=1, le=MAX_ID // 50)] = 1,
) -> HTMLResponse:
    spec, rows, total = dashboard.drill(session, kind, chosen[0], filter, limit=50, offset=(page - 1) * 50)
    context = {
        **_common(chosen),
        "kind": kind,
        "spec": spec,
        "rows": rows,
        "total": total,
        "page": page,
        "filter": filter or "",
    }
    return render(request, "dashboard/list.html", context)


@router.get("/dashboard", response_class=HTMLResponse)
def organisation_dashboard(
    request: Request,
    session: DB,
    user: Viewer,
    chosen: Chosen,
    organisation_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    view = dashboard.organisation_view(session, user, organisation_id, chosen[0])
    if "sales" in view:
        series = view["sales"]["daily_gmv"]
        title = gettext_(N_("Sales paid per day"))
    else:
        series = view["collections"]["daily"]
        title = gettext_(N_("Fees collected per day"))
    context = {
        **_common(chosen),
        "view": view,
        "status_labels": STATUS_LABELS,
        "notice_states": NOTICE_STATES,
        "chart_daily": charts.bars(_day_points(series), title=title),
        "organisation_query": f"&organisation_id={view['organisation_id']}" if organisation_id else "",
    }
    return render(request, "dashboard/organisation.html", context)
