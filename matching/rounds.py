"""Clearing rounds: the open posts cleared by the pure core, its matches proposed to both sides.

Rules:

* a round runs on the schedule (``slot``: at most one round per schedule slot, however often
  the job is delivered) or on an operator's request; rounds never overlap (a PostgreSQL
  advisory lock; SQLite's BEGIN IMMEDIATE already serialises writers);
* the instance is a snapshot of the open posts whose window is not over, each with its free
  quantity (neither in a live proposal nor sold); ids are ``s<post id>`` / ``d<post id>``.
  The core's category is the post's category and unit together (``rice/kg``): kilograms and
  boxes never match; its transport rate is the category's (:data:`TRANSPORT_RATES`);
* after the solve the posts of the matches are locked; a match whose post changed meanwhile
  (another version, withdrawn) is not proposed. Each other match becomes a proposal that holds
  its quantity in both posts until it is accepted, declined or expires
  (CHOSO_MATCHING_ACCEPT_HOURS); both sides are notified;
* every post left with quantity gets the core's explanation (no counterparty, or priced out
  with the limit that would have matched); the instance, the result and the prices by
  category are kept with the round, for quotes and for market data.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select, update

from choso import audit
from choso.db import utcnow
from choso.errors import NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from choso.settings import get_settings
from market.models import Role, User
from matching import locking
from matching.explain import Explanation, Round
from matching.instance import Demand, Instance, Supply, instance_json, parse_instance
from matching.models import (
    ClearingRound,
    MarketPost,
    MatchExplanation,
    MatchProposal,
    PostStatus,
    RoundTrigger,
    Side,
)
from matching.posts import local_today
from matching.result import Match, Result, parse_result, result_json
from matching.solver import solve_with_stats

log = logging.getLogger(__name__)

# đ per unit per km, by catalogue category ("*": the rest). Perishables travel chilled or iced.
TRANSPORT_RATES: dict[str, int] = {"*": 20, "vegetables": 30, "fruit": 30, "meat": 40, "seafood": 50}
ROUND_LOCK_KEY = 0x63686F736F4D  # pg_advisory_xact_lock key of clearing rounds ("chosoM")


def core_category(post: MarketPost) -> str:
    """The core's category: the post's category and unit (case and spaces do not matter)."""
    return f"{post.category}/{' '.join(post.unit.casefold().split())}"


def core_id(post: MarketPost) -> str:
    return ("s" if post.side == Side.SUPPLY else "d") + str(post.id)


def post_id_of(core: str) -> int:
    return int(core[1:])


def as_supply(post: MarketPost, quantity: int) -> Supply:
    return Supply(
        id=core_id(post),
        category=core_category(post),
        grade=post.grade,
        quantity=quantity,
        min_price_vnd=post.limit_price_vnd,
        lat=post.latitude,
        lon=post.longitude,
        available_from=post.window_from,
        available_to=post.window_to,
    )


def as_demand(post: MarketPost, quantity: int) -> Demand:
    return Demand(
        id=core_id(post),
        category=core_category(post),
        min_grade=post.grade,
        quantity=quantity,
        max_price_vnd=post.limit_price_vnd,
        lat=post.latitude,
        lon=post.longitude,
        needed_from=post.window_from,
        needed_by=post.window_to,
        max_distance_km=float(post.max_distance_km or 0.0),
    )


def rates_for(categories: set[str]) -> dict[str, int]:
    rates = {"*": TRANSPORT_RATES["*"]}
    for name in categories:
        rates[name] = TRANSPORT_RATES.get(name.split("/", 1)[0], TRANSPORT_RATES["*"])
    return rates


def build_instance(posts: list[MarketPost]) -> Instance:
    """The core's instance of these posts, each with its free quantity."""
    supply = tuple(as_supply(p, p.free_quantity) for p in posts if p.side == Side.SUPPLY)
    demand = tuple(as_demand(p, p.free_quantity) for p in posts if p.side == Side.DEMAND)
    rates = rates_for({core_category(p) for p in posts})
    instance = Instance(transport_vnd_per_unit_km=rates, supply=supply, demand=demand)
    if supply and demand:
        parse_instance(instance_json(instance))  # the core's own checks (magnitudes)
    return instance


def _unmatched(instance: Instance) -> Result:
    return Result(
        matches=(),
        supply_prices={s.id: s.min_price_vnd for s in instance.supply},
        demand_prices={d.id: d.max_price_vnd for d in instance.demand},
        welfare_vnd=0,
    )


# --- running a round ----------------------------------------------------------------------------


def _serialise(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUND_LOCK_KEY})


def open_posts(session: Session, today: date) -> list[MarketPost]:
    rows = session.exec(
        select(MarketPost)
        .where(MarketPost.status == PostStatus.OPEN, col(MarketPost.window_to) >= today)
        .order_by(col(MarketPost.id))
        .execution_options(populate_existing=True)
    )
    return [post for post in rows if post.free_quantity > 0]


def run_round(
    session: Session,
    *,
    trigger: RoundTrigger,
    by: User | None = None,
    slot: str | None = None,
    today: date | None = None,
    actor: audit.Actor | None = None,
) -> ClearingRound | None:
    """Clear the open posts now (see the module's rules); None if the slot was cleared already."""
    if by is not None and by.role != Role.OPERATOR:
        raise PermissionDenied(N_("Only operators run clearing rounds."))
    _serialise(session)
    if slot is not None and session.exec(select(ClearingRound.id).where(ClearingRound.slot == slot)).first():
        session.rollback()
        return None
    started = time.perf_counter()
    posts = open_posts(session, today or local_today())
    snapshot = {post.id or 0: (post.version, post.free_quantity) for post in posts}
    instance = build_instance(posts)
    result, pairs = _solve(instance)
    record = ClearingRound(
        trigger=trigger,
        slot=slot,
        started_by_id=by.id if by else None,
        supply_posts=len(instance.supply),
        demand_posts=len(instance.demand),
        compatible_pairs=pairs,
        instance=instance_json(instance),
        result=result_json(result),
    )
    session.add(record)
    session.flush()
    proposed = _propose(session, record, result, snapshot)
    _explain(session, record, instance, result)
    _mark_included(session, record, list(snapshot))
    record.proposals = len(proposed)
    record.matched_quantity = sum(p.quantity for p in proposed)
    record.welfare_vnd = sum(p.quantity * p.value_vnd for p in proposed)
    record.category_prices = category_prices(instance, proposed)
    record.seconds = round(time.perf_counter() - started, 3)
    session.add(record)
    if actor is not None:
        after = {"proposals": record.proposals, "welfare_vnd": record.welfare_vnd}
        audit.record(
            session,
            actor,
            action="matching_round.run",
            object_type="clearing_round",
            object_id=record.id or 0,
            after=after,
        )
    session.commit()
    log.info("clearing round %s: %s proposals, welfare %s", record.id, record.proposals, record.welfare_vnd)
    return record


def _solve(instance: Instance) -> tuple[Result, int]:
    if not instance.supply or not instance.demand:
        return _unmatched(instance), 0
    result, stats = solve_with_stats(instance)
    return result, stats.pairs


def _propose(
    session: Session, record: ClearingRound, result: Result, snapshot: dict[int, tuple[int, int]]
) -> list[MatchProposal]:
    """Each match whose posts are as they were at the snapshot becomes a proposal."""
    ids = {post_id_of(m.supply) for m in result.matches} | {post_id_of(m.demand) for m in result.matches}
    posts = locking.lock_posts(session, ids)
    free = {post_id: quantity for post_id, (_version, quantity) in snapshot.items()}
    expires = utcnow() + timedelta(hours=get_settings().matching_accept_hours)
    made = []
    for match in result.matches:
        supply, demand = posts.get(post_id_of(match.supply)), posts.get(post_id_of(match.demand))
        if (
            supply is None
            or demand is None
            or not _unchanged(supply, snapshot, free, match.quantity)
            or not _unchanged(demand, snapshot, free, match.quantity)
        ):
            continue
        free[supply.id or 0] -= match.quantity
        free[demand.id or 0] -= match.quantity
        made.append(_proposal(record, match, supply, demand, expires))
    session.add_all(made)
    session.flush()
    locking.commit_quantities(session, made)
    for proposal in made:
        _notify_proposed(session, proposal, posts[proposal.supply_post_id], record)
    return made


def _unchanged(
    post: MarketPost, snapshot: dict[int, tuple[int, int]], free: dict[int, int], quantity: int
) -> bool:
    if post.status != PostStatus.OPEN:
        return False
    version, _quantity = snapshot[post.id or 0]
    return post.version == version and free[post.id or 0] >= quantity


def _proposal(
    record: ClearingRound, match: Match, supply: MarketPost, demand: MarketPost, expires: Any
) -> MatchProposal:
    return MatchProposal(
        round_id=record.id or 0,
        supply_post_id=supply.id or 0,
        demand_post_id=demand.id or 0,
        supply_version=supply.version,
        demand_version=demand.version,
        quantity=match.quantity,
        price_vnd=match.price_vnd,
        transport_vnd=match.transport_vnd,
        distance_km=match.distance_km,
        supply_limit_vnd=supply.limit_price_vnd,
        demand_limit_vnd=demand.limit_price_vnd,
        expires_at=expires,
    )


def _notify_proposed(
    session: Session, proposal: MatchProposal, supply: MarketPost, record: ClearingRound
) -> None:
    from choso.i18n import format_local_datetime

    locking.notify_both(
        session,
        proposal,
        "match_proposed",
        {
            "round": record.id,
            "quantity": proposal.quantity,
            "unit": supply.unit,
            "price": format_vnd(proposal.price_vnd),
            "expires": format_local_datetime(proposal.expires_at),
        },
    )


def _explain(
    session: Session,
    record: ClearingRound,
    instance: Instance,
    result: Result,
) -> None:
    core = Round(instance, result)
    prices = {**result.supply_prices, **result.demand_prices}
    rows = [_explanation_row(record, item, prices) for item in core.explain_all()]
    session.add_all(rows)
    session.flush()


def _explanation_row(record: ClearingRound, item: Explanation, prices: dict[str, int]) -> MatchExplanation:
    return MatchExplanation(
        round_id=record.id or 0,
        post_id=post_id_of(item.post),
        quantity=item.quantity,
        matched=item.matched,
        reason=item.reason,
        limit_vnd=item.limit_vnd,
        counterparty_post_id=post_id_of(item.counterparty) if item.counterparty else None,
        distance_km=item.distance_km,
        transport_vnd=item.transport_vnd,
        price_vnd=prices.get(item.counterparty) if item.counterparty else None,
        nearest=[
            {"post": post_id_of(c.post), "distance_km": c.distance_km, "failed": list(c.failed)}
            for c in item.nearest
        ],
    )


def _mark_included(session: Session, record: ClearingRound, post_ids: list[int]) -> None:
    for start in range(0, len(post_ids), 500):
        chunk = post_ids[start : start + 500]
        session.exec(
            update(MarketPost).where(col(MarketPost.id).in_(chunk)).values(last_round_id=record.id),  # type: ignore[call-overload]
            execution_options=locking.NO_SYNC,
        )


def category_prices(instance: Instance, proposals: list[MatchProposal]) -> dict[str, Any]:
    """Cleared volume and farm-gate prices (volume-weighted, lowest, highest) by category/unit."""
    category = {s.id: s.category for s in instance.supply}
    found: dict[str, dict[str, int]] = {}
    for p in proposals:
        name = category[f"s{p.supply_post_id}"]
        first = {"volume": 0, "amount": 0, "min_vnd": p.price_vnd, "max_vnd": p.price_vnd}
        row = found.setdefault(name, first)
        row["volume"] += p.quantity
        row["amount"] += p.quantity * p.price_vnd
        row["min_vnd"] = min(row["min_vnd"], p.price_vnd)
        row["max_vnd"] = max(row["max_vnd"], p.price_vnd)
    return {
        name: {
            "volume": row["volume"],
            "price_vnd": round(row["amount"] / row["volume"]),
            "min_vnd": row["min_vnd"],
            "max_vnd": row["max_vnd"],
        }
        for name, row in sorted(found.items())
    }


def schedule_slot(now_seconds: float, minutes: float) -> str:
    """The schedule slot a scheduled round at ``now_seconds`` (epoch) belongs to (pure)."""
    return f"schedule:{int(now_seconds // (minutes * 60))}"


def run_scheduled_round(session: Session) -> ClearingRound | None:
    slot = schedule_slot(time.time(), get_settings().matching_round_minutes)
    return run_round(session, trigger=RoundTrigger.SCHEDULE, slot=slot)


# --- the last round: quotes ---------------------------------------------------------------------

_cores: dict[tuple[int, str], Round] = {}


def latest_round(session: Session) -> ClearingRound | None:
    """The newest round that had posts on both sides (the one quotes are read from)."""
    return session.exec(
        select(ClearingRound)
        .where(ClearingRound.supply_posts > 0, ClearingRound.demand_posts > 0)
        .order_by(col(ClearingRound.id).desc())
        .limit(1)
    ).first()


def core_round(record: ClearingRound) -> Round:
    """The core's view of a stored round (parsed once per process, the last few kept)."""
    key = (record.id or 0, record.created_at.isoformat())
    if key not in _cores:
        if len(_cores) >= 4:
            _cores.pop(next(iter(_cores)))
        _cores[key] = Round(parse_instance(record.instance), parse_result(record.result))
    return _cores[key]


@dataclass(frozen=True)
class QuoteView:
    round_id: int
    side: Side
    price_vnd: int | None  # delivered (buyer) or farm-gate after transport (seller)
    counterparty_post_id: int | None
    distance_km: float | None
    transport_vnd: int | None
    reachable: int
    category_price_vnd: int | None
    within_limit: bool | None


def quote_for(session: Session, post: MarketPost) -> QuoteView | None:
    """What the post could expect at the last round's prices; None before any round."""
    record = latest_round(session)
    if record is None:
        return None
    core = core_round(record)
    if post.side == Side.SUPPLY:
        quote = core.quote_supply(as_supply(post, max(post.quantity, 1)))
        within = None if quote.price_vnd is None else quote.price_vnd > post.limit_price_vnd
    else:
        quote = core.quote_demand(as_demand(post, max(post.quantity, 1)))
        within = None if quote.price_vnd is None else quote.price_vnd < post.limit_price_vnd
    return QuoteView(
        round_id=record.id or 0,
        side=post.side,
        price_vnd=quote.price_vnd,
        counterparty_post_id=post_id_of(quote.counterparty) if quote.counterparty else None,
        distance_km=quote.distance_km,
        transport_vnd=quote.transport_vnd,
        reachable=quote.reachable,
        category_price_vnd=quote.category_price_vnd,
        within_limit=within,
    )


def explanation_for(session: Session, post: MarketPost) -> MatchExplanation | None:
    """Why the post was left short in the last round that included it (None: it was not)."""
    if post.last_round_id is None:
        return None
    return session.exec(
        select(MatchExplanation).where(
            MatchExplanation.round_id == post.last_round_id, MatchExplanation.post_id == post.id
        )
    ).first()


# --- operators: rounds --------------------------------------------------------------------------


def _operator(user: User) -> None:
    if user.role != Role.OPERATOR:
        raise PermissionDenied(N_("Your role does not allow this."))


def list_rounds(
    session: Session, user: User, *, limit: int = 50, offset: int = 0
) -> tuple[list[ClearingRound], int]:
    _operator(user)
    total = session.exec(select(sa.func.count()).select_from(ClearingRound)).one()
    rows = session.exec(
        select(ClearingRound).order_by(col(ClearingRound.id).desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def get_round(session: Session, user: User, round_id: int) -> ClearingRound:
    _operator(user)
    record = session.get(ClearingRound, round_id)
    if record is None:
        raise NotFound(N_("No such clearing round."))
    return record


def round_summary(session: Session, record: ClearingRound) -> dict[str, Any]:
    """Counts of a round's proposals by status and of its explanations by reason."""
    by_status = session.exec(
        select(MatchProposal.status, sa.func.count())
        .where(MatchProposal.round_id == record.id)
        .group_by(col(MatchProposal.status))
    ).all()
    by_reason = session.exec(
        select(MatchExplanation.reason, sa.func.count())
        .where(MatchExplanation.round_id == record.id)
        .group_by(col(MatchExplanation.reason))
    ).all()
    return {
        "proposals_by_status": {str(s): int(n) for s, n in by_status},
        "unmatched_by_reason": {str(r): int(n) for r, n in by_reason},
    }


# --- market data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketDataRow:
    """Cleared volume and prices of one group (any of week, category, ward may be None: all)."""

    week: str | None  # ISO week of the round, local time: "2026-W48"
    category: str | None
    ward_code: int | None  # the ward the supply came from
    proposals: int
    quantity: int
    price_vnd: int  # volume-weighted farm-gate price per unit
    min_price_vnd: int
    max_price_vnd: int
    delivered_price_vnd: int  # volume-weighted delivered price per unit


GROUPS = ("week", "category", "ward")


def market_data(
    session: Session,
    *,
    by: tuple[str, ...] = GROUPS,
    since: date | None = None,
    ordered_only: bool = False,
) -> list[MarketDataRow]:
    """Cleared volumes and prices from the rounds' proposals, grouped by ``by`` (any of week,
    category, ward); ``ordered_only`` counts only the proposals that became orders. Plain rows,
    for the open-data and dashboard work."""
    from choso.i18n import LOCALE_TIMEZONE
    from matching.models import ProposalStatus

    query = (
        select(ClearingRound.created_at, MarketPost.category, MarketPost.ward_code, MatchProposal)
        .join(ClearingRound, col(ClearingRound.id) == col(MatchProposal.round_id))
        .join(MarketPost, col(MarketPost.id) == col(MatchProposal.supply_post_id))
    )
    if since is not None:
        start = datetime.combine(since, datetime.min.time(), tzinfo=LOCALE_TIMEZONE)
        query = query.where(col(ClearingRound.created_at) >= start)
    if ordered_only:
        query = query.where(MatchProposal.status == ProposalStatus.ORDERED)
    groups: dict[tuple[Any, ...], list[MatchProposal]] = defaultdict(list)
    for created_at, category, ward, proposal in session.exec(query):
        year, week, _ = created_at.astimezone(LOCALE_TIMEZONE).isocalendar()
        key = (
            f"{year}-W{week:02d}" if "week" in by else None,
            category if "category" in by else None,
            ward if "ward" in by else None,
        )
        groups[key].append(proposal)
    return [_data_row(key, found) for key, found in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def _data_row(key: tuple[Any, ...], found: list[MatchProposal]) -> MarketDataRow:
    quantity = sum(p.quantity for p in found)
    return MarketDataRow(
        week=key[0],
        category=key[1],
        ward_code=key[2],
        proposals=len(found),
        quantity=quantity,
        price_vnd=round(sum(p.quantity * p.price_vnd for p in found) / quantity),
        min_price_vnd=min(p.price_vnd for p in found),
        max_price_vnd=max(p.price_vnd for p in found),
        delivered_price_vnd=round(sum(p.quantity * p.delivered_price_vnd for p in found) / quantity),
    )
