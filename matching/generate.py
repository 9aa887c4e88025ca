"""Realistic random instances for Thanh Hóa, the ones the benchmark is measured on.

Rule (the issue's defaults; do not change them without re-measuring): 8 categories, each with a
reference price and a transport rate; grades 1–3; points uniform over the lowlands box
19.4–20.1 °N × 105.3–106.0 °E; supply windows start within 30 days of ``start`` and last 3–14
days, demand windows likewise start within 30 days and last 1–7 days; ``max_distance_km``
uniform on 10–50 (to 0.1 km); limit prices uniform within ±30 % of the category's reference
(to 100 đ); quantities log-uniform on 50–2,000 units on both sides. The same (sizes, seed,
start) always gives the same instance (numpy's PCG64 stream).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from matching.instance import DEFAULT_RATE_KEY, Demand, Instance, Supply

# (category, reference price đ/kg, transport rate đ per kg per km or None for the default)
CATEGORIES: tuple[tuple[str, int, int | None], ...] = (
    ("gao", 15_000, None),  # rice
    ("ngo", 7_000, None),  # maize
    ("rau", 12_000, 30),  # vegetables: fragile
    ("trai-cay", 25_000, 30),  # fruit
    ("thit-lon", 95_000, 40),  # pork: chilled
    ("gia-cam", 70_000, 40),  # poultry: chilled
    ("thuy-san", 85_000, 50),  # fish and seafood: iced
    ("nem-chua", 140_000, 40),  # Thanh Hóa's fermented pork rolls
)
DEFAULT_RATE = 20
LAT_RANGE = (19.4, 20.1)
LON_RANGE = (105.3, 106.0)
DEFAULT_START = date(2026, 1, 5)
PRICE_SPREAD = 0.30
QUANTITY_RANGE = (50, 2000)
MAX_KM_RANGE = (10.0, 50.0)


def transport_rates() -> dict[str, int]:
    rates = {DEFAULT_RATE_KEY: DEFAULT_RATE}
    rates.update({name: rate for name, _, rate in CATEGORIES if rate is not None})
    return rates


class _Draw:
    """Columns of random attributes shared by both sides."""

    def __init__(self, rng: np.random.Generator, n: int, start: date, days: tuple[int, int]) -> None:
        self.category = rng.integers(0, len(CATEGORIES), n)
        self.grade = rng.integers(1, 4, n)
        reference = np.array([ref for _, ref, _ in CATEGORIES], dtype=np.float64)[self.category]
        factor = rng.uniform(1 - PRICE_SPREAD, 1 + PRICE_SPREAD, n)
        self.price = np.maximum(100, np.round(reference * factor / 100) * 100).astype(np.int64)
        low, high = np.log(QUANTITY_RANGE[0]), np.log(QUANTITY_RANGE[1])
        self.quantity = np.round(np.exp(rng.uniform(low, high, n))).astype(np.int64)
        self.lat = np.round(rng.uniform(*LAT_RANGE, n), 5)
        self.lon = np.round(rng.uniform(*LON_RANGE, n), 5)
        offset = rng.integers(0, 30, n)
        length = rng.integers(days[0], days[1] + 1, n)
        base = start.toordinal()
        self.first = [date.fromordinal(base + int(o)) for o in offset]
        self.last = [
            first + timedelta(days=int(n_days) - 1) for first, n_days in zip(self.first, length, strict=True)
        ]


def generate(supply: int, demand: int, seed: int, start: date = DEFAULT_START) -> Instance:
    """An instance with ``supply`` and ``demand`` posts, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    s = _Draw(rng, supply, start, (3, 14))
    d = _Draw(rng, demand, start, (1, 7))
    max_km = np.round(rng.uniform(*MAX_KM_RANGE, demand), 1)
    names = [name for name, _, _ in CATEGORIES]
    supplies = tuple(
        Supply(f"S{i + 1}", names[c], int(g), int(q), int(p), float(la), float(lo), f, t)
        for i, (c, g, q, p, la, lo, f, t) in enumerate(
            zip(s.category, s.grade, s.quantity, s.price, s.lat, s.lon, s.first, s.last, strict=True)
        )
    )
    demands = tuple(
        Demand(f"D{i + 1}", names[c], int(g), int(q), int(p), float(la), float(lo), f, t, float(km))
        for i, (c, g, q, p, la, lo, f, t, km) in enumerate(
            zip(d.category, d.grade, d.quantity, d.price, d.lat, d.lon, d.first, d.last, max_km, strict=True)
        )
    )
    return Instance(transport_vnd_per_unit_km=transport_rates(), supply=supplies, demand=demands)
