"""Compiled (numba) loops of the matching engine: pair enumeration, arc selection, shortest paths,
pricing and the no-blocking-pair scan of the certificate check.

Rule: these loops evaluate the compatibility rule with exactly the floating-point operations of
:mod:`matching.rules` (same order, same C maths library, no fast-math), so a pair is compatible
here if and only if it is there. Cheap necessary conditions (category, latitude band, grade,
dates, ``min_price < max_price``, chord length with a safety margin) only skip work; the exact
haversine decides. Functions are cached on disk, so only the first run compiles.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

EARTH_RADIUS_KM = 6371.0
# Margins of the pre-filters: far above floating-point error, far below any real distance.
_REL = 1e-9
_ABS = 1e-12


@njit(cache=True, inline="always")
def haversine(phi1, lam1, cos1, phi2, lam2, cos2):
    half_dphi = math.sin((phi2 - phi1) * 0.5)
    half_dlam = math.sin((lam2 - lam1) * 0.5)
    a = half_dphi * half_dphi + cos1 * cos2 * (half_dlam * half_dlam)
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


@njit(cache=True)
def chord2_limit(max_km):
    """Squared chord (unit sphere) of a great-circle distance, plus the margin."""
    if max_km >= math.pi * EARTH_RADIUS_KM:
        return 5.0
    half = math.sin(max_km / (2.0 * EARTH_RADIUS_KM))
    return 4.0 * half * half * (1.0 + _REL) + _ABS


@njit(cache=True)
def _scan_demand(
    d,
    fill,
    out_at,
    out_s,
    out_v,
    cat_lo,
    cat_hi,
    s_order,
    s_phi,
    s_grade,
    s_start,
    s_end,
    s_lam,
    s_cos,
    s_xyz,
    s_min,
    d_cat,
    d_grade,
    d_start,
    d_end,
    d_phi,
    d_lam,
    d_cos,
    d_xyz,
    d_max,
    max_km,
    cat_rate,
):
    """Compatible supplies of demand ``d``: counts them, and writes them from ``out_at`` if ``fill``."""
    c = d_cat[d]
    lo, hi = cat_lo[c], cat_hi[c]
    if lo >= hi:
        return 0
    band = max_km[d] / EARTH_RADIUS_KM * (1.0 + _REL) + _ABS
    first = lo + np.searchsorted(s_phi[lo:hi], d_phi[d] - band)
    last = lo + np.searchsorted(s_phi[lo:hi], d_phi[d] + band, side="right")
    limit2 = chord2_limit(max_km[d])
    rate = float(cat_rate[c])
    found = 0
    for j in range(first, last):
        if s_grade[j] < d_grade[d] or s_min[j] >= d_max[d]:
            continue
        if max(s_start[j], d_start[d]) > min(s_end[j], d_end[d]):
            continue
        dx = s_xyz[j, 0] - d_xyz[d, 0]
        dy = s_xyz[j, 1] - d_xyz[d, 1]
        dz = s_xyz[j, 2] - d_xyz[d, 2]
        if dx * dx + dy * dy + dz * dz > limit2:
            continue
        dist = haversine(s_phi[j], s_lam[j], s_cos[j], d_phi[d], d_lam[d], d_cos[d])
        if dist > max_km[d]:
            continue
        value = d_max[d] - s_min[j] - round(rate * dist)
        if value <= 0:
            continue
        if fill:
            out_s[out_at + found] = s_order[j]
            out_v[out_at + found] = value
        found += 1
    return found


@njit(cache=True, parallel=True)
def enumerate_pairs(
    cat_lo,
    cat_hi,
    s_order,
    s_phi,
    s_grade,
    s_start,
    s_end,
    s_lam,
    s_cos,
    s_xyz,
    s_min,
    d_cat,
    d_grade,
    d_start,
    d_end,
    d_phi,
    d_lam,
    d_cos,
    d_xyz,
    d_max,
    max_km,
    cat_rate,
):
    """Every compatible pair, as rows by demand: ``(indptr, supply index, value)``.

    Supply arrays arrive sorted by (category, latitude); ``s_order`` maps back to the instance's
    order. Two passes (count, then fill) keep memory at 8 bytes per pair.
    """
    n_d = len(d_cat)
    counts = np.zeros(n_d + 1, dtype=np.int64)
    dummy_s = np.zeros(1, dtype=np.int32)
    dummy_v = np.zeros(1, dtype=np.int32)
    for d in prange(n_d):
        counts[d + 1] = _scan_demand(
            d,
            False,
            0,
            dummy_s,
            dummy_v,
            cat_lo,
            cat_hi,
            s_order,
            s_phi,
            s_grade,
            s_start,
            s_end,
            s_lam,
            s_cos,
            s_xyz,
            s_min,
            d_cat,
            d_grade,
            d_start,
            d_end,
            d_phi,
            d_lam,
            d_cos,
            d_xyz,
            d_max,
            max_km,
            cat_rate,
        )
    indptr = np.cumsum(counts)
    pair_s = np.empty(indptr[-1], dtype=np.int32)
    pair_v = np.empty(indptr[-1], dtype=np.int32)
    for d in prange(n_d):
        _scan_demand(
            d,
            True,
            indptr[d],
            pair_s,
            pair_v,
            cat_lo,
            cat_hi,
            s_order,
            s_phi,
            s_grade,
            s_start,
            s_end,
            s_lam,
            s_cos,
            s_xyz,
            s_min,
            d_cat,
            d_grade,
            d_start,
            d_end,
            d_phi,
            d_lam,
            d_cos,
            d_xyz,
            d_max,
            max_km,
            cat_rate,
        )
    return indptr, pair_s, pair_v


@njit(cache=True, inline="always")
def _offer(keys, ids, key, ident):
    """Keep the k largest keys in a small sorted buffer (descending)."""
    k = len(keys)
    if key <= keys[k - 1]:
        return
    i = k - 1
    while i > 0 and keys[i - 1] < key:
        keys[i] = keys[i - 1]
        ids[i] = ids[i - 1]
        i -= 1
    keys[i] = key
    ids[i] = ident


@njit(cache=True)
def best_arcs(indptr, pair_s, pair_v, n_s, k):
    """Mark the k highest-value pairs of every demand and of every supply."""
    n_d = len(indptr) - 1
    mark = np.zeros(len(pair_s), dtype=np.bool_)
    keys = np.full(k, -1, dtype=np.int64)
    ids = np.full(k, -1, dtype=np.int64)
    top_v = np.full((n_s, k), -1, dtype=np.int64)
    top_i = np.full((n_s, k), -1, dtype=np.int64)
    for d in range(n_d):
        keys[:] = -1
        for p in range(indptr[d], indptr[d + 1]):
            _offer(keys, ids, pair_v[p], p)
            _offer(top_v[pair_s[p]], top_i[pair_s[p]], pair_v[p], p)
        for i in range(k):
            if keys[i] >= 0:
                mark[ids[i]] = True
    for s in range(n_s):
        for i in range(k):
            if top_v[s, i] >= 0:
                mark[top_i[s, i]] = True
    return mark


@njit(cache=True, parallel=True)
def price_out(indptr, pair_s, pair_v, u, w, k):
    """Pairs that prices leave blocking: ``value > u[s] + w[d]``.

    ``u`` is each supply's price above its minimum, ``w`` each demand's price below its maximum.
    Returns ``(count, chosen)``: how many pairs block, and the indices of up to ``k`` most
    blocking pairs per demand (pairs already in the restricted problem never block it).
    """
    n_d = len(indptr) - 1
    blocking = np.zeros(n_d, dtype=np.int64)
    chosen = np.full((n_d, k), -1, dtype=np.int64)
    for d in prange(n_d):
        keys = np.zeros(k, dtype=np.int64)
        for p in range(indptr[d], indptr[d + 1]):
            excess = pair_v[p] - u[pair_s[p]] - w[d]
            if excess > 0:
                blocking[d] += 1
                _offer(keys, chosen[d], excess, p)
    picked = chosen.ravel()
    return blocking.sum(), picked[picked >= 0]


@njit(cache=True)
def shortest_paths(indptr, heads, weights, source):
    """Shortest distances from ``source`` with negative weights allowed (queue-based Bellman-Ford).

    Returns ``(dist, ok)``; ``ok`` is False if a negative cycle is reachable. Unreachable nodes
    keep the sentinel ``2**62``.
    """
    n = len(indptr) - 1
    inf = np.int64(2**62)
    dist = np.full(n, inf, dtype=np.int64)
    hops = np.zeros(n, dtype=np.int64)
    queued = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n + 1, dtype=np.int64)
    head, tail, size = 0, 0, 0
    dist[source] = 0
    queue[tail] = source
    tail, size = (tail + 1) % (n + 1), 1
    queued[source] = True
    while size > 0:
        a = queue[head]
        head, size = (head + 1) % (n + 1), size - 1
        queued[a] = False
        for e in range(indptr[a], indptr[a + 1]):
            b = heads[e]
            candidate = dist[a] + weights[e]
            if candidate < dist[b]:
                dist[b] = candidate
                hops[b] = hops[a] + 1
                if hops[b] > n:
                    return dist, False
                if not queued[b]:
                    queued[b] = True
                    queue[tail] = b
                    tail, size = (tail + 1) % (n + 1), size + 1
    return dist, True


@njit(cache=True, parallel=True)
def first_blocking_pair(
    cat_lo,
    cat_hi,
    s_order,
    s_price,
    s_phi,
    s_lam,
    s_cos,
    s_xyz,
    s_grade,
    s_start,
    s_end,
    s_min,
    d_price,
    d_cat,
    d_grade,
    d_start,
    d_end,
    d_phi,
    d_lam,
    d_cos,
    d_xyz,
    d_max,
    max_km,
    cat_rate,
):
    """For each demand, the first compatible supply with ``p_s + t < P_d`` (or -1).

    Independent of :func:`enumerate_pairs`: supplies arrive sorted by (category, price), and
    the scan of a demand stops at the first supply whose price reaches ``P_d`` (with ``t ≥ 0``
    no later one can block). Returns the supply index per demand, -1 where none blocks.
    """
    n_d = len(d_cat)
    found = np.full(n_d, -1, dtype=np.int64)
    for d in prange(n_d):
        c = d_cat[d]
        limit2 = chord2_limit(max_km[d])
        rate = float(cat_rate[c])
        for j in range(cat_lo[c], cat_hi[c]):
            if s_price[j] >= d_price[d]:
                break
            if s_grade[j] < d_grade[d] or max(s_start[j], d_start[d]) > min(s_end[j], d_end[d]):
                continue
            dx = s_xyz[j, 0] - d_xyz[d, 0]
            dy = s_xyz[j, 1] - d_xyz[d, 1]
            dz = s_xyz[j, 2] - d_xyz[d, 2]
            if dx * dx + dy * dy + dz * dz > limit2:
                continue
            dist = haversine(s_phi[j], s_lam[j], s_cos[j], d_phi[d], d_lam[d], d_cos[d])
            if dist > max_km[d]:
                continue
            t = round(rate * dist)
            if d_max[d] - s_min[j] - t > 0 and s_price[j] + t < d_price[d]:
                found[d] = s_order[j]
                break
    return found
