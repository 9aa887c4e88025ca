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
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from matching.instance import Demand, Instance, Supply
from matching.result import Result
from matching.rules import CATEGORY, DATES, DISTANCE, EARTH_RADIUS_KM, GRADE, PRICE, evaluate

NEAREST = 5
_MARGIN = 1e-6  # pre-selection slack over numpy's haversine; the exact rule decides after it
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


class _Pool:
    """One side's posts of one category as arrays, to pre-select candidates quickly; the exact
    rule (:func:`matching.rules.evaluate`) then decides on the few that pass."""

    def __init__(self, posts: list[Supply] | list[Demand]) -> None:
        self.posts = posts
        self.phi = np.radians([p.lat for p in posts])
        self.lam = np.radians([p.lon for p in posts])
        if posts and isinstance(posts[0], Supply):
            self.grade = np.array([p.grade for p in posts])  # type: ignore[union-attr]
            self.start = np.array([p.available_from.toordinal() for p in posts])  # type: ignore[union-attr]
            self.end = np.array([p.available_to.toordinal() for p in posts])  # type: ignore[union-attr]
        else:
            self.grade = np.array([p.min_grade for p in posts])  # type: ignore[union-attr]
            self.start = np.array([p.needed_from.toordinal() for p in posts])  # type: ignore[union-attr]
            self.end = np.array([p.needed_by.toordinal() for p in posts])  # type: ignore[union-attr]
            self.max_km = np.array([p.max_distance_km for p in posts])  # type: ignore[union-attr]

    def km(self, lat: float, lon: float) -> NDArray[np.float64]:
        phi, lam = math.radians(lat), math.radians(lon)
        a = (
            np.sin((self.phi - phi) / 2) ** 2
            + np.cos(phi) * np.cos(self.phi) * np.sin((self.lam - lam) / 2) ** 2
        )
        return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, a)))

    def supplies_near(self, demand: Demand) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Supplies that may pass grade, dates and distance for ``demand`` (a superset), and km."""
        km = self.km(demand.lat, demand.lon)
        ok = (self.grade >= demand.min_grade) & (self.start <= demand.needed_by.toordinal())
        ok &= self.end >= demand.needed_from.toordinal()
        ok &= km <= demand.max_distance_km * (1 + _MARGIN) + _MARGIN
        near = np.flatnonzero(ok)
        return near, km[near]

    def demands_near(self, supply: Supply) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Demands that may pass grade, dates and distance for ``supply`` (a superset), and km."""
        km = self.km(supply.lat, supply.lon)
        ok = (self.grade <= supply.grade) & (self.start <= supply.available_to.toordinal())
        ok &= self.end >= supply.available_from.toordinal()
        ok &= km <= self.max_km * (1 + _MARGIN) + _MARGIN
        near = np.flatnonzero(ok)
        return near, km[near]

    def nearest(self, lat: float, lon: float, count: int) -> list[Supply] | list[Demand]:
        if not self.posts:
            return []
        order = np.argsort(self.km(lat, lon), kind="stable")[:count]
        return [self.posts[i] for i in order]  # type: ignore[return-value]


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
        supplies: dict[str, list[Supply]] = defaultdict(list)
        demands: dict[str, list[Demand]] = defaultdict(list)
        for supply in instance.supply:
            supplies[supply.category].append(supply)
        for demand in instance.demand:
            demands[demand.category].append(demand)
        self.supply_pool = {name: _Pool(posts) for name, posts in supplies.items()}
        self.demand_pool = {name: _Pool(posts) for name, posts in demands.items()}
        self.all_supplies, self.all_demands = _Pool(list(instance.supply)), _Pool(list(instance.demand))

    # --- nearest posts --------------------------------------------------------------------

    def _nearest_supplies(self, demand: Demand) -> tuple[Candidate, ...]:
        pool = self.supply_pool.get(demand.category) or self.all_supplies
        ranked: list[Supply] = pool.nearest(demand.lat, demand.lon, NEAREST)  # type: ignore[assignment]
        return tuple(_candidate(self.instance, s.id, s, demand) for s in ranked)

    def _nearest_demands(self, supply: Supply) -> tuple[Candidate, ...]:
        pool = self.demand_pool.get(supply.category) or self.all_demands
        ranked: list[Demand] = pool.nearest(supply.lat, supply.lon, NEAREST)  # type: ignore[assignment]
        return tuple(_candidate(self.instance, d.id, supply, d) for d in ranked)

    # --- best counterparties at this round's prices ---------------------------------------

    def cheapest_supply(
        self, demand: Demand, prices: dict[str, int]
    ) -> tuple[Supply, int, float, int] | None:
        """The reachable supply with the lowest delivered price: ``(post, price + t, km, t)``.

        Candidates are ranked by an estimate (numpy's haversine); the exact rule then confirms
        them in that order, looking one đồng past the first confirmed in case of rounding.
        """
        pool = self.supply_pool.get(demand.category)
        if pool is None:
            return None
        near, km = pool.supplies_near(demand)
        rate = self.instance.rate(demand.category)
        estimate = np.array([prices[pool.posts[i].id] for i in near]) + np.round(rate * km)
        best: tuple[Supply, int, float, int] | None = None
        for i in np.argsort(estimate, kind="stable"):
            if best is not None and estimate[i] > best[1] + 1:
                break
            supply: Supply = pool.posts[near[i]]  # type: ignore[assignment]
            if self.flow.get((supply.id, demand.id)) == supply.quantity:
                continue  # already sells all it has to this buyer: no more to be had there
            ok, distance, transport = _reachable(self.instance, supply, demand)
            if ok and (best is None or prices[supply.id] + transport < best[1]):
                best = (supply, prices[supply.id] + transport, distance, transport)
        return best

    def best_demand(self, supply: Supply, prices: dict[str, int]) -> tuple[Demand, int, float, int] | None:
        """The reachable demand that nets the seller most: ``(post, price − t, km, t)``."""
        pool = self.demand_pool.get(supply.category)
        if pool is None:
            return None
        near, km = pool.demands_near(supply)
        rate = self.instance.rate(supply.category)
        estimate = np.array([prices[pool.posts[i].id] for i in near]) - np.round(rate * km)
        best: tuple[Demand, int, float, int] | None = None
        for i in np.argsort(-estimate, kind="stable"):
            if best is not None and estimate[i] < best[1] - 1:
                break
            demand: Demand = pool.posts[near[i]]  # type: ignore[assignment]
            if self.flow.get((supply.id, demand.id)) == demand.quantity:
                continue  # this buyer already takes all it needs from this seller
            ok, distance, transport = _reachable(self.instance, supply, demand)
            if ok and (best is None or prices[demand.id] - transport > best[1]):
                best = (demand, prices[demand.id] - transport, distance, transport)
        return best

    def _reachable_count(self, post: Supply | Demand) -> int:
        """Opposite posts passing category, grade, dates and distance for ``post``."""
        if isinstance(post, Supply):
            pool = self.demand_pool.get(post.category)
            if pool is None:
                return 0
            near = pool.demands_near(post)[0]
            return sum(1 for i in near if _reachable(self.instance, post, pool.posts[i])[0])  # type: ignore[arg-type]
        pool = self.supply_pool.get(post.category)
        if pool is None:
            return 0
        near = pool.supplies_near(post)[0]
        return sum(1 for i in near if _reachable(self.instance, pool.posts[i], post)[0])  # type: ignore[arg-type]

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
        reachable = self._reachable_count(demand)
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
        reachable = self._reachable_count(supply)
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


def _belongs(instance: Instance, result: Result) -> None:
    supplies, demands = {p.id for p in instance.supply}, {p.id for p in instance.demand}
    if set(result.supply_prices) != supplies or set(result.demand_prices) != demands:
        raise ValueError("the result's prices do not cover exactly this instance's posts")
    for match in result.matches:
        if match.supply not in supplies or match.demand not in demands:
            raise ValueError(f"match {match.supply} → {match.demand} names a post not in this instance")


def _candidate(instance: Instance, post_id: str, supply: Supply, demand: Demand) -> Candidate:
    pair = evaluate(instance, supply, demand)
    return Candidate(post=post_id, distance_km=round(pair.distance_km, 3), failed=pair.failed)


_MATCHED = "compatible, already matched with you for all it could"
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
        f"{c.post} at {c.distance_km:.1f} km: {', '.join(_WORDS[f] for f in c.failed) or _MATCHED}"
        for c in nearest
    )
    further = "further " if any(not c.failed for c in nearest) else ""
    return f'no {further}compatible {other} post for "{category}"; the nearest: {reasons}'


def explain(instance: Instance, result: Result) -> list[Explanation]:
    """Explanations for every unmatched or short post of a cleared round."""
    return Round(instance, result).explain_all()


def quote(instance: Instance, result: Result, post: Supply | Demand) -> Quote:
    """Indicative quote for a new post from a previous round (its instance and result)."""
    last = Round(instance, result)
    return last.quote_supply(post) if isinstance(post, Supply) else last.quote_demand(post)
