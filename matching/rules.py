"""The compatibility rule of the issue, written once in plain Python: the reference.

A supply ``s`` and a demand ``d`` are compatible when they share the category, ``grade ≥
min_grade``, their inclusive date windows share a day, the great-circle distance (haversine on
a sphere of radius 6371.0 km, coordinates converted to radians first) is at most
``max_distance_km``, and the value ``v = max_price − min_price − t`` is positive, where the
transport cost per unit ``t = round(rate × distance_km)`` uses Python's ``round`` (half to even).

The compiled kernels in :mod:`matching.kernels` evaluate the same floating-point operations in
the same order through the same C maths library, so they agree with this module bit for bit;
the tests hold them to it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from matching.instance import Demand, Instance, Supply

EARTH_RADIUS_KM = 6371.0

# The reasons a pair is not compatible, in the order an explanation lists them.
CATEGORY, GRADE, DATES, DISTANCE, PRICE = "category", "grade", "dates", "distance", "price"


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    lam1, lam2 = math.radians(lon1), math.radians(lon2)
    half_dphi = math.sin((phi2 - phi1) * 0.5)
    half_dlam = math.sin((lam2 - lam1) * 0.5)
    a = half_dphi * half_dphi + math.cos(phi1) * math.cos(phi2) * (half_dlam * half_dlam)
    return 2.0 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def transport_vnd(rate: int, distance_km: float) -> int:
    return round(rate * distance_km)


@dataclass(frozen=True, slots=True)
class Pair:
    """What a (supply, demand) pair would be worth; ``failed`` lists every condition it fails."""

    distance_km: float
    transport_vnd: int
    value_vnd: int
    failed: tuple[str, ...]

    @property
    def compatible(self) -> bool:
        return not self.failed


def evaluate(instance: Instance, supply: Supply, demand: Demand) -> Pair:
    distance = haversine_km(supply.lat, supply.lon, demand.lat, demand.lon)
    transport = transport_vnd(instance.rate(demand.category), distance)
    value = demand.max_price_vnd - supply.min_price_vnd - transport
    failed = []
    if supply.category != demand.category:
        failed.append(CATEGORY)
    if supply.grade < demand.min_grade:
        failed.append(GRADE)
    if max(supply.available_from, demand.needed_from) > min(supply.available_to, demand.needed_by):
        failed.append(DATES)
    if distance > demand.max_distance_km:
        failed.append(DISTANCE)
    if value <= 0:
        failed.append(PRICE)
    return Pair(distance_km=distance, transport_vnd=transport, value_vnd=value, failed=tuple(failed))
