"""Why a post was not (fully) matched in a round, and what a new post could expect: pure functions.

Rule. A post left with quantity is either
- ``no_counterparty``: no opposite post passes category, grade, dates and distance; the
  explanation lists the nearest posts of the same category (or of any category when there is
  none) with every condition that excludes each of them; or
- ``priced_out``: some do, but at this round's prices none is worth it. For a buyer, the
  cheapest reachable seller delivers at ``p_s + t``; a maximum one đồng above that would have
  been served at these prices ("raise your maximum to 14,200 đ"). For a seller, the best
  reachable buyer nets ``P_d − t``; a minimum one đồng below would have sold.
These limits are indicative: a changed post changes the round, so the next round's prices may
differ. A quote for a new post applies the same reading to the previous round's prices.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Literal

from matching.instance import Demand, Instance, Supply
from matching.result import Result
from matching.rules import CATEGORY, DATES, DISTANCE, GRADE, PRICE, evaluate

NEAREST = 5
_NONE = (None, None, None, None)  # limit, counterparty, distance, transport: not applicable
Side = Literal["supply", "demand"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An opposite post near the one explained, and every condition that excludes it."""

    post: str
    distance_km: float
    failed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    side: Side
    post: str
    quantity: int
    matched: int
    reason: Literal["no_counterparty", "priced_out"]
    # The limit that would have matched at this round's prices: a maximum for a buyer, a
    # minimum for a seller; None when no price can help (transport costs more than any price).
    limit_vnd: int | None
    counterparty: str | None
    distance_km: float | None
    transport_vnd: int | None
    nearest: tuple[Candidate, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Quote:
    """What a new post could expect at the previous round's prices."""

    side: Side
    price_vnd: int | None  # delivered price a buyer would pay, or farm-gate price a seller would get
    counterparty: str | None
    distance_km: float | None
    transport_vnd: int | None
    reachable: int  # opposite posts passing category, grade, dates and distance
    category_price_vnd: int | None  # volume-weighted farm-gate price of the category last round
    message: str


def _vnd(amount: int) -> str:
    return f"{amount:,} đ"


def _overlap(a_from: date, a_to: date, b_from: date, b_to: date) -> bool:
    return max(a_from, b_from) <= min(a_to, b_to)


def _reachable(instance: Instance, supply: Supply, demand: Demand) -> tuple[bool, float, int]:
    """Passes category, grade, dates and distance (price aside): ``(ok, distance, transport)``."""
    pair = evaluate(instance, supply, demand)
    return not (set(pair.failed) - {PRICE}), round(pair.distance_km, 3), pair.transport_vnd


class Round:
    """One cleared round, indexed for explanations and quotes."""

    def __init__(self, instance: Instance, result: Result) -> None:
        _belongs(instance, result)
        self.instance, self.result = instance, result
        self.sold: dict[str, int] = defaultdict(int)
        self.bought: dict[str, int] = defaultdict(int)
        self.flow: dict[tuple[str, str], int] = {}
        volume: dict[str, int] = defaultdict(int)
        amount: dict[str, int] = defaultdict(int)
        category = {post.id: post.category for post in instance.supply}
        for match in result.matches:
            self.sold[match.supply] += match.quantity
            self.flow[match.supply, match.demand] = match.quantity
            self.bought[match.demand] += match.quantity
            volume[category[match.supply]] += match.quantity
            amount[category[match.supply]] += match.quantity * match.price_vnd
        self.category_price = {name: round(amount[name] / volume[name]) for name in volume}
        self.supply_by_category: dict[str, list[Supply]] = defaultdict(list)
        self.demand_by_category: dict[str, list[Demand]] = defaultdict(list)
        for supply in instance.supply:
            self.supply_by_category[supply.category].append(supply)
        for demand in instance.demand:
            self.demand_by_category[demand.category].append(demand)

    # --- nearest posts --------------------------------------------------------------------

    def _nearest_supplies(self, demand: Demand) -> tuple[Candidate, ...]:
        pool = self.supply_by_category.get(demand.category) or list(self.instance.supply)
        ranked = sorted(pool, key=lambda s: _rough_km(s.lat, s.lon, demand.lat, demand.lon))[:NEAREST]
        return tuple(_candidate(self.instance, s.id, s, demand) for s in ranked)

    def _nearest_demands(self, supply: Supply) -> tuple[Candidate, ...]:
        pool = self.demand_by_category.get(supply.category) or list(self.instance.demand)
        ranked = sorted(pool, key=lambda d: _rough_km(supply.lat, supply.lon, d.lat, d.lon))[:NEAREST]
        return tuple(_candidate(self.instance, d.id, supply, d) for d in ranked)

    # --- best counterparties at this round's prices ---------------------------------------

    def cheapest_supply(
        self, demand: Demand, prices: dict[str, int]
    ) -> tuple[Supply, int, float, int] | None:
        """The reachable supply with the lowest delivered price: ``(post, price + t, km, t)``."""
        best = None
        for supply in self.supply_by_category.get(demand.category, ()):
            if self.flow.get((supply.id, demand.id)) == supply.quantity:
                continue  # already sells all it has to this buyer: no more to be had there
            ok, km, transport = _reachable(self.instance, supply, demand)
            if ok and (best is None or prices[supply.id] + transport < best[1]):
                best = (supply, prices[supply.id] + transport, km, transport)
        return best

    def best_demand(self, supply: Supply, prices: dict[str, int]) -> tuple[Demand, int, float, int] | None:
        """The reachable demand that nets the seller most: ``(post, price − t, km, t)``."""
        best = None
        for demand in self.demand_by_category.get(supply.category, ()):
            if self.flow.get((supply.id, demand.id)) == demand.quantity:
                continue  # this buyer already takes all it needs from this seller
            ok, km, transport = _reachable(self.instance, supply, demand)
            if ok and (best is None or prices[demand.id] - transport > best[1]):
                best = (demand, prices[demand.id] - transport, km, transport)
        return best

    # --- explanations ---------------------------------------------------------------------

    def explain_demand(self, demand: Demand) -> Explanation | None:
        """Why ``demand`` was left short, or None if it was fully served."""
        matched = self.bought.get(demand.id, 0)
        if matched >= demand.quantity:
            return None
        best = self.cheapest_supply(demand, self.result.supply_prices)
        if best is None:
            nearest = self._nearest_supplies(demand)
            message = _no_counterparty("supply", demand.category, nearest)
            return Explanation(
                "demand", demand.id, demand.quantity, matched, "no_counterparty", *_NONE, nearest, message
            )
        supply, delivered, km, transport = best
        limit = delivered + 1
        message = (
            f"priced out: at this round's prices the cheapest reachable supply ({supply.id}, {km:.1f} km) "
            f"delivers at {_vnd(delivered)} per unit ({_vnd(delivered - transport)} + transport "
            f"{_vnd(transport)}); raise your maximum to {_vnd(limit)}"
        )
        return Explanation(
            "demand",
            demand.id,
            demand.quantity,
            matched,
            "priced_out",
            limit,
            supply.id,
            km,
            transport,
            (),
            message,
        )

    def explain_supply(self, supply: Supply) -> Explanation | None:
        """Why ``supply`` has quantity left over, or None if it sold everything."""
        matched = self.sold.get(supply.id, 0)
        if matched >= supply.quantity:
            return None
        best = self.best_demand(supply, self.result.demand_prices)
        if best is None:
            nearest = self._nearest_demands(supply)
            message = _no_counterparty("demand", supply.category, nearest)
            return Explanation(
                "supply", supply.id, supply.quantity, matched, "no_counterparty", *_NONE, nearest, message
            )
        demand, net, km, transport = best
        limit = net - 1 if net > 1 else None
        advice = (
            f"lower your minimum to {_vnd(limit)}" if limit else "transport costs more than any buyer pays"
        )
        message = (
            f"priced out: at this round's prices the best reachable demand ({demand.id}, {km:.1f} km) pays "
            f"{_vnd(net + transport)} delivered, {_vnd(net)} after transport {_vnd(transport)}; {advice}"
        )
        return Explanation(
            "supply",
            supply.id,
            supply.quantity,
            matched,
            "priced_out",
            limit,
            demand.id,
            km,
            transport,
            (),
            message,
        )

    def explain_all(self) -> list[Explanation]:
        """An explanation for every post left with quantity, supplies first, in instance order."""
        found = [self.explain_supply(s) for s in self.instance.supply]
        found += [self.explain_demand(d) for d in self.instance.demand]
        return [item for item in found if item is not None]

    # --- quotes ---------------------------------------------------------------------------

    def quote_demand(self, demand: Demand) -> Quote:
        """Indicative delivered price for a new demand post at this round's supply prices."""
        reachable = self._count(demand.category, lambda s: _reachable(self.instance, s, demand)[0], "supply")
        best = self.cheapest_supply(demand, self.result.supply_prices)
        reference = self.category_price.get(demand.category)
        if best is None:
            return Quote(
                "demand", None, None, None, None, 0, reference, "no supply post within reach last round"
            )
        supply, delivered, km, transport = best
        fits = "within" if delivered < demand.max_price_vnd else "above"
        message = (
            f"last round the cheapest reachable supply ({supply.id}, {km:.1f} km) delivered at "
            f"{_vnd(delivered)} per unit, {fits} your maximum of {_vnd(demand.max_price_vnd)}"
        )
        return Quote("demand", delivered, supply.id, km, transport, reachable, reference, message)

    def quote_supply(self, supply: Supply) -> Quote:
        """Indicative farm-gate price for a new supply post at this round's demand prices."""
        reachable = self._count(supply.category, lambda d: _reachable(self.instance, supply, d)[0], "demand")
        best = self.best_demand(supply, self.result.demand_prices)
        reference = self.category_price.get(supply.category)
        if best is None:
            return Quote(
                "supply", None, None, None, None, 0, reference, "no demand post within reach last round"
            )
        demand, net, km, transport = best
        fits = "above" if net > supply.min_price_vnd else "below"
        message = (
            f"last round the best reachable demand ({demand.id}, {km:.1f} km) netted {_vnd(net)} per unit "
            f"after transport, {fits} your minimum of {_vnd(supply.min_price_vnd)}"
        )
        return Quote("supply", net, demand.id, km, transport, reachable, reference, message)

    def _count(self, category: str, test, side: Side) -> int:  # type: ignore[no-untyped-def]
        pool = self.supply_by_category if side == "supply" else self.demand_by_category
        return sum(1 for post in pool.get(category, ()) if test(post))


def _belongs(instance: Instance, result: Result) -> None:
    supplies, demands = {p.id for p in instance.supply}, {p.id for p in instance.demand}
    if set(result.supply_prices) != supplies or set(result.demand_prices) != demands:
        raise ValueError("the result's prices do not cover exactly this instance's posts")
    for match in result.matches:
        if match.supply not in supplies or match.demand not in demands:
            raise ValueError(f"match {match.supply} → {match.demand} names a post not in this instance")


def _rough_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: only ranks candidates, the rule's haversine decides."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6371.0 * math.hypot(x, math.radians(lat2 - lat1))


def _candidate(instance: Instance, post_id: str, supply: Supply, demand: Demand) -> Candidate:
    pair = evaluate(instance, supply, demand)
    return Candidate(post=post_id, distance_km=round(pair.distance_km, 3), failed=pair.failed)


_WORDS = {
    CATEGORY: "other category",
    GRADE: "grade too low",
    DATES: "dates do not overlap",
    DISTANCE: "too far",
    PRICE: "prices do not cover transport",
}


def _no_counterparty(other: str, category: str, nearest: tuple[Candidate, ...]) -> str:
    if not nearest:
        return f"no {other} post in this round"
    reasons = "; ".join(
        f"{c.post} at {c.distance_km:.1f} km: {', '.join(_WORDS[f] for f in c.failed)}" for c in nearest
    )
    return f'no compatible {other} post for "{category}"; the nearest: {reasons}'


def explain(instance: Instance, result: Result) -> list[Explanation]:
    """Explanations for every unmatched or short post of a cleared round."""
    return Round(instance, result).explain_all()


def quote(instance: Instance, result: Result, post: Supply | Demand) -> Quote:
    """Indicative quote for a new post from a previous round (its instance and result)."""
    last = Round(instance, result)
    return last.quote_supply(post) if isinstance(post, Supply) else last.quote_demand(post)
