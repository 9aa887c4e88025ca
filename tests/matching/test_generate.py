"""The Thanh Hóa generator keeps the issue's defaults and is reproducible."""

from __future__ import annotations

from datetime import date

from matching.generate import CATEGORIES, DEFAULT_START, LAT_RANGE, LON_RANGE, generate, transport_rates
from matching.instance import instance_json, parse_instance


def test_same_seed_same_instance_other_seed_other_instance() -> None:
    assert instance_json(generate(50, 60, 7)) == instance_json(generate(50, 60, 7))
    assert instance_json(generate(50, 60, 7)) != instance_json(generate(50, 60, 8))


def test_generated_instances_parse_back_identically() -> None:
    raw = instance_json(generate(40, 40, 1))
    assert instance_json(parse_instance(raw)) == raw


def test_defaults_of_the_issue() -> None:
    instance = generate(2000, 2000, 3)
    references = {name: price for name, price, _ in CATEGORIES}
    assert len(references) == 8
    assert instance.transport_vnd_per_unit_km == transport_rates()
    posts = [*instance.supply, *instance.demand]
    assert {p.category for p in posts} == set(references)
    assert {p.grade for p in instance.supply} == {1, 2, 3}
    assert {p.min_grade for p in instance.demand} == {1, 2, 3}
    for post in posts:
        assert LAT_RANGE[0] <= post.lat <= LAT_RANGE[1] and LON_RANGE[0] <= post.lon <= LON_RANGE[1]
        assert post.quantity >= 1
    for price, category in [(p.min_price_vnd, p.category) for p in instance.supply] + [
        (p.max_price_vnd, p.category) for p in instance.demand
    ]:
        # ±30 % of the reference, then rounded to 100 đ.
        assert 0.7 * references[category] - 50 <= price <= 1.3 * references[category] + 50
        assert price % 100 == 0
    for s in instance.supply:
        assert 0 <= (s.available_from - DEFAULT_START).days < 30
        assert 3 <= (s.available_to - s.available_from).days + 1 <= 14
    for d in instance.demand:
        assert 0 <= (d.needed_from - DEFAULT_START).days < 30
        assert 1 <= (d.needed_by - d.needed_from).days + 1 <= 7
        assert 10.0 <= d.max_distance_km <= 50.0


def test_start_date_moves_every_window() -> None:
    later = generate(10, 10, 5, start=date(2026, 3, 1))
    assert min(p.available_from for p in later.supply) >= date(2026, 3, 1)
