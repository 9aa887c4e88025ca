"""The compiled kernels agree with the plain-Python rule, the simplex with HiGHS."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from matching import kernels
from matching.columns import columns
from matching.instance import Instance
from matching.rules import evaluate, haversine_km
from matching.simplex import NetworkSimplex
from matching.solver import compatible_pairs
from tests.matching.builders import demand, market, supply

latitudes = st.floats(-90, 90, allow_nan=False)
longitudes = st.floats(-180, 180, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(latitudes, longitudes, latitudes, longitudes)
def test_compiled_haversine_is_the_reference_bit_for_bit(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    phi1, phi2, lam1, lam2 = map(math.radians, (lat1, lat2, lon1, lon2))
    compiled = kernels.haversine(phi1, lam1, math.cos(phi1), phi2, lam2, math.cos(phi2))
    assert compiled == haversine_km(lat1, lon1, lat2, lon2)


@st.composite
def worldwide(draw: st.DrawFn) -> Instance:
    """Posts anywhere (poles, the antimeridian), windows, grades and prices all over the place."""
    day = date(2026, 1, 1)

    def post(kind: str, i: int):  # type: ignore[no-untyped-def]
        start = day + timedelta(days=draw(st.integers(0, 6)))
        end = start + timedelta(days=draw(st.integers(0, 4)))
        common = {
            "category": draw(st.sampled_from(["a", "b"])),
            "lat": draw(st.sampled_from([0.0, 89.9, -89.9, 19.8]) | latitudes),
            "lon": draw(st.sampled_from([179.99, -179.99, 105.7]) | longitudes),
        }
        quantity, price, grade = draw(st.integers(1, 9)), draw(st.integers(1, 3000)), draw(st.integers(1, 3))
        if kind == "s":
            return supply(
                f"S{i}", quantity, price, grade=grade, available_from=start, available_to=end, **common
            )
        reach = draw(st.sampled_from([1.0, 300.0, 25_000.0]))
        return demand(f"D{i}", quantity, price, min_grade=grade, needed_from=start, needed_by=end,
                      max_distance_km=reach, **common)  # fmt: skip

    supplies = [post("s", i) for i in range(draw(st.integers(1, 12)))]
    demands = [post("d", i) for i in range(draw(st.integers(1, 12)))]
    return market(supplies, demands, rate=draw(st.sampled_from([0, 1, 3])))


@settings(max_examples=80, deadline=None)
@given(worldwide())
def test_enumerated_pairs_are_exactly_the_compatible_ones(instance: Instance) -> None:
    pairs = compatible_pairs(columns(instance))
    found = set()
    for d in range(len(instance.demand)):
        for p in range(pairs.indptr[d], pairs.indptr[d + 1]):
            found.add((int(pairs.supply[p]), d, int(pairs.value[p])))
    expected = set()
    for i, s in enumerate(instance.supply):
        for j, d in enumerate(instance.demand):
            pair = evaluate(instance, s, d)
            if pair.compatible:
                expected.add((i, j, pair.value_vnd))
    assert found == expected


def test_shortest_paths_with_negative_weights_and_a_negative_cycle() -> None:
    # 0→1 (4), 0→2 (1), 2→1 (−2), 1→3 (1): distances 0, −1, 1, 0.
    indptr = np.array([0, 2, 3, 4, 4])
    heads, weights = np.array([1, 2, 3, 1]), np.array([4, 1, 1, -2])
    dist, ok = kernels.shortest_paths(indptr, heads, weights, 0)
    assert ok
    assert dist.tolist() == [0, -1, 1, 0]
    # Add 3→2 (−1): cycle 2→1→3→2 of weight −2.
    indptr = np.array([0, 2, 3, 4, 5])
    heads, weights = np.array([1, 2, 3, 1, 2]), np.array([4, 1, 1, -2, -1])
    assert not kernels.shortest_paths(indptr, heads, weights, 0)[1]


def lp_transport(q_s: np.ndarray, q_d: np.ndarray, s: np.ndarray, d: np.ndarray, v: np.ndarray) -> int:
    m = len(v)
    a = sp.vstack(
        [
            sp.csr_matrix((np.ones(m), (s, np.arange(m))), shape=(len(q_s), m)),
            sp.csr_matrix((np.ones(m), (d, np.arange(m))), shape=(len(q_d), m)),
        ]
    )
    solved = linprog(-v.astype(float), A_ub=a, b_ub=np.concatenate([q_s, q_d]).astype(float), method="highs")
    return round(-solved.fun)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 15), st.integers(1, 15), st.integers(1, 60))
def test_network_simplex_reaches_the_lp_optimum_and_restarts_warm(
    seed: int, n_s: int, n_d: int, m: int
) -> None:
    rng = np.random.default_rng(seed)
    q_s, q_d = rng.integers(1, 20, n_s), rng.integers(1, 20, n_d)
    s, d, v = rng.integers(0, n_s, m), rng.integers(0, n_d, m), rng.integers(1, 100, m)
    simplex = NetworkSimplex(q_s, q_d)
    half = m // 2
    simplex.add_arcs(s[:half], d[:half], v[:half])
    simplex.solve()
    simplex.add_arcs(s[half:], d[half:], v[half:])  # warm restart with the rest
    simplex.solve()
    flows = simplex.trade_flows()
    assert (flows >= 0).all()
    assert (np.bincount(s, flows, n_s) <= q_s).all() and (np.bincount(d, flows, n_d) <= q_d).all()
    assert int(flows @ v) == lp_transport(q_s, q_d, s, d, v)
    u, w = simplex.surplus()
    assert (u >= 0).all() and (w >= 0).all()
    assert (u[s] + w[d] >= v).all()  # dual feasible: no arc blocks
    used = flows > 0
    assert (u[s[used]] + w[d[used]] == v[used]).all()  # complementary slackness
