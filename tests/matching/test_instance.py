"""Instance parsing: every bad instance is a clear error naming the post and the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.instance import InstanceError, instance_json, parse_instance
from tests.matching.builders import demand, market, supply


def good() -> dict[str, Any]:
    return instance_json(
        market([supply("S1", 10, 100), supply("S2", 5, 120)], [demand("D1", 8, 200)], rate=20)
    )


def error_of(raw: Any) -> str:
    with pytest.raises(InstanceError) as caught:
        parse_instance(raw)
    return str(caught.value)


def test_a_good_instance_round_trips() -> None:
    raw = good()
    assert instance_json(parse_instance(raw)) == raw


@pytest.mark.parametrize(
    ("side", "index", "key", "value", "expected"),
    [
        ("supply", 1, "quantity", 0, 'supply "S2" field "quantity": must be at least 1, got 0'),
        ("supply", 0, "quantity", -3, 'supply "S1" field "quantity": must be at least 1, got -3'),
        ("demand", 0, "quantity", 2.0, 'demand "D1" field "quantity": must be an integer, got number 2.0'),
        (
            "supply",
            0,
            "min_price_vnd",
            True,
            'supply "S1" field "min_price_vnd": must be an integer, got boolean true',
        ),
        ("demand", 0, "max_price_vnd", 0, 'demand "D1" field "max_price_vnd": must be at least 1, got 0'),
        ("supply", 0, "grade", "2", 'supply "S1" field "grade": must be an integer, got string \'2\''),
        ("supply", 0, "lat", 91, 'supply "S1" field "lat": must be at least -90.0 and at most 90.0, got 91'),
        (
            "demand",
            0,
            "lon",
            -180.5,
            'demand "D1" field "lon": must be at least -180.0 and at most 180.0, got -180.5',
        ),
        ("demand", 0, "lat", None, 'demand "D1" field "lat": must be a number, got null None'),
        ("demand", 0, "max_distance_km", 0, 'demand "D1" field "max_distance_km": must be above 0.0'),
        (
            "supply",
            0,
            "available_to",
            "2026-01-04",
            'supply "S1" field "available_to": window ends (2026-01-04)',
        ),
        ("demand", 0, "needed_by", "2026-01-01", 'demand "D1" field "needed_by": window ends (2026-01-01)'),
        ("supply", 0, "available_from", "2026-02-30", 'supply "S1" field "available_from": must be a date'),
        ("supply", 0, "available_from", "20260105", 'supply "S1" field "available_from": must be a date'),
        ("supply", 0, "category", "", 'supply "S1" field "category": must be a non-empty string'),
        ("demand", 0, "id", 7, 'demand[0] field "id": must be a string'),
    ],
)
def test_bad_fields_are_named(side: str, index: int, key: str, value: Any, expected: str) -> None:
    raw = good()
    raw[side][index][key] = value
    assert error_of(raw).startswith(expected)


def test_unknown_and_missing_keys() -> None:
    raw = good()
    raw["supply"][0]["colour"] = "white"
    assert error_of(raw).startswith('supply "S1" field "colour": unknown key')
    raw = good()
    del raw["demand"][0]["max_distance_km"]
    assert error_of(raw) == 'demand "D1" field "max_distance_km": missing'
    raw = good()
    raw["rounds"] = 3
    assert error_of(raw).startswith('instance field "rounds": unknown key')
    raw = good()
    del raw["demand"]
    assert error_of(raw) == 'instance field "demand": missing'


def test_duplicate_ids() -> None:
    raw = good()
    raw["supply"][1]["id"] = "S1"
    assert error_of(raw) == 'supply "S1" field "id": duplicate id (also supply[0])'


def test_a_supply_and_a_demand_may_share_an_id() -> None:
    raw = good()
    raw["demand"][0]["id"] = "S1"
    assert parse_instance(raw).demand[0].id == "S1"


@pytest.mark.parametrize("side", ["supply", "demand"])
def test_an_empty_side_is_refused(side: str) -> None:
    raw = good()
    raw[side] = []
    assert error_of(raw) == f'instance field "{side}": is empty: a round needs at least one {side} post'


def test_transport_rates() -> None:
    raw = good()
    raw["transport_vnd_per_unit_km"] = {"*": -1}
    assert error_of(raw).startswith('instance field "transport_vnd_per_unit_km.*": must be an integer from 0')
    raw["transport_vnd_per_unit_km"] = {"rau": 10}
    assert (
        error_of(raw) == 'supply "S1" field "category": no transport rate for "gao" and no default "*" rate'
    )
    raw["transport_vnd_per_unit_km"] = {"gao": 10}
    assert parse_instance(raw).rate("gao") == 10


def test_shapes_that_are_not_objects() -> None:
    assert error_of([]) == "instance: must be an object, got list"
    raw = good()
    raw["supply"] = {"S1": {}}
    assert error_of(raw) == 'instance field "supply": must be a list of posts, got object'
    raw = good()
    raw["supply"][0] = "S1"
    assert error_of(raw) == "supply[0]: must be an object, got string"


def test_magnitudes_that_could_overflow_are_refused() -> None:
    raw = good()
    for post in raw["supply"] + raw["demand"]:
        post["quantity"] = 10**9
    raw["supply"] = [copy.deepcopy(raw["supply"][0]) | {"id": f"S{i}"} for i in range(5)]
    raw["demand"] = [
        copy.deepcopy(raw["demand"][0]) | {"id": f"D{i}", "max_price_vnd": 10**9} for i in range(5)
    ]
    assert "too large" in error_of(raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["supply", "demand"]), st.integers(0, 1), st.data())
def test_any_garbage_in_a_field_is_an_instance_error_never_a_crash(
    side: str, index: int, data: st.DataObject
) -> None:
    raw = good()
    posts = raw[side]
    post = posts[min(index, len(posts) - 1)]
    key = data.draw(st.sampled_from(sorted(post)))
    post[key] = data.draw(json_values)
    try:
        parse_instance(raw)
    except InstanceError as error:
        assert error.field or error.post
