"""The certificate check: does a result meet conditions 1–5 of the issue for an instance?

Rule: a result that passes is provably optimal (the conditions are LP complementary
slackness), so this check is written independently of the solver: matches are verified one by
one against :mod:`matching.rules`, and the search for a blocking pair (condition 4) scans
supplies in price order with its own kernel rather than reusing the solver's enumeration.

Violations are reported in a fixed order, the first one found wins: the result's shape, then
condition 5 (every price an integer, needed for exact arithmetic), then 1, 2, 3, 4 in order,
and last the announced welfare against the matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from matching import kernels
from matching.columns import columns
from matching.instance import Demand, Instance, Supply
from matching.result import Match, Result
from matching.rules import evaluate

DISTANCE_TOLERANCE_KM = 0.0005  # results give distances to the metre


@dataclass(frozen=True, slots=True)
class Verdict:
    """``welfare_vnd`` when every condition holds, else the first violation."""

    welfare_vnd: int | None
    condition: int | None = None  # 1–5, or 0 for the result's shape and the announced welfare
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.condition is None


class _Violation(Exception):
    def __init__(self, condition: int, message: str) -> None:
        super().__init__(message)
        self.condition, self.message = condition, message


def _is_int(value: Any) -> bool:
    return type(value) is int


def _shape(instance: Instance, result: Result) -> None:
    for side, posts, prices in (
        ("supply", instance.supply, result.supply_prices),
        ("demand", instance.demand, result.demand_prices),
    ):
        ids = {post.id for post in posts}
        for post_id in prices:
            if post_id not in ids:
                raise _Violation(0, f'{side}_prices names "{post_id}", which is not a {side} post')
        for post in posts:
            if post.id not in prices:
                raise _Violation(0, f'{side}_prices has no price for {side} "{post.id}"')


def _integers(result: Result) -> None:
    for side, prices in (("supply", result.supply_prices), ("demand", result.demand_prices)):
        for post_id, price in prices.items():
            if not _is_int(price):
                raise _Violation(5, f'{side} "{post_id}": price {price!r} is not an integer')
    for i, match in enumerate(result.matches):
        for key in ("price_vnd", "transport_vnd"):
            if not _is_int(getattr(match, key)):
                raise _Violation(
                    5, f"matches[{i}] ({match.supply} → {match.demand}): {key} is not an integer"
                )
    if not _is_int(result.welfare_vnd):
        raise _Violation(5, "welfare_vnd is not an integer")


def _match_ok(instance: Instance, i: int, match: Match, supply: Supply, demand: Demand) -> int:
    """Condition 1 for one match (compatible, figures right); returns its value per unit."""
    where = f'matches[{i}] (supply "{match.supply}" → demand "{match.demand}")'
    if not _is_int(match.quantity) or match.quantity <= 0:
        raise _Violation(1, f"{where}: quantity must be a positive integer, got {match.quantity!r}")
    pair = evaluate(instance, supply, demand)
    if pair.failed:
        raise _Violation(1, f"{where}: not compatible ({', '.join(pair.failed)})")
    if match.transport_vnd != pair.transport_vnd:
        raise _Violation(
            1, f"{where}: transport_vnd is {match.transport_vnd}, the rule gives {pair.transport_vnd}"
        )
    if abs(match.distance_km - pair.distance_km) > DISTANCE_TOLERANCE_KM:
        raise _Violation(
            1, f"{where}: distance_km is {match.distance_km}, the rule gives {pair.distance_km:.3f}"
        )
    return pair.value_vnd


def _condition_1(instance: Instance, result: Result) -> tuple[dict[str, int], dict[str, int], int]:
    """Every match compatible and within quantities; returns quantities sold, bought, welfare."""
    supplies = {post.id: post for post in instance.supply}
    demands = {post.id: post for post in instance.demand}
    sold: dict[str, int] = dict.fromkeys(supplies, 0)
    bought: dict[str, int] = dict.fromkeys(demands, 0)
    seen: set[tuple[str, str]] = set()
    welfare = 0
    for i, match in enumerate(result.matches):
        if match.supply not in supplies or match.demand not in demands:
            raise _Violation(1, f"matches[{i}]: unknown post {match.supply!r} or {match.demand!r}")
        if (match.supply, match.demand) in seen:
            raise _Violation(1, f"matches[{i}]: the pair {match.supply} → {match.demand} appears twice")
        seen.add((match.supply, match.demand))
        value = _match_ok(instance, i, match, supplies[match.supply], demands[match.demand])
        sold[match.supply] += match.quantity
        bought[match.demand] += match.quantity
        welfare += match.quantity * value
    for side, amounts, posts in (("supply", sold, supplies), ("demand", bought, demands)):
        for post_id, amount in amounts.items():
            if amount > posts[post_id].quantity:
                raise _Violation(1, f'{side} "{post_id}": matched {amount}, more than its quantity')
    return sold, bought, welfare


def _condition_2(result: Result) -> None:
    for i, match in enumerate(result.matches):
        p_s, p_d = result.supply_prices[match.supply], result.demand_prices[match.demand]
        where = f'matches[{i}] (supply "{match.supply}" → demand "{match.demand}")'
        if match.price_vnd != p_s:
            raise _Violation(2, f"{where}: price_vnd {match.price_vnd} differs from the supply price {p_s}")
        if p_s + match.transport_vnd != p_d:
            raise _Violation(
                2, f"{where}: supply price {p_s} + transport {match.transport_vnd} ≠ demand price {p_d}"
            )


def _condition_3(instance: Instance, result: Result, sold: dict[str, int], bought: dict[str, int]) -> None:
    for post in instance.supply:
        price = result.supply_prices[post.id]
        if price < post.min_price_vnd:
            raise _Violation(3, f'supply "{post.id}": price {price} below its minimum {post.min_price_vnd}')
        if sold[post.id] < post.quantity and price != post.min_price_vnd:
            raise _Violation(
                3,
                f'supply "{post.id}": has quantity left over, so its price must be '
                f"{post.min_price_vnd}, not {price}",
            )
    for post in instance.demand:
        price = result.demand_prices[post.id]
        if price > post.max_price_vnd:
            raise _Violation(3, f'demand "{post.id}": price {price} above its maximum {post.max_price_vnd}')
        if bought[post.id] < post.quantity and price != post.max_price_vnd:
            raise _Violation(
                3,
                f'demand "{post.id}": is left short, so its price must be {post.max_price_vnd}, not {price}',
            )


def _condition_4(instance: Instance, result: Result) -> None:
    """No compatible pair with ``p_s + t < P_d`` (a pair that would rather deal on the side)."""
    cols = columns(instance)
    s, d = cols.supply, cols.demand
    s_price = np.array([result.supply_prices[p.id] for p in instance.supply], dtype=np.int64)
    d_price = np.array([result.demand_prices[p.id] for p in instance.demand], dtype=np.int64)
    order = np.lexsort((s_price, s.cat))
    sorted_cat = s.cat[order]
    codes = np.arange(len(cols.categories))
    lo, hi = np.searchsorted(sorted_cat, codes, "left"), np.searchsorted(sorted_cat, codes, "right")
    found = kernels.first_blocking_pair(
        lo,
        hi,
        order.astype(np.int64),
        s_price[order],
        s.phi[order],
        s.lam[order],
        s.cos[order],
        np.ascontiguousarray(s.xyz[order]),
        s.grade[order],
        s.start[order],
        s.end[order],
        s.limit[order],
        d_price,
        d.cat,
        d.grade,
        d.start,
        d.end,
        d.phi,
        d.lam,
        d.cos,
        d.xyz,
        d.limit,
        cols.max_km,
        cols.cat_rate,
    )
    blocked = np.flatnonzero(found >= 0)
    if len(blocked):
        demand = instance.demand[int(blocked[0])]
        supply = instance.supply[int(found[blocked[0]])]
        pair = evaluate(instance, supply, demand)
        p_s, p_d = result.supply_prices[supply.id], result.demand_prices[demand.id]
        raise _Violation(
            4,
            f'blocking pair: supply "{supply.id}" at {p_s} + transport {pair.transport_vnd} = '
            f'{p_s + pair.transport_vnd} is below demand "{demand.id}" price {p_d}',
        )


def check(instance: Instance, result: Result) -> Verdict:
    """Verify conditions 1–5; the welfare when they hold, else the first violation."""
    try:
        _shape(instance, result)
        _integers(result)
        sold, bought, welfare = _condition_1(instance, result)
        _condition_2(result)
        _condition_3(instance, result, sold, bought)
        _condition_4(instance, result)
        if result.welfare_vnd != welfare:
            raise _Violation(0, f"welfare_vnd is {result.welfare_vnd}, the matches give {welfare}")
    except _Violation as violation:
        return Verdict(welfare_vnd=None, condition=violation.condition, message=violation.message)
    return Verdict(welfare_vnd=welfare)
