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
flow is solved on a restricted set: the best few pairs of every post. The simplex potentials
(prices) are then checked against every pair; the pairs they leave blocking join the set and
the simplex continues from its previous basis, until none blocks: the potentials are then
dual-feasible for the whole problem, which proves the flow optimal. ``H`` and ``L`` are
refined the same way (a pair blocking them joins their constraint graph); the flow stays.
"""

from __future__ import annotations

import logging
import time
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

INITIAL_ARCS_PER_POST = 6
ADDED_ARCS_PER_DEMAND = 4


class SolverError(RuntimeError):
    """The flow solver failed: a bug or an impossible instance, never a normal outcome."""


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


def category_ranges(cat_sorted: NDArray[np.int32], n_cat: int) -> tuple[I64, I64]:
    codes = np.arange(n_cat)
    return np.searchsorted(cat_sorted, codes, "left"), np.searchsorted(cat_sorted, codes, "right")


def compatible_pairs(cols: Columns) -> Pairs:
    s, d = cols.supply, cols.demand
    order = np.lexsort((s.phi, s.cat))
    lo, hi = category_ranges(s.cat[order], len(cols.categories))
    indptr, pair_s, pair_v = kernels.enumerate_pairs(
        lo,
        hi,
        order.astype(np.int32),
        s.phi[order],
        s.grade[order],
        s.start[order],
        s.end[order],
        s.lam[order],
        s.cos[order],
        np.ascontiguousarray(s.xyz[order]),
        s.limit[order],
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
    """Pair indices that surpluses ``(u, w)`` leave blocking (the most blocking few per demand)."""
    _, chosen = kernels.price_out(pairs.indptr, pairs.supply, pairs.value, u, w, ADDED_ARCS_PER_DEMAND)
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


def _optimal_flow(cols: Columns, pairs: Pairs, stats: SolveStats) -> tuple[I64, I64]:
    """Column generation: pairs in the restricted problem and their optimal flows."""
    started = time.perf_counter()
    mark = kernels.best_arcs(pairs.indptr, pairs.supply, pairs.value, len(cols.supply), INITIAL_ARCS_PER_POST)
    index = np.flatnonzero(mark)
    del mark
    stats.timed("initial arcs", started)
    simplex = NetworkSimplex(cols.supply.qty, cols.demand.qty)
    added = [index]
    while len(index):
        started = time.perf_counter()
        arcs = arcs_of(cols, pairs, index)
        simplex.add_arcs(arcs.supply, arcs.demand, arcs.value)
        pivots = simplex.solve()
        stats.flow_solves += 1
        stats.timed("flow", started)
        started = time.perf_counter()
        log.debug("flow solve %d: %d arcs added, %d pivots", stats.flow_solves, len(index), pivots)
        index = _blocking(cols, pairs, *simplex.surplus())
        added.append(index)
        stats.timed("pricing", started)
    stats.pivots = simplex.pivots
    return np.concatenate(added), simplex.trade_flows().copy()


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
