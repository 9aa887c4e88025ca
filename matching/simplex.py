"""Primal network simplex for the clearing round's transportation problem, with warm restarts.

Rule: nodes are the supplies (balance ``+q_s``), the demands (``−q_d``) and one slack node
``Z`` that takes unsold supply (arcs s→Z) and covers unmet demand (arcs Z→d), all at cost 0;
trade arcs s→d cost ``−v``. No arc needs a capacity (node balances bound every flow), so the
method is the textbook uncapacitated one: a spanning tree rooted at ``Z`` starting from the
no-trade star; block-search pricing picks an arc of negative reduced cost
``c + y_tail − y_head``; the leaving arc follows Cunningham's strongly-feasible rule (last
blocking arc around the cycle from its apex), which prevents cycling; the subtree cut off is
re-hung by the entering arc and its potentials shift by one constant.

Warm restart: arcs can be appended between solves (column generation). The tree, flows and
potentials stay valid, so the next solve continues from the previous optimum.

Potentials at the optimum read as prices: ``y_s = p_s − min_price ≥ 0`` and ``−y_d =
max_price − P_d ≥ 0`` (``y_Z = 0``), and every trade arc has ``y_s − y_d ≥ v``.

Pricing uses a candidate list: a major iteration scans block by block and keeps up to 64 arcs of
negative reduced cost; minor iterations pivot on the best of them until none is left. After a
warm restart few arcs are eligible, and a full scan then serves many pivots instead of one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

I64 = NDArray[np.int64]
CANDIDATES = 64  # candidate list length of the pivot rule


@njit(cache=True)
def _detach(x, parent, first_child, next_sib, prev_sib):
    p = parent[x]
    if prev_sib[x] >= 0:
        next_sib[prev_sib[x]] = next_sib[x]
    else:
        first_child[p] = next_sib[x]
    if next_sib[x] >= 0:
        prev_sib[next_sib[x]] = prev_sib[x]
    next_sib[x] = -1
    prev_sib[x] = -1


@njit(cache=True)
def _attach(x, p, parent, first_child, next_sib, prev_sib):
    parent[x] = p
    prev_sib[x] = -1
    next_sib[x] = first_child[p]
    if first_child[p] >= 0:
        prev_sib[first_child[p]] = x
    first_child[p] = x


@njit(cache=True)
def _gather(tail, head, cost, y, m, start, block, cand):
    """Major iteration: scan block by block from ``start``, collecting arcs of negative reduced
    cost until a block ends with the candidate list at least half full (or all arcs are seen)."""
    limit = len(cand)
    count = 0
    seen = 0
    e = start
    while seen < m:
        if cost[e] + y[tail[e]] - y[head[e]] < 0 and count < limit:
            cand[count] = e
            count += 1
        e += 1
        if e == m:
            e = 0
        seen += 1
        if seen % block == 0 and 2 * count >= limit:
            break
    return count, e


@njit(cache=True)
def _best_candidate(tail, head, cost, y, cand, count):
    """Minor iteration: the most negative candidate still negative; drops the others."""
    best, best_rc, kept = -1, 0, 0
    for k in range(count):
        e = cand[k]
        rc = cost[e] + y[tail[e]] - y[head[e]]
        if rc < 0:
            cand[kept] = e
            kept += 1
            if rc < best_rc:
                best, best_rc = e, rc
    return best, best_rc, kept


@njit(cache=True)
def _join(i, j, parent, depth):
    while i != j:
        if depth[i] > depth[j]:
            i = parent[i]
        elif depth[j] > depth[i]:
            j = parent[j]
        else:
            i, j = parent[i], parent[j]
    return i


@njit(cache=True)
def _leaving(i, j, join, pred_arc, up, parent, flow):
    """Cunningham's rule: ``(delta, node whose tree arc leaves, True if on the tail side)``."""
    delta = np.int64(2**62)
    leave, tail_side = -1, True
    x = i
    while x != join:  # cycle runs down this path: arcs pointing up lose flow
        if up[x] and flow[pred_arc[x]] < delta:
            delta, leave, tail_side = flow[pred_arc[x]], x, True
        x = parent[x]
    x = j
    while x != join:  # cycle runs up this path: arcs pointing down lose flow
        if not up[x] and flow[pred_arc[x]] <= delta:
            delta, leave, tail_side = flow[pred_arc[x]], x, False
        x = parent[x]
    return delta, leave, tail_side


@njit(cache=True)
def _push(i, j, join, delta, pred_arc, up, parent, flow):
    x = i
    while x != join:
        flow[pred_arc[x]] += -delta if up[x] else delta
        x = parent[x]
    x = j
    while x != join:
        flow[pred_arc[x]] += delta if up[x] else -delta
        x = parent[x]


@njit(cache=True)
def _rehang(q, other, e, tail, leave, parent, pred_arc, up, first_child, next_sib, prev_sib, stem):
    """Cut the subtree below ``leave``, re-root it at ``q`` and hang it from ``other`` by arc ``e``."""
    k = 0
    x = q
    while True:
        stem[k] = x
        k += 1
        if x == leave:
            break
        x = parent[x]
    for t in range(k):
        _detach(stem[t], parent, first_child, next_sib, prev_sib)
    carried_arc, carried_up = e, tail[e] == q
    new_parent = other
    for t in range(k):
        x = stem[t]
        old_arc, old_up = pred_arc[x], up[x]
        pred_arc[x], up[x] = carried_arc, carried_up
        _attach(x, new_parent, parent, first_child, next_sib, prev_sib)
        carried_arc, carried_up, new_parent = old_arc, not old_up, x


@njit(cache=True)
def _shift(q, shift, y, depth, parent, first_child, next_sib, stack):
    """Add ``shift`` to the potentials of ``q``'s subtree and recompute its depths."""
    top = 0
    stack[0] = q
    while top >= 0:
        x = stack[top]
        top -= 1
        y[x] += shift
        depth[x] = depth[parent[x]] + 1
        c = first_child[x]
        while c >= 0:
            top += 1
            stack[top] = c
            c = next_sib[c]


@njit(cache=True, nogil=True)
def _run(
    tail,
    head,
    cost,
    flow,
    m,
    parent,
    pred_arc,
    up,
    depth,
    y,
    first_child,
    next_sib,
    prev_sib,
    stem,
    stack,
    start,
    block,
):
    pivots = 0
    cand = np.empty(CANDIDATES, dtype=np.int64)
    count = 0
    while True:
        e, rc, count = _best_candidate(tail, head, cost, y, cand, count)
        if e < 0:
            count, start = _gather(tail, head, cost, y, m, start, block, cand)
            e, rc, count = _best_candidate(tail, head, cost, y, cand, count)
            if e < 0:
                return pivots, start
        i, j = tail[e], head[e]
        join = _join(i, j, parent, depth)
        delta, leave, tail_side = _leaving(i, j, join, pred_arc, up, parent, flow)
        if leave < 0:  # a cycle of negative cost and no bound: impossible for this network
            return -1, start
        if delta > 0:
            _push(i, j, join, delta, pred_arc, up, parent, flow)
        flow[e] += delta
        q, other = (i, j) if tail_side else (j, i)
        _rehang(q, other, e, tail, leave, parent, pred_arc, up, first_child, next_sib, prev_sib, stem)
        _shift(q, -rc if tail_side else rc, y, depth, parent, first_child, next_sib, stack)
        pivots += 1


class NetworkSimplex:
    """The round's flow problem; add trade arcs, solve, add more, solve again (warm)."""

    def __init__(self, supply_qty: I64, demand_qty: I64) -> None:
        n_s, n_d = len(supply_qty), len(demand_qty)
        self.n_s, self.n_d = n_s, n_d
        n = n_s + n_d + 1
        root = n - 1
        self.m = n_s + n_d
        capacity = max(16, 4 * self.m)
        self.tail = np.zeros(capacity, dtype=np.int64)
        self.head = np.zeros(capacity, dtype=np.int64)
        self.cost = np.zeros(capacity, dtype=np.int64)
        self.flow = np.zeros(capacity, dtype=np.int64)
        supplies, demands = np.arange(n_s), n_s + np.arange(n_d)
        self.tail[: self.m] = np.concatenate([supplies, np.full(n_d, root)])
        self.head[: self.m] = np.concatenate([np.full(n_s, root), demands])
        self.flow[: self.m] = np.concatenate([supply_qty, demand_qty])
        # The no-trade star: every post hangs from Z by its slack arc.
        self.parent = np.full(n, root, dtype=np.int64)
        self.parent[root] = -1
        self.pred_arc = np.concatenate([np.arange(self.m), [-1]]).astype(np.int64)
        self.up = np.concatenate([np.ones(n_s, np.bool_), np.zeros(n_d + 1, np.bool_)])
        self.depth = np.ones(n, dtype=np.int64)
        self.depth[root] = 0
        self.y = np.zeros(n, dtype=np.int64)
        self.first_child = np.full(n, -1, dtype=np.int64)
        self.next_sib = np.concatenate([np.arange(1, n - 1), [-1, -1]]).astype(np.int64)
        self.prev_sib = np.concatenate([[-1], np.arange(n - 2), [-1]]).astype(np.int64)
        if n > 1:
            self.first_child[root] = 0
        self.stem = np.empty(n, dtype=np.int64)
        self.stack = np.empty(n, dtype=np.int64)
        self.start = 0
        self.pivots = 0

    def add_arcs(self, supply: I64, demand: I64, value: I64) -> None:
        """Append trade arcs s→d of value ``value`` (cost ``−value``), not yet used."""
        k = len(supply)
        if self.m + k > len(self.tail):
            grow = max(2 * len(self.tail), self.m + k)
            for name in ("tail", "head", "cost", "flow"):
                old = getattr(self, name)
                new = np.zeros(grow, dtype=np.int64)
                new[: self.m] = old[: self.m]
                setattr(self, name, new)
        self.start = self.m  # the next search begins with the new arcs, the likeliest to enter
        self.tail[self.m : self.m + k] = supply
        self.head[self.m : self.m + k] = self.n_s + demand
        self.cost[self.m : self.m + k] = -value
        self.flow[self.m : self.m + k] = 0
        self.m += k

    def solve(self) -> int:
        """Pivot to optimality; returns the number of pivots this call made."""
        block = max(16, int(math.sqrt(self.m)))
        pivots, self.start = _run(
            self.tail,
            self.head,
            self.cost,
            self.flow,
            self.m,
            self.parent,
            self.pred_arc,
            self.up,
            self.depth,
            self.y,
            self.first_child,
            self.next_sib,
            self.prev_sib,
            self.stem,
            self.stack,
            self.start % self.m,
            block,
        )
        if pivots < 0:
            raise RuntimeError("network simplex: unbounded cycle (trade arcs must run supply → demand)")
        self.pivots += pivots
        return pivots

    def trade_flows(self) -> I64:
        """Flow on each trade arc, in the order they were added."""
        return self.flow[self.n_s + self.n_d : self.m]

    def surplus(self) -> tuple[I64, I64]:
        """``(u_s, w_d)``: each seller's price above its minimum, each buyer's below its maximum."""
        return self.y[: self.n_s].copy(), -self.y[self.n_s : self.n_s + self.n_d]
