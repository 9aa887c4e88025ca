"""Columnar (numpy) view of an instance, the form the compiled kernels read.

Rule: coordinates become radians with the same multiplication as :func:`math.radians`, and the
cosine of each latitude is computed once with the same C function the reference uses, so the
kernels' distances equal :func:`matching.rules.haversine_km` exactly. Dates become day numbers
(``date.toordinal``), categories small integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matching.instance import Instance

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the market; ``limit`` is min_price (supply) or max_price (demand)."""

    cat: I32
    grade: I32  # grade (supply) or min_grade (demand)
    start: I32
    end: I32
    phi: F64
    lam: F64
    cos: F64
    xyz: F64  # unit vectors, shape (n, 3), for a cheap distance pre-filter
    qty: I64
    limit: I64

    def __len__(self) -> int:
        return len(self.cat)


@dataclass(frozen=True, slots=True)
class Columns:
    categories: tuple[str, ...]
    cat_rate: I64
    supply: Side
    demand: Side
    max_km: F64  # demand's max_distance_km


def _side(cats: dict[str, int], posts: tuple, grade: str, start: str, end: str, limit: str) -> Side:
    n = len(posts)
    phi = np.array([math.radians(p.lat) for p in posts], dtype=np.float64)
    lam = np.array([math.radians(p.lon) for p in posts], dtype=np.float64)
    cos = np.array([math.cos(x) for x in phi.tolist()], dtype=np.float64)
    xyz = np.stack([cos * np.cos(lam), cos * np.sin(lam), np.sin(phi)], axis=1) if n else np.zeros((0, 3))
    return Side(
        cat=np.array([cats[p.category] for p in posts], dtype=np.int32),
        grade=np.array([getattr(p, grade) for p in posts], dtype=np.int32),
        start=np.array([getattr(p, start).toordinal() for p in posts], dtype=np.int32),
        end=np.array([getattr(p, end).toordinal() for p in posts], dtype=np.int32),
        phi=phi,
        lam=lam,
        cos=cos,
        xyz=np.ascontiguousarray(xyz, dtype=np.float64),
        qty=np.array([p.quantity for p in posts], dtype=np.int64),
        limit=np.array([getattr(p, limit) for p in posts], dtype=np.int64),
    )


def columns(instance: Instance) -> Columns:
    names = sorted({p.category for p in instance.supply} | {p.category for p in instance.demand})
    cats = {name: code for code, name in enumerate(names)}
    return Columns(
        categories=tuple(names),
        cat_rate=np.array([instance.rate(name) for name in names], dtype=np.int64),
        supply=_side(cats, instance.supply, "grade", "available_from", "available_to", "min_price_vnd"),
        demand=_side(cats, instance.demand, "min_grade", "needed_from", "needed_by", "max_price_vnd"),
        max_km=np.array([p.max_distance_km for p in instance.demand], dtype=np.float64),
    )
