"""The clearing solver: maximum gain from trade, and the competitive prices that certify it.

Problem. Choose quantities ``x_sd ≥ 0`` on compatible pairs, at most each post's quantity, to
maximise ``Σ x_sd·v_sd`` (the welfare, ``v = max_price − min_price − transport``). This is a
transportation problem, solved as a min-cost flow by network simplex
(:mod:`matching.simplex`): supply → demand arcs of cost ``−v``, plus a slack node that
absorbs unsold supply and unmet demand at no cost.

Prices. The LP dual, written in prices, is a system of difference constraints: ``min_price ≤
p_s``, ``P_d ≤ max_price``, ``P_d − p_s ≤ t_sd`` for every compatible pair (no blocking pair),
``P_d − p_s = t_sd`` on every match, ``p_s = min_price`` with quantity left over, ``P_d =
max_price`` when short. Its solutions are exactly the competitive equilibrium prices; they form
a lattice with a highest point ``H`` (best for sellers) and a lowest point ``L`` (best for
buyers), both integral, found as shortest-path distances (``H``) and reversed distances (``L``)
in the constraint graph.

**Chosen equilibrium: the midpoint ``⌊(H + L) / 2⌋``**, rounded down to whole đồng. It shares
evenly the surplus that competition leaves undetermined; it satisfies every condition
(the constraints are differences with integer bounds, so the floor of any solution, here
the average of two, is again a solution); and it is unique: it does not depend on which of
several optimal matchings the flow solver returns.

Scale (column generation). All compatible pairs are enumerated once (8 bytes each), but the
flow is solved on a restricted set: every post's ten best pairs at its category's
supply-meets-demand price level. Categories never trade with each other, so each has its own
simplex, two at a time on two threads. The simplex potentials (prices) are then checked
against every pair; the few most blocking pairs of each post join the set and each simplex
continues from its previous basis, until none blocks: the potentials are then dual-feasible
for the whole problem, which proves the flow optimal. ``H`` and ``L`` are refined the same way
(a pair blocking them joins their constraint graph); the flow stays.

Solving returns plain values (:class:`matching.result.Result`); ``solve_with_stats`` adds the
figures (pairs, arcs, pivots, seconds per step) for logs and the benchmark.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from matching import kernels
from matching.columns import Columns, columns
from matching.instance import Instance
from matching.result import Match, Result
from matching.rules import haversine_km
from matching.simplex import NetworkSimplex

I64 = NDArray[np.int64]
log = logging.getLogger(__name__)

INITIAL_ARCS_PER_POST = 10
THREADS = 2
ADDED_ARCS_PER_POST = 4
# 16 bytes per pair at the peak of the enumeration: 150 million pairs stay under 2.5 GB.
MAX_PAIRS = 150_000_000


class SolverError(RuntimeError):
    """The flow solver failed: a bug or an impossible instance, never a normal outcome."""


class TooLarge(ValueError):
    """A round with more compatible pairs than the memory budget allows."""


@dataclass
class SolveStats:
    pairs: int = 0
    arcs: int = 0
    flow_solves: int = 0
    pivots: int = 0
    price_rounds: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, step: str, started: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Pairs:
    """Every compatible pair, grouped by demand: ``supply[indptr[d]:indptr[d+1]]`` and values."""

    indptr: I64
    supply: NDArray[np.int32]
    value: NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.supply)

    def demand_of(self, index: I64) -> I64:
        return np.searchsorted(self.indptr, index, side="right") - 1


def supply_groups(cols: Columns) -> tuple[I64, ...]:
    """Supplies sorted by (category, grade, week of first day, latitude), cut into groups of one
    category, grade and week, so that a demand skips whole groups that cannot meet it.

    Returns the order; each group's bounds, grade, earliest first and latest last day; and each
    category's range of groups.
    """
    s = cols.supply
    week = s.start // 7
    order = np.lexsort((s.phi, week, s.grade, s.cat))
    cat, grade, week = s.cat[order], s.grade[order], week[order]
    change = (cat[1:] != cat[:-1]) | (grade[1:] != grade[:-1]) | (week[1:] != week[:-1])
    grp_lo = np.flatnonzero(np.concatenate([[True], change]))
    grp_hi = np.concatenate([grp_lo[1:], [len(order)]])
    grp_first = np.minimum.reduceat(s.start[order], grp_lo).astype(np.int64)
    grp_last = np.maximum.reduceat(s.end[order], grp_lo).astype(np.int64)
    codes = np.arange(len(cols.categories))
    grp_cat = cat[grp_lo]
    cat_lo, cat_hi = np.searchsorted(grp_cat, codes, "left"), np.searchsorted(grp_cat, codes, "right")
    return order, grp_lo, grp_hi, grade[grp_lo].astype(np.int64), grp_first, grp_last, cat_lo, cat_hi


def compatible_pairs(cols: Columns) -> Pairs:
    s, d = cols.supply, cols.demand
    if not len(s) or not len(d):
        return Pairs(np.zeros(len(d) + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32))
    order, grp_lo, grp_hi, grp_grade, grp_first, grp_last, cat_lo, cat_hi = supply_groups(cols)
    sorted_supply = (s.phi[order], s.lam[order], s.cos[order], *(s.xyz[order].T.copy()))
    demand_xyz = tuple(d.xyz.T.copy())
    indptr, pair_s, pair_v = kernels.enumerate_pairs(
        grp_lo, grp_hi, grp_grade, grp_first, grp_last, cat_lo, cat_hi, order.astype(np.int32),
        *sorted_supply,
        s.start[order], s.end[order], s.limit[order], d.cat, d.grade, d.start, d.end, d.phi, d.lam, d.cos,
        *demand_xyz, d.limit, cols.max_km, cols.cat_rate, MAX_PAIRS,
    )  # fmt: skip
    if indptr[0] < 0:
        raise TooLarge(
            f"more than {MAX_PAIRS:,} compatible pairs in one round; split the round (e.g. by category)"
        )
    return Pairs(indptr=indptr, supply=pair_s, value=pair_v)


@dataclass(frozen=True, slots=True)
class Arcs:
    index: I64  # pair indices
    supply: I64
    demand: I64
    value: I64
    transport: I64


def arcs_of(cols: Columns, pairs: Pairs, index: I64) -> Arcs:
    supply = pairs.supply[index].astype(np.int64)
    demand = pairs.demand_of(index)
    value = pairs.value[index].astype(np.int64)
    transport = cols.demand.limit[demand] - cols.supply.limit[supply] - value
    return Arcs(index=index, supply=supply, demand=demand, value=value, transport=transport)


def price_bounds(cols: Columns, arcs: Arcs, flows: I64, *, highest: bool) -> tuple[I64, I64]:
    """The highest (or lowest) prices consistent with ``flows`` on ``arcs``: ``(p_s, P_d)``.

    Node 0 is the zero reference, 1..n_s the supplies, then the demands. A constraint
    ``x_a − x_b ≤ w`` is an edge b→a of weight w; shortest distances from node 0 are the
    highest solution, and minus the distances to node 0 (the reversed graph) the lowest.
    """
    c, b = cols.supply.limit, cols.demand.limit
    n_s, n_d = len(c), len(b)
    s_node, d_node = 1 + np.arange(n_s), 1 + n_s + np.arange(n_d)
    used = flows > 0
    sold = np.bincount(arcs.supply, weights=flows, minlength=n_s)
    bought = np.bincount(arcs.demand, weights=flows, minlength=n_d)
    leftover, short = sold < cols.supply.qty, bought < cols.demand.qty
    zeros = np.zeros
    tails = np.concatenate(
        [
            s_node,
            zeros(n_d, np.int64),
            1 + arcs.supply,
            1 + n_s + arcs.demand[used],
            zeros(leftover.sum(), np.int64),
            d_node[short],
        ]
    )
    heads = np.concatenate(
        [
            zeros(n_s, np.int64),
            d_node,
            1 + n_s + arcs.demand,
            1 + arcs.supply[used],
            s_node[leftover],
            zeros(short.sum(), np.int64),
        ]
    )
    weights = np.concatenate([-c, b, arcs.transport, -arcs.transport[used], c[leftover], -b[short]])
    if not highest:
        tails, heads = heads, tails
    order = np.argsort(tails, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(tails, minlength=1 + n_s + n_d))])
    dist, ok = kernels.shortest_paths(indptr, heads[order], weights[order], 0)
    if not ok:
        raise SolverError("the price constraints have a negative cycle: the flow is not optimal")
    prices = dist if highest else -dist
    return prices[1 : 1 + n_s], prices[1 + n_s :]


def _blocking(cols: Columns, pairs: Pairs, u: I64, w: I64) -> I64:
    """Pair indices that surpluses ``(u, w)`` leave blocking: the most blocking few per post."""
    rows = kernels.blocking_counts(pairs.indptr, pairs.supply, pairs.value, u, w) > 0
    if not rows.any():
        return np.zeros(0, dtype=np.int64)
    count, chosen = kernels.top_arcs(
        pairs.indptr, pairs.supply, pairs.value, u, w, ADDED_ARCS_PER_POST, True, rows
    )
    log.debug("%d pairs blocking, %d chosen", count, len(chosen))
    return chosen


def price_levels(cols: Columns) -> I64:
    """Per category, the price where supply meets demand if every post could reach every other.

    Only a starting guess for column generation: the rule's conditions split the market.
    """
    s, d = cols.supply, cols.demand
    levels = np.zeros(len(cols.categories), dtype=np.int64)
    for code in range(len(cols.categories)):
        c, q_s = s.limit[s.cat == code], s.qty[s.cat == code]
        b, q_d = d.limit[d.cat == code], d.qty[d.cat == code]
        if not len(c) or not len(b):
            continue
        grid = np.unique(np.concatenate([c, b]))
        order_c, order_b = np.argsort(c), np.argsort(b)
        offered = np.concatenate([[0], np.cumsum(q_s[order_c])])[np.searchsorted(c[order_c], grid, "right")]
        wanted_below = np.concatenate([[0], np.cumsum(q_d[order_b])])[
            np.searchsorted(b[order_b], grid, "left")
        ]
        wanted = q_d.sum() - wanted_below
        levels[code] = grid[min(np.searchsorted(offered - wanted, 0, "left"), len(grid) - 1)]
    return levels


def _initial_arcs(cols: Columns, pairs: Pairs) -> I64:
    """Each post's best pairs at the category's price level: the likeliest trades."""
    level = price_levels(cols)
    u = np.maximum(0, level[cols.supply.cat] - cols.supply.limit)
    w = np.maximum(0, cols.demand.limit - level[cols.demand.cat])
    every = np.ones(len(cols.demand), dtype=np.bool_)
    _, chosen = kernels.top_arcs(
        pairs.indptr, pairs.supply, pairs.value, u, w, INITIAL_ARCS_PER_POST, False, every
    )
    return chosen


def _matches(instance: Instance, arcs: Arcs, flows: I64, p_s: I64) -> tuple[Match, ...]:
    used = np.flatnonzero(flows > 0)
    used = used[np.lexsort((arcs.demand[used], arcs.supply[used]))]
    matches = []
    for i in used.tolist():
        s, d = instance.supply[int(arcs.supply[i])], instance.demand[int(arcs.demand[i])]
        matches.append(
            Match(
                supply=s.id,
                demand=d.id,
                quantity=int(flows[i]),
                price_vnd=int(p_s[arcs.supply[i]]),
                transport_vnd=int(arcs.transport[i]),
                distance_km=round(haversine_km(s.lat, s.lon, d.lat, d.lon), 3),
            )
        )
    return tuple(matches)


def _result(instance: Instance, arcs: Arcs, flows: I64, p_s: I64, p_d: I64) -> Result:
    return Result(
        matches=_matches(instance, arcs, flows, p_s),
        supply_prices={
            post.id: int(price) for post, price in zip(instance.supply, p_s.tolist(), strict=True)
        },
        demand_prices={
            post.id: int(price) for post, price in zip(instance.demand, p_d.tolist(), strict=True)
        },
        welfare_vnd=int(np.dot(flows, arcs.value)),
    )


class CategoryFlows:
    """One network simplex per category (categories never trade with each other), solved on
    two threads; arcs are added between solves and each simplex continues from its optimum."""

    def __init__(self, cols: Columns) -> None:
        s, d = cols.supply, cols.demand
        self.cols = cols
        self.local_s, self.local_d = np.zeros(len(s), np.int64), np.zeros(len(d), np.int64)
        self.parts: list[tuple[I64, I64, NetworkSimplex, list[I64]]] = []
        self.part_of = np.full(len(cols.categories), -1, dtype=np.int64)
        for code in range(len(cols.categories)):
            supplies, demands = np.flatnonzero(s.cat == code), np.flatnonzero(d.cat == code)
            if not len(supplies) or not len(demands):
                continue
            self.local_s[supplies], self.local_d[demands] = np.arange(len(supplies)), np.arange(len(demands))
            self.part_of[code] = len(self.parts)
            self.parts.append((supplies, demands, NetworkSimplex(s.qty[supplies], d.qty[demands]), []))

    def add(self, arcs: Arcs) -> None:
        part = self.part_of[self.cols.supply.cat[arcs.supply]]
        for number, (_, _, simplex, index) in enumerate(self.parts):
            mine = part == number
            if mine.any():
                simplex.add_arcs(
                    self.local_s[arcs.supply[mine]], self.local_d[arcs.demand[mine]], arcs.value[mine]
                )
                index.append(arcs.index[mine])

    def solve(self) -> int:
        # Largest first, so that two threads finish together.
        parts = sorted(self.parts, key=lambda part: -part[2].m)
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return sum(pool.map(lambda part: part[2].solve(), parts))

    def surplus(self) -> tuple[I64, I64]:
        u, w = np.zeros(len(self.local_s), np.int64), np.zeros(len(self.local_d), np.int64)
        for supplies, demands, simplex, _ in self.parts:
            u[supplies], w[demands] = simplex.surplus()
        return u, w

    def flows(self) -> tuple[I64, I64]:
        """Pair indices of every arc and their optimal flows."""
        if not self.parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        index = [np.concatenate(part[3]) if part[3] else np.zeros(0, np.int64) for part in self.parts]
        flows = [part[2].trade_flows() for part in self.parts]
        return np.concatenate(index), np.concatenate(flows).astype(np.int64)


def _optimal_flow(cols: Columns, pairs: Pairs, stats: SolveStats) -> tuple[I64, I64]:
    """Column generation: pairs in the restricted problem and their optimal flows."""
    started = time.perf_counter()
    index = _initial_arcs(cols, pairs)
    stats.timed("initial arcs", started)
    market = CategoryFlows(cols)
    while True:
        started = time.perf_counter()
        cpu = time.process_time()
        market.add(arcs_of(cols, pairs, index))
        pivots = market.solve()
        stats.flow_solves += 1
        stats.pivots += pivots
        stats.timed("flow", started)
        log.debug(
            "flow solve %d: %d arcs added, %d pivots, %.2f s cpu, %.2f s",
            stats.flow_solves, len(index), pivots, time.process_time() - cpu, time.perf_counter() - started,
        )  # fmt: skip
        started = time.perf_counter()
        index = _blocking(cols, pairs, *market.surplus())
        stats.timed("pricing", started)
        if not len(index):
            return market.flows()


def _refined(
    cols: Columns, pairs: Pairs, index: I64, flows: I64, stats: SolveStats, *, highest: bool
) -> tuple[tuple[I64, I64], I64, I64]:
    """Extreme prices (highest or lowest) checked against every pair; the flow stays optimal."""
    while True:
        started = time.perf_counter()
        bounds = price_bounds(cols, arcs_of(cols, pairs, index), flows, highest=highest)
        stats.timed("prices", started)
        started = time.perf_counter()
        more = _blocking(cols, pairs, bounds[0] - cols.supply.limit, cols.demand.limit - bounds[1])
        stats.timed("pricing", started)
        stats.price_rounds += 1
        if not len(more):
            return bounds, index, flows
        index = np.concatenate([index, more])
        flows = np.concatenate([flows, np.zeros(len(more), dtype=np.int64)])


def _unmatched(instance: Instance) -> Result:
    return Result(
        matches=(),
        supply_prices={post.id: post.min_price_vnd for post in instance.supply},
        demand_prices={post.id: post.max_price_vnd for post in instance.demand},
        welfare_vnd=0,
    )


def solve_with_stats(instance: Instance) -> tuple[Result, SolveStats]:
    stats = SolveStats()
    total = time.perf_counter()
    started = time.perf_counter()
    cols = columns(instance)
    pairs = compatible_pairs(cols)
    stats.pairs = len(pairs)
    stats.timed("pairs", started)
    if not len(pairs):
        return _unmatched(instance), stats
    index, flows = _optimal_flow(cols, pairs, stats)
    high, index, flows = _refined(cols, pairs, index, flows, stats, highest=True)
    low, index, flows = _refined(cols, pairs, index, flows, stats, highest=False)
    p_s, p_d = (high[0] + low[0]) // 2, (high[1] + low[1]) // 2
    stats.arcs = len(index)
    arcs = arcs_of(cols, pairs, index)
    started = time.perf_counter()
    result = _result(instance, arcs, flows, p_s, p_d)
    stats.timed("result", started)
    stats.seconds["total"] = time.perf_counter() - total
    return result, stats


def solve(instance: Instance) -> Result:
    """Clear one round: optimal matches and the midpoint equilibrium prices (see module doc)."""
    return solve_with_stats(instance)[0]
