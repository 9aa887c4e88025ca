"""Small instances for the matching tests, and an independent optimum from scipy's HiGHS LP."""

from __future__ import annotations

from datetime import date

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from matching.instance import Demand, Instance, Supply
from matching.rules import evaluate

DAY = date(2026, 1, 5)
LAT, LON = 19.8, 105.7
KM_PER_DEGREE = 6371.0 * np.pi / 180  # along a meridian: 0.1° ≈ 11.1195 km


def supply(post_id: str, quantity: int, min_price: int, **changes: object) -> Supply:
    fields: dict[str, object] = {
        "category": "gao",
        "grade": 2,
        "lat": LAT,
        "lon": LON,
        "available_from": DAY,
        "available_to": date(2026, 1, 10),
    }
    fields.update(changes)
    return Supply(id=post_id, quantity=quantity, min_price_vnd=min_price, **fields)  # type: ignore[arg-type]


def demand(post_id: str, quantity: int, max_price: int, **changes: object) -> Demand:
    fields: dict[str, object] = {
        "category": "gao",
        "min_grade": 1,
        "lat": LAT,
        "lon": LON,
        "needed_from": DAY,
        "needed_by": date(2026, 1, 10),
        "max_distance_km": 30.0,
    }
    fields.update(changes)
    return Demand(id=post_id, quantity=quantity, max_price_vnd=max_price, **fields)  # type: ignore[arg-type]


def market(supplies: list[Supply], demands: list[Demand], rate: int = 0) -> Instance:
    return Instance(transport_vnd_per_unit_km={"*": rate}, supply=tuple(supplies), demand=tuple(demands))


def lp_optimum(instance: Instance) -> int:
    """Maximum welfare by scipy's HiGHS on every compatible pair (pure Python pair list)."""
    rows, cols, values = [], [], []
    for i, s in enumerate(instance.supply):
        for j, d in enumerate(instance.demand):
            pair = evaluate(instance, s, d)
            if pair.compatible:
                rows.append(i)
                cols.append(j)
                values.append(pair.value_vnd)
    if not values:
        return 0
    m = len(values)
    n_s, n_d = len(instance.supply), len(instance.demand)
    a = sp.vstack(
        [
            sp.csr_matrix((np.ones(m), (rows, range(m))), shape=(n_s, m)),
            sp.csr_matrix((np.ones(m), (cols, range(m))), shape=(n_d, m)),
        ]
    )
    b = [s.quantity for s in instance.supply] + [d.quantity for d in instance.demand]
    solved = linprog(-np.array(values, dtype=float), A_ub=a, b_ub=np.array(b, dtype=float), method="highs")
    assert solved.status == 0, solved.message
    return round(-solved.fun)
