"""Clearing-round instances: the supply and demand posts of one round, read strictly from JSON.

Rule: an instance that parses is one the solver can clear without surprises. Every problem is
reported as an :class:`InstanceError` that names the post (by id, or by position when the id
itself is the problem) and the field: unknown or missing keys, non-integers where integers are
required (``true`` is not an integer, nor is ``5.0``), zero or negative quantities and prices,
inverted date windows, coordinates off the globe, duplicate ids, an empty side, and magnitudes
that could overflow 64-bit arithmetic. Money is whole đồng (``int``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# Bounds that keep every product of the solver (quantity × value summed over a round) inside
# int64 with a wide margin, while leaving room for any real farm produce.
MAX_QUANTITY = 10**9
MAX_PRICE_VND = 10**9
MAX_RATE_VND = 10**7
MAX_POSTS = 1_000_000
MAX_ID_LENGTH = 64
TOTAL_LIMIT = 2**62

DEFAULT_RATE_KEY = "*"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

SUPPLY_FIELDS = (
    "id",
    "category",
    "grade",
    "quantity",
    "min_price_vnd",
    "lat",
    "lon",
    "available_from",
    "available_to",
)
DEMAND_FIELDS = (
    "id",
    "category",
    "min_grade",
    "quantity",
    "max_price_vnd",
    "lat",
    "lon",
    "needed_from",
    "needed_by",
    "max_distance_km",
)
INSTANCE_FIELDS = ("transport_vnd_per_unit_km", "supply", "demand")


class InstanceError(ValueError):
    """An invalid instance; ``post`` is e.g. ``supply "S1"`` or ``demand[3]``, ``field`` the key."""

    def __init__(self, post: str, field: str, problem: str) -> None:
        self.post, self.field, self.problem = post, field, problem
        where = f'{post} field "{field}"' if field else post
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, slots=True)
class Supply:
    id: str
    category: str
    grade: int
    quantity: int
    min_price_vnd: int
    lat: float
    lon: float
    available_from: date
    available_to: date


@dataclass(frozen=True, slots=True)
class Demand:
    id: str
    category: str
    min_grade: int
    quantity: int
    max_price_vnd: int
    lat: float
    lon: float
    needed_from: date
    needed_by: date
    max_distance_km: float


@dataclass(frozen=True, slots=True)
class Instance:
    transport_vnd_per_unit_km: Mapping[str, int]
    supply: tuple[Supply, ...]
    demand: tuple[Demand, ...]

    def rate(self, category: str) -> int:
        """Transport rate (đ per unit per km) of a category, falling back to ``"*"``."""
        rates = self.transport_vnd_per_unit_km
        return rates[category] if category in rates else rates[DEFAULT_RATE_KEY]


# --- reading ---------------------------------------------------------------------------------


class _Post:
    """Reads the fields of one post, naming it in every error."""

    def __init__(self, side: str, index: int, raw: Any, fields: tuple[str, ...]) -> None:
        self.name = f"{side}[{index}]"
        if not isinstance(raw, dict):
            raise InstanceError(self.name, "", f"must be an object, got {_kind(raw)}")
        self.raw = raw
        post_id = raw.get("id")
        if "id" not in raw:
            raise InstanceError(self.name, "id", "missing")
        if not isinstance(post_id, str) or not post_id or len(post_id) > MAX_ID_LENGTH:
            raise InstanceError(self.name, "id", f"must be a string of 1 to {MAX_ID_LENGTH} characters")
        self.name = f"{side} {_quote(post_id)}"
        for key in raw:
            if key not in fields:
                raise InstanceError(self.name, str(key), f"unknown key (expected {', '.join(fields)})")
        for key in fields:
            if key not in raw:
                raise InstanceError(self.name, key, "missing")

    def fail(self, key: str, problem: str) -> InstanceError:
        return InstanceError(self.name, key, problem)

    def text(self, key: str) -> str:
        value = self.raw[key]
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
            raise self.fail(key, f"must be a non-empty string of at most {MAX_ID_LENGTH} characters")
        return value

    def integer(self, key: str, low: int | None = None, high: int | None = None) -> int:
        value = self.raw[key]
        if type(value) is not int:
            raise self.fail(key, f"must be an integer, got {_kind(value)} {_show(value)}")
        if low is not None and value < low:
            raise self.fail(key, f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise self.fail(key, f"must be at most {high}, got {value}")
        return value

    def number(self, key: str, low: float, high: float, *, open_low: bool = False) -> float:
        value = self.raw[key]
        if type(value) not in (int, float) or not math.isfinite(value):
            raise self.fail(key, f"must be a number, got {_kind(value)} {_show(value)}")
        if value > high or value < low or (open_low and value == low):
            bound = f"above {low}" if open_low else f"at least {low}"
            raise self.fail(key, f"must be {bound} and at most {high}, got {value}")
        return float(value)

    def day(self, key: str) -> date:
        value = self.raw[key]
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(key, f"must be a date YYYY-MM-DD, got {_show(value)}")

    def window(self, start_key: str, end_key: str) -> tuple[date, date]:
        start, end = self.day(start_key), self.day(end_key)
        if end < start:
            raise self.fail(end_key, f"window ends ({end}) before it starts ({start_key} {start})")
        return start, end


def _kind(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
    }.get(type(value), "null" if value is None else type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= 40 else text[:37] + "..."


def _quote(post_id: str) -> str:
    return '"' + post_id.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_supply(index: int, raw: Any) -> Supply:
    post = _Post("supply", index, raw, SUPPLY_FIELDS)
    start, end = post.window("available_from", "available_to")
    return Supply(
        id=raw["id"],
        category=post.text("category"),
        grade=post.integer("grade", -1000, 1000),
        quantity=post.integer("quantity", 1, MAX_QUANTITY),
        min_price_vnd=post.integer("min_price_vnd", 1, MAX_PRICE_VND),
        lat=post.number("lat", -90.0, 90.0),
        lon=post.number("lon", -180.0, 180.0),
        available_from=start,
        available_to=end,
    )


def _read_demand(index: int, raw: Any) -> Demand:
    post = _Post("demand", index, raw, DEMAND_FIELDS)
    start, end = post.window("needed_from", "needed_by")
    return Demand(
        id=raw["id"],
        category=post.text("category"),
        min_grade=post.integer("min_grade", -1000, 1000),
        quantity=post.integer("quantity", 1, MAX_QUANTITY),
        max_price_vnd=post.integer("max_price_vnd", 1, MAX_PRICE_VND),
        lat=post.number("lat", -90.0, 90.0),
        lon=post.number("lon", -180.0, 180.0),
        needed_from=start,
        needed_by=end,
        max_distance_km=post.number("max_distance_km", 0.0, 20_100.0, open_low=True),
    )


def _read_rates(raw: Any) -> dict[str, int]:
    field = "transport_vnd_per_unit_km"
    if not isinstance(raw, dict):
        raise InstanceError(
            "instance", field, f"must be an object mapping category to rate, got {_kind(raw)}"
        )
    rates: dict[str, int] = {}
    for key, value in raw.items():
        if not key:
            raise InstanceError("instance", field, "a category name is empty")
        if type(value) is not int or not 0 <= value <= MAX_RATE_VND:
            raise InstanceError(
                "instance",
                f"{field}.{key}",
                f"must be an integer from 0 to {MAX_RATE_VND}, got {_show(value)}",
            )
        rates[key] = value
    return rates


def _read_side(raw: Mapping[str, Any], side: str) -> list[Any]:
    posts = raw[side]
    if not isinstance(posts, list):
        raise InstanceError("instance", side, f"must be a list of posts, got {_kind(posts)}")
    if not posts:
        raise InstanceError("instance", side, f"is empty: a round needs at least one {side} post")
    if len(posts) > MAX_POSTS:
        raise InstanceError("instance", side, f"has {len(posts)} posts, more than {MAX_POSTS}")
    return posts


def _unique(side: str, posts: tuple[Supply, ...] | tuple[Demand, ...]) -> None:
    seen: dict[str, int] = {}
    for index, post in enumerate(posts):
        if post.id in seen:
            raise InstanceError(
                f"{side} {_quote(post.id)}", "id", f"duplicate id (also {side}[{seen[post.id]}])"
            )
        seen[post.id] = index


def _check_rates(instance: Instance) -> None:
    rates = instance.transport_vnd_per_unit_km
    if DEFAULT_RATE_KEY in rates:
        return
    for side, posts in (("supply", instance.supply), ("demand", instance.demand)):
        for post in posts:
            if post.category not in rates:
                raise InstanceError(
                    f"{side} {_quote(post.id)}",
                    "category",
                    f'no transport rate for "{post.category}" and no default "*" rate',
                )


def _check_magnitude(instance: Instance) -> None:
    """Total traded quantity × the largest value per unit must fit in int64 with room to spare."""
    traded = min(sum(s.quantity for s in instance.supply), sum(d.quantity for d in instance.demand))
    top = max(d.max_price_vnd for d in instance.demand)
    if traded * top >= TOTAL_LIMIT:
        raise InstanceError("instance", "", "quantities × prices too large for one round; split it")


def parse_instance(raw: Any) -> Instance:
    """The instance described by decoded JSON ``raw``, or :class:`InstanceError`."""
    if not isinstance(raw, dict):
        raise InstanceError("instance", "", f"must be an object, got {_kind(raw)}")
    for key in raw:
        if key not in INSTANCE_FIELDS:
            raise InstanceError("instance", str(key), f"unknown key (expected {', '.join(INSTANCE_FIELDS)})")
    for key in INSTANCE_FIELDS:
        if key not in raw:
            raise InstanceError("instance", key, "missing")
    rates = _read_rates(raw["transport_vnd_per_unit_km"])
    supply = tuple(_read_supply(i, post) for i, post in enumerate(_read_side(raw, "supply")))
    demand = tuple(_read_demand(i, post) for i, post in enumerate(_read_side(raw, "demand")))
    _unique("supply", supply)
    _unique("demand", demand)
    instance = Instance(transport_vnd_per_unit_km=rates, supply=supply, demand=demand)
    _check_rates(instance)
    _check_magnitude(instance)
    return instance


# --- writing ---------------------------------------------------------------------------------


def supply_json(post: Supply) -> dict[str, Any]:
    return {
        "id": post.id,
        "category": post.category,
        "grade": post.grade,
        "quantity": post.quantity,
        "min_price_vnd": post.min_price_vnd,
        "lat": post.lat,
        "lon": post.lon,
        "available_from": post.available_from.isoformat(),
        "available_to": post.available_to.isoformat(),
    }


def demand_json(post: Demand) -> dict[str, Any]:
    return {
        "id": post.id,
        "category": post.category,
        "min_grade": post.min_grade,
        "quantity": post.quantity,
        "max_price_vnd": post.max_price_vnd,
        "lat": post.lat,
        "lon": post.lon,
        "needed_from": post.needed_from.isoformat(),
        "needed_by": post.needed_by.isoformat(),
        "max_distance_km": post.max_distance_km,
    }


def instance_json(instance: Instance) -> dict[str, Any]:
    return {
        "transport_vnd_per_unit_km": dict(instance.transport_vnd_per_unit_km),
        "supply": [supply_json(post) for post in instance.supply],
        "demand": [demand_json(post) for post in instance.demand],
    }
