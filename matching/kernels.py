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


@njit(cache=True, inline="always")
def _maybe(j, d, limit2, s_grade, s_start, s_end, s_xyz, s_min, d_grade, d_start, d_end, d_xyz, d_max):
    """Cheap necessary conditions, without branches so that the loop runs straight."""
    dx = s_xyz[j, 0] - d_xyz[d, 0]
    dy = s_xyz[j, 1] - d_xyz[d, 1]
    dz = s_xyz[j, 2] - d_xyz[d, 2]
    return (
        (s_grade[j] >= d_grade[d])
        & (s_min[j] < d_max[d])
        & (s_start[j] <= d_end[d])
        & (s_end[j] >= d_start[d])
        & (dx * dx + dy * dy + dz * dz <= limit2)
    )


@njit(cache=True)
def _range(lo, hi, s_phi, phi, band):
    first = lo + np.searchsorted(s_phi[lo:hi], phi - band)
    last = lo + np.searchsorted(s_phi[lo:hi], phi + band, side="right")
    return first, last


@njit(cache=True)
def _count(first, last, limit2, grade_ok, s_start, s_end, s_x, s_y, s_z, s_min, start, end, x, y, z, b):
    """Supplies in ``[first, last)`` passing the cheap conditions; a straight loop the compiler
    can vectorise (no branch, one array per attribute)."""
    count = 0
    for j in range(first, last):
        dx, dy, dz = s_x[j] - x, s_y[j] - y, s_z[j] - z
        count += (
            (s_min[j] < b)
            & (s_start[j] <= end)
            & (s_end[j] >= start)
            & (dx * dx + dy * dy + dz * dz <= limit2)
        )
    return count if grade_ok else 0


@njit(cache=True, parallel=True)
def enumerate_pairs(
    grp_lo, grp_hi, grp_grade, grp_first, grp_last, cat_grp_lo, cat_grp_hi, s_order, s_phi, s_lam, s_cos, s_x,
    s_y, s_z, s_start,
    s_end, s_min, d_cat, d_grade, d_start, d_end, d_phi, d_lam, d_cos, d_x, d_y, d_z, d_max, max_km, cat_rate,
    max_pairs,
):  # fmt: skip
    """Every compatible pair, as rows by demand: ``(indptr, supply index, value)``.

    Supplies arrive sorted by (category, grade, week of their first day, latitude) and cut into
    groups of one category, grade and week (``grp_*``, with the group's earliest first day and
    latest last day); a demand scans the groups of its category with a high enough grade whose
    days can meet its window, each within its latitude band. ``s_order`` maps back to the
    instance's order. A first pass counts the pairs passing the cheap conditions (an upper
    bound), the second applies the exact rule into that room, and the rows are then packed:
    8 bytes a pair. Returns an ``indptr`` of -1 without enumerating when the bound exceeds
    ``max_pairs`` (memory guard).
    """
    n_d = len(d_cat)
    bound = np.zeros(n_d + 1, dtype=np.int64)
    for d in prange(n_d):
        band = max_km[d] / EARTH_RADIUS_KM * (1.0 + _REL) + _ABS
        limit2 = chord2_limit(max_km[d])
        count = 0
        for g in range(cat_grp_lo[d_cat[d]], cat_grp_hi[d_cat[d]]):
            if grp_grade[g] < d_grade[d] or grp_first[g] > d_end[d] or grp_last[g] < d_start[d]:
                continue
            first, last = _range(grp_lo[g], grp_hi[g], s_phi, d_phi[d], band)
            grade_ok = True
            count += _count(first, last, limit2, grade_ok, s_start, s_end, s_x, s_y, s_z, s_min, d_start[d],
                            d_end[d], d_x[d], d_y[d], d_z[d], d_max[d])  # fmt: skip
        bound[d + 1] = count
    room = np.cumsum(bound)
    if room[-1] > max_pairs:
        return np.full(1, -1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    pair_s = np.empty(room[-1], dtype=np.int32)
    pair_v = np.empty(room[-1], dtype=np.int32)
    found = np.zeros(n_d + 1, dtype=np.int64)
    for d in prange(n_d):
        band = max_km[d] / EARTH_RADIUS_KM * (1.0 + _REL) + _ABS
        limit2 = chord2_limit(max_km[d])
        rate = float(cat_rate[d_cat[d]])
        at = room[d]
        for g in range(cat_grp_lo[d_cat[d]], cat_grp_hi[d_cat[d]]):
            if grp_grade[g] < d_grade[d] or grp_first[g] > d_end[d] or grp_last[g] < d_start[d]:
                continue
            first, last = _range(grp_lo[g], grp_hi[g], s_phi, d_phi[d], band)
            for j in range(first, last):
                dx, dy, dz = s_x[j] - d_x[d], s_y[j] - d_y[d], s_z[j] - d_z[d]
                if not (
                    (s_min[j] < d_max[d])
                    & (s_start[j] <= d_end[d])
                    & (s_end[j] >= d_start[d])
                    & (dx * dx + dy * dy + dz * dz <= limit2)
                ):
                    continue
                dist = haversine(s_phi[j], s_lam[j], s_cos[j], d_phi[d], d_lam[d], d_cos[d])
                if dist > max_km[d]:
                    continue
                value = d_max[d] - s_min[j] - round(rate * dist)
                if value > 0:
                    pair_s[at] = s_order[j]
                    pair_v[at] = value
                    at += 1
        found[d + 1] = at - room[d]
    indptr = np.cumsum(found)
    for d in range(n_d):  # pack rows down; a row never moves up, so in order is safe
        for i in range(found[d + 1]):
            pair_s[indptr[d] + i] = pair_s[room[d] + i]
            pair_v[indptr[d] + i] = pair_v[room[d] + i]
    return indptr, pair_s[: indptr[-1]].copy(), pair_v[: indptr[-1]].copy()


@njit(cache=True, inline="always")
def _offer(keys, ids, key, ident):
    """Keep the k largest keys in a small sorted buffer (descending)."""
    k = len(keys)
    if key <= keys[k - 1] and ids[k - 1] >= 0:
        return
    i = k - 1
    while i > 0 and keys[i - 1] < key:
        keys[i] = keys[i - 1]
        ids[i] = ids[i - 1]
        i -= 1
    keys[i] = key
    ids[i] = ident


@njit(cache=True, parallel=True)
def blocking_counts(indptr, pair_s, pair_v, u, w):
    """How many pairs of each demand have positive excess ``value − u[s] − w[d]`` (block)."""
    n_d = len(indptr) - 1
    counts = np.zeros(n_d, dtype=np.int64)
    for d in prange(n_d):
        count = 0
        for p in range(indptr[d], indptr[d + 1]):
            count += pair_v[p] - u[pair_s[p]] - w[d] > 0
        counts[d] = count
    return counts


@njit(cache=True)
def top_arcs(indptr, pair_s, pair_v, u, w, k, blocking_only, rows):
    """The ``k`` pairs of largest excess ``value − u[s] − w[d]`` of every demand and every supply.

    ``u`` is each supply's price above its minimum, ``w`` each demand's price below its maximum,
    so the excess is how much a pair gains by trading at those prices (``P_d − p_s − t``): a
    demand's best pairs are its cheapest deliveries, a supply's its best net prices. With
    ``blocking_only`` only pairs of positive excess (blocking pairs) are chosen. Only demands
    with ``rows[d]`` are scanned. Returns ``(number of blocking pairs, sorted unique chosen pair
    indices)``.
    """
    n_d, n_s = len(indptr) - 1, len(u)
    top_v = np.full((n_s, k), np.iinfo(np.int64).min, dtype=np.int64)
    top_i = np.full((n_s, k), -1, dtype=np.int64)
    keys = np.empty(k, dtype=np.int64)
    ids = np.empty(k, dtype=np.int64)
    chosen = np.zeros(len(pair_s), dtype=np.bool_)
    blocking = 0
    for d in range(n_d):
        if not rows[d]:
            continue
        keys[:] = np.iinfo(np.int64).min
        ids[:] = -1
        for p in range(indptr[d], indptr[d + 1]):
            excess = pair_v[p] - u[pair_s[p]] - w[d]
            if excess > 0:
                blocking += 1
            if excess > 0 or not blocking_only:
                _offer(keys, ids, excess, p)
                _offer(top_v[pair_s[p]], top_i[pair_s[p]], excess, p)
        for i in range(k):
            if ids[i] >= 0:
                chosen[ids[i]] = True
    for s in range(n_s):
        for i in range(k):
            if top_i[s, i] >= 0:
                chosen[top_i[s, i]] = True
    return blocking, np.flatnonzero(chosen)


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
            if not _maybe(j, d, limit2, s_grade, s_start, s_end, s_xyz, s_min, d_grade, d_start, d_end, d_xyz,
                          d_max):  # fmt: skip
                continue
            dist = haversine(s_phi[j], s_lam[j], s_cos[j], d_phi[d], d_lam[d], d_cos[d])
            if dist > max_km[d]:
                continue
            t = round(rate * dist)
            if d_max[d] - s_min[j] - t > 0 and s_price[j] + t < d_price[d]:
                found[d] = s_order[j]
                break
    return found
