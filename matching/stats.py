"""Figures of the matching market for dashboards, open data and pilot reports, as plain rows.

Definitions (windows are ``[start, end)`` in UTC):

* rounds: clearing rounds run in the window — how many, the quantity they cleared and the
  welfare (gains from trade, đồng) of their solutions; proposals of those rounds by state now;
* cleared prices (open data): every proposal made in the window, at the round's price per unit,
  with the supply post's category, ward and unit, its seller (organisation, else the poster)
  and its buyer — aggregated and suppressed by operations.opendata. Proposals that became
  orders are also orders: the open-data datasets keep the two sources apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from matching.models import ClearingRound, MarketPost, MatchProposal


def _window(column: Any, start: datetime, end: datetime) -> list[Any]:
    return [col(column) >= start, col(column) < end]


def rounds_summary(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    rounds, quantity, welfare = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(ClearingRound.matched_quantity), 0),
            func.coalesce(func.sum(ClearingRound.welfare_vnd), 0),
        ).where(*_window(ClearingRound.created_at, start, end))
    ).one()
    proposals = session.exec(
        select(MatchProposal.status, func.count())
        .join(ClearingRound, col(ClearingRound.id) == MatchProposal.round_id)
        .where(*_window(ClearingRound.created_at, start, end))
        .group_by(col(MatchProposal.status))
    ).all()
    return {
        "rounds": int(rounds),
        "matched_quantity": int(quantity),
        "welfare_vnd": int(welfare),
        "proposals": {str(status): int(n) for status, n in proposals},
    }


def list_rounds(
    session: Session, start: datetime, end: datetime, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    conditions = _window(ClearingRound.created_at, start, end)
    total = session.exec(select(func.count()).select_from(ClearingRound).where(*conditions)).one()
    rows = session.exec(
        select(ClearingRound)
        .where(*conditions)
        .order_by(col(ClearingRound.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "trigger": str(r.trigger),
            "supply_posts": r.supply_posts,
            "demand_posts": r.demand_posts,
            "proposals": r.proposals,
            "matched_quantity": r.matched_quantity,
            "welfare_vnd": r.welfare_vnd,
        }
        for r in rows
    ], int(total)


def price_lines(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Proposals made in the window, for the open-data cleared prices (see the module's rule)."""
    supply, demand = aliased(MarketPost), aliased(MarketPost)
    rows = session.exec(
        select(
            MatchProposal.created_at,
            supply.category,
            supply.ward_code,
            supply.unit,
            supply.organisation_id,
            supply.owner_user_id,
            demand.organisation_id,
            demand.owner_user_id,
            MatchProposal.quantity,
            MatchProposal.price_vnd,
        )
        .join(supply, col(supply.id) == MatchProposal.supply_post_id)
        .join(demand, col(demand.id) == MatchProposal.demand_post_id)
        .where(*_window(MatchProposal.created_at, start, end))
    ).all()
    return [
        {
            "at": at,
            "category": category,
            "ward_code": ward,
            "unit": unit,
            "seller": f"o{seller_org}" if seller_org is not None else f"u{seller_user}",
            "buyer": f"o{buyer_org}" if buyer_org is not None else f"u{buyer_user}",
            "quantity": int(quantity),
            "value_vnd": int(quantity) * int(price),
        }
        for at, category, ward, unit, seller_org, seller_user, buyer_org, buyer_user, quantity, price in rows
    ]


def post_usage(
    session: Session, start: datetime, end: datetime
) -> list[tuple[int | None, int | None, int, int]]:
    """Posts made in the window per organisation and ward (pilot reports); no amount."""
    rows = session.exec(
        select(MarketPost.organisation_id, MarketPost.ward_code, func.count())
        .where(*_window(MarketPost.created_at, start, end))
        .group_by(col(MarketPost.organisation_id), col(MarketPost.ward_code))
    ).all()
    return [(org, ward, int(n), 0) for org, ward, n in rows]
