"""Clearing results: the matches of a round and the prices that certify them, and their JSON.

``price_vnd`` is what the seller receives per unit; the buyer pays ``price_vnd +
transport_vnd`` per unit delivered. ``supply_prices`` / ``demand_prices`` hold ``p_s`` (at the
farm gate) and ``P_d`` (delivered) for every post, matched or not. JSON keys are exactly those
of the issue; ``distance_km`` is rounded to the metre for display, the check recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Match:
    supply: str
    demand: str
    quantity: int
    price_vnd: int
    transport_vnd: int
    distance_km: float

    @property
    def delivered_price_vnd(self) -> int:
        return self.price_vnd + self.transport_vnd


@dataclass(frozen=True, slots=True)
class Result:
    matches: tuple[Match, ...]
    supply_prices: dict[str, int]
    demand_prices: dict[str, int]
    welfare_vnd: int


def match_json(match: Match) -> dict[str, Any]:
    return {
        "supply": match.supply,
        "demand": match.demand,
        "quantity": match.quantity,
        "price_vnd": match.price_vnd,
        "transport_vnd": match.transport_vnd,
        "distance_km": match.distance_km,
    }


def result_json(result: Result) -> dict[str, Any]:
    return {
        "matches": [match_json(match) for match in result.matches],
        "supply_prices": dict(result.supply_prices),
        "demand_prices": dict(result.demand_prices),
        "welfare_vnd": result.welfare_vnd,
    }


class ResultFormatError(ValueError):
    """A result document that is not shaped like a result (wrong keys or types)."""


_MATCH_KEYS = ("supply", "demand", "quantity", "price_vnd", "transport_vnd", "distance_km")
_RESULT_KEYS = ("matches", "supply_prices", "demand_prices", "welfare_vnd")


def _number(where: str, value: Any) -> Any:
    """Numbers pass as they are (the check reports a non-integer price as condition 5)."""
    if type(value) not in (int, float):
        raise ResultFormatError(f"{where}: must be a number, got {value!r}")
    return value


def _match(index: int, raw: Any) -> Match:
    where = f"matches[{index}]"
    if not isinstance(raw, dict) or set(raw) != set(_MATCH_KEYS):
        raise ResultFormatError(f"{where}: must be an object with keys {', '.join(_MATCH_KEYS)}")
    if not isinstance(raw["supply"], str) or not isinstance(raw["demand"], str):
        raise ResultFormatError(f"{where}: supply and demand must be post ids (strings)")
    return Match(
        supply=raw["supply"],
        demand=raw["demand"],
        **{key: _number(f"{where}.{key}", raw[key]) for key in _MATCH_KEYS[2:]},
    )


def _prices(key: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ResultFormatError(f"{key}: must be an object mapping post id to price")
    return {post: _number(f"{key}.{post}", value) for post, value in raw.items()}


def parse_result(raw: Any) -> Result:
    """A :class:`Result` from decoded JSON; numbers are kept as given so the check can judge them."""
    if not isinstance(raw, dict) or set(raw) != set(_RESULT_KEYS):
        raise ResultFormatError(f"result: must be an object with keys {', '.join(_RESULT_KEYS)}")
    if not isinstance(raw["matches"], list):
        raise ResultFormatError("matches: must be a list")
    return Result(
        matches=tuple(_match(i, m) for i, m in enumerate(raw["matches"])),
        supply_prices=_prices("supply_prices", raw["supply_prices"]),
        demand_prices=_prices("demand_prices", raw["demand_prices"]),
        welfare_vnd=_number("welfare_vnd", raw["welfare_vnd"]),
    )
