"""The dashboards: the province's control room (operators) and each organisation's own.

Rule: the operators' dashboard and its drill-down lists are for operators only. An
organisation's dashboard shows one organisation's data: a producer's sales and payables to
its own staff, an agency's collections to its own officers, either to operators; to anyone
else (a buyer, another organisation's staff) it does not exist (404). Every figure comes from
a domain's ``stats`` module; the definitions are written there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from choso.errors import InvalidInput, NotFound
from choso.i18n import N_
from fees import stats as fees_stats
from market import stats as market_stats
from market.models import OrganisationKind, Role, User
from matching import stats as matching_stats
from operations import system
from operations.periods import Window, by_day
from payments import stats as payments_stats

NOT_FOUND = N_("This page or object does not exist.")


def operator_view(session: Session, window: Window) -> dict[str, Any]:
    start, end = window.start, window.end
    paid = market_stats.paid_orders(session, start, end)
    received = payments_stats.received(session, start, end)
    fees = fees_stats.collected_by_service(session, start, end)
    return {
        "window": window,
        "sales": {
            "gmv_vnd": sum(total for _at, total in paid),
            "paid_orders": len(paid),
            "orders_by_state": market_stats.orders_by_state(session, start, end),
            "daily_gmv": by_day(window, paid),
        },
        "payments": {
            "by_channel": payments_stats.payments_by_channel(session, start, end),
            "received_by_channel": _sum_by(received),
            "daily_received": by_day(window, [(at, amount) for at, _channel, amount in received]),
            "outcomes": payments_stats.request_outcomes(session, start, end),
            "refunds": payments_stats.refunds_in(session, start, end),
        },
        "waiting": payments_stats.waiting(session),
        "fees": {
            "by_service": fees,
            "by_agency": _fees_by_agency(fees),
            "collected_vnd": sum(row["amount_vnd"] for row in fees),
        },
        "matching": matching_stats.rounds_summary(session, start, end),
        "system": {
            **system.outbox_backlog(session),
            "job_failures": system.failures(session, start, end),
            **market_stats.email_backlog(session, start, end),
        },
    }


def _sum_by(received: list[tuple[Any, str, int]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for _at, channel, amount in received:
        totals[channel] += amount
    return {"vietqr": totals.get("vietqr", 0), "card": totals.get("card", 0)}


def _fees_by_agency(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    agencies: dict[int, dict[str, Any]] = {}
    for row in rows:
        agency = agencies.setdefault(
            row["agency_id"],
            {"agency_id": row["agency_id"], "agency": row["agency"], "notices": 0, "amount_vnd": 0},
        )
        agency["notices"] += row["notices"]
        agency["amount_vnd"] += row["amount_vnd"]
    return sorted(agencies.values(), key=lambda a: -a["amount_vnd"])


# --- drill-down lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Drill:
    title: str
    columns: tuple[tuple[str, str], ...]  # (key, label message id)
    fetch: Callable[..., tuple[list[dict[str, Any]], int]]
    filter: str | None = None  # the one query filter the list takes, if any
    choices: tuple[str, ...] = ()


def _orders(session: Session, w: Window, value: str | None, limit: int, offset: int) -> Any:
    return market_stats.list_orders(session, w.start, w.end, status=value, limit=limit, offset=offset)


def _payments(session: Session, w: Window, value: str | None, limit: int, offset: int) -> Any:
    return payments_stats.list_payments(session, w.start, w.end, channel=value, limit=limit, offset=offset)


def _refunds(session: Session, w: Window, value: str | None, limit: int, offset: int) -> Any:
    return payments_stats.list_refunds(session, w.start, w.end, status=value, limit=limit, offset=offset)


def _webhooks(session: Session, w: Window, value: str | None, limit: int, offset: int) -> Any:
    pending = value == "pending"
    return payments_stats.list_webhook_events(
        session, w.start, w.end, pending_only=pending, limit=limit, offset=offset
    )


def _failures(session: Session, w: Window, _value: str | None, limit: int, offset: int) -> Any:
    return system.list_failures(session, w.start, w.end, limit=limit, offset=offset)


def _outbox(session: Session, _w: Window, _value: str | None, limit: int, offset: int) -> Any:
    return system.list_outbox(session, limit=limit, offset=offset)


def _emails(session: Session, w: Window, value: str | None, limit: int, offset: int) -> Any:
    return market_stats.list_emails(session, w.start, w.end, state=value, limit=limit, offset=offset)


def _rounds(session: Session, w: Window, _value: str | None, limit: int, offset: int) -> Any:
    return matching_stats.list_rounds(session, w.start, w.end, limit=limit, offset=offset)


ORDER_STATES = (
    "pending_payment",
    "paid",
    "accepted",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
    "rejected",
    "expired",
)
DRILLS: dict[str, Drill] = {
    "orders": Drill(
        N_("Orders"),
        (
            ("id", N_("Order")),
            ("created_at", N_("Date")),
            ("status", N_("Status")),
            ("producer", N_("Producer")),
            ("total_vnd", N_("Total")),
        ),
        _orders,
        "status",
        ORDER_STATES,
    ),
    "payments": Drill(
        N_("Payments received"),
        (
            ("id", N_("Payment")),
            ("received_at", N_("Received")),
            ("channel", N_("Channel")),
            ("provider", N_("Provider")),
            ("status", N_("Status")),
            ("amount_vnd", N_("Amount")),
            ("request_id", N_("Payment request")),
        ),
        _payments,
        "channel",
        ("vietqr", "card"),
    ),
    "refunds": Drill(
        N_("Refunds"),
        (
            ("id", N_("Refund")),
            ("created_at", N_("Date")),
            ("method", N_("Method")),
            ("status", N_("Status")),
            ("amount_vnd", N_("Amount")),
            ("payment_id", N_("Payment")),
            ("last_error", N_("Last error")),
        ),
        _refunds,
        "status",
        ("pending", "submitted", "succeeded", "failed"),
    ),
    "webhooks": Drill(
        N_("Bank and card notifications"),
        (
            ("id", N_("Event")),
            ("received_at", N_("Received")),
            ("source", N_("Source")),
            ("external_id", N_("Their id")),
            ("processed_at", N_("Processed")),
            ("outcome", N_("Outcome")),
        ),
        _webhooks,
        "state",
        ("pending",),
    ),
    "job-failures": Drill(
        N_("Failed jobs"),
        (
            ("id", N_("Number")),
            ("at", N_("When")),
            ("task", N_("Job")),
            ("error", N_("Error")),
            ("request_id", N_("Request id")),
        ),
        _failures,
    ),
    "outbox": Drill(
        N_("Jobs waiting in the outbox"),
        (("id", N_("Number")), ("created_at", N_("Since")), ("task", N_("Job"))),
        _outbox,
    ),
    "emails": Drill(
        N_("Account e-mails waiting or failed"),
        (
            ("id", N_("Number")),
            ("created_at", N_("Since")),
            ("kind", N_("E-mail")),
            ("user_id", N_("User")),
            ("state", N_("Status")),
            ("attempts", N_("Tries")),
            ("next_attempt_at", N_("Next try")),
            ("last_error", N_("Last error")),
        ),
        _emails,
        "state",
        market_stats.EMAIL_STATES,
    ),
    "rounds": Drill(
        N_("Matching rounds"),
        (
            ("id", N_("Round")),
            ("created_at", N_("When")),
            ("trigger", N_("Started by")),
            ("supply_posts", N_("Supply posts")),
            ("demand_posts", N_("Demand posts")),
            ("proposals", N_("Proposals")),
            ("matched_quantity", N_("Quantity cleared")),
            ("welfare_vnd", N_("Welfare")),
        ),
        _rounds,
    ),
}


def drill(
    session: Session, kind: str, window: Window, value: str | None, *, limit: int = 50, offset: int = 0
) -> tuple[Drill, list[dict[str, Any]], int]:
    spec = DRILLS.get(kind)
    if spec is None:
        raise NotFound(NOT_FOUND)
    if value and value not in spec.choices:
        raise InvalidInput(N_("This list cannot be filtered that way."), field=spec.filter or "filter")
    rows, total = spec.fetch(session, window, value or None, limit, offset)
    return spec, rows, total


# --- an organisation's own dashboard ------------------------------------------------------------


def dashboard_organisation(session: Session, user: User, organisation_id: int | None) -> int:
    """The organisation whose dashboard ``user`` asks for (see the module's rule)."""
    if user.role == Role.OPERATOR and organisation_id is not None:
        return organisation_id
    staff = user.role in (Role.PRODUCER, Role.AGENCY_OFFICER) and user.organisation_id is not None
    if staff and organisation_id in (None, user.organisation_id):
        return user.organisation_id or 0
    raise NotFound(NOT_FOUND)


def organisation_view(
    session: Session, user: User, organisation_id: int | None, window: Window
) -> dict[str, Any]:
    org_id = dashboard_organisation(session, user, organisation_id)
    found = market_stats.organisations(session, [org_id]).get(org_id)
    if found is None or found[1] == OrganisationKind.PLATFORM:
        raise NotFound(NOT_FOUND)
    name, kind, _ward = found
    start, end = window.start, window.end
    view: dict[str, Any] = {
        "window": window,
        "organisation_id": org_id,
        "name": name,
        "kind": kind,
        "money": payments_stats.organisation_money(session, org_id, start, end),
    }
    if kind == OrganisationKind.AGENCY:
        paid = fees_stats.paid_notices(session, start, end, agency_id=org_id)
        collected = fees_stats.collected_by_service(session, start, end, agency_id=org_id)
        view["collections"] = {
            "collected_vnd": sum(row["amount_vnd"] for row in collected),
            "by_service": collected,
            "notices_by_state": fees_stats.notices_by_state(session, start, end, agency_id=org_id),
            "daily": by_day(window, paid),
        }
    else:
        paid = market_stats.paid_orders(session, start, end, producer_id=org_id)
        view["sales"] = {
            "gmv_vnd": sum(total for _at, total in paid),
            "paid_orders": len(paid),
            "orders_by_state": market_stats.orders_by_state(session, start, end, producer_id=org_id),
            "daily_gmv": by_day(window, paid),
            "completed": market_stats.completed_totals(session, start, end, producer_id=org_id),
        }
    return view
