"""Explanations of unmatched posts and quotes for new posts, checked against re-solved rounds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from matching.explain import Round, explain, quote
from matching.instance import Instance
from matching.solver import solve
from tests.matching.builders import LAT, demand, market, supply


def test_a_priced_out_buyer_is_told_the_maximum_that_would_have_matched() -> None:
    # S1 sells at 100 (it has plenty left), 11.1195 km away at 10 đ/km: delivered 211.
    instance = market([supply("S1", 50, 100)], [demand("D1", 5, 150, lat=LAT + 0.1)], rate=10)
    result = solve(instance)
    explained = {item.post: item for item in explain(instance, result)}
    assert set(explained) == {"S1", "D1"}
    why = explained["D1"]
    assert (why.side, why.post, why.reason, why.matched) == ("demand", "D1", "priced_out", 0)
    assert (why.counterparty, why.transport_vnd, why.limit_vnd) == ("S1", 111, 212)
    assert "raise your maximum to 212 đ" in why.message
    # Taking the advice does get the buyer served.
    raised = replace(instance, demand=(replace(instance.demand[0], max_price_vnd=why.limit_vnd),))
    assert solve(raised).matches
    # And the seller hears what the buyer nets it after transport: 150 − 111 = 39.
    assert explained["S1"].limit_vnd == 38


def test_a_priced_out_seller_is_told_the_minimum_that_would_have_sold() -> None:
    # D1 takes 5 from the cheap S2, is left short at its maximum 300; S1 asks 320.
    instance = market([supply("S1", 5, 320), supply("S2", 5, 100)], [demand("D1", 8, 300)])
    result = solve(instance)
    why = {item.post: item for item in explain(instance, result)}
    assert why["S1"].reason == "priced_out"
    assert why["S1"].limit_vnd == 299
    assert "lower your minimum to 299 đ" in why["S1"].message
    lowered = replace(instance, supply=(replace(instance.supply[0], min_price_vnd=299), instance.supply[1]))
    assert any(m.supply == "S1" for m in solve(lowered).matches)


def test_no_counterparty_lists_the_nearest_posts_and_what_excludes_them() -> None:
    supplies = [
        supply("S1", 5, 100, grade=1),  # right here, grade too low
        supply("S2", 5, 100, lat=LAT + 0.05, available_from=date(2026, 2, 1), available_to=date(2026, 2, 3)),
        supply("S3", 5, 100, lat=LAT + 0.5),  # 55.6 km: too far
    ]
    instance = market(supplies, [demand("D1", 5, 900, min_grade=2, max_distance_km=30.0)])
    result = solve(instance)
    why = {item.post: item for item in explain(instance, result)}["D1"]
    assert why.reason == "no_counterparty"
    assert why.limit_vnd is None
    assert [(c.post, c.failed) for c in why.nearest] == [
        ("S1", ("grade",)),
        ("S2", ("dates",)),
        ("S3", ("distance",)),
    ]
    assert "grade too low" in why.message and "too far" in why.message


def test_served_posts_need_no_explanation() -> None:
    instance = market([supply("S1", 5, 100)], [demand("D1", 5, 200)])
    assert explain(instance, solve(instance)) == []


def test_quotes_for_new_posts_use_the_last_rounds_prices() -> None:
    instance: Instance = market(
        [supply("S1", 5, 100), supply("S2", 50, 180)], [demand("D1", 5, 400)], rate=10
    )
    result = solve(instance)
    last = Round(instance, result)
    newcomer = demand("D9", 3, 250, lat=LAT + 0.1)
    offer = quote(instance, result, newcomer)
    # S1 cleared at 140 (between 100 and S2's 180, which caps D1's price): 140 + 111 delivered.
    assert result.supply_prices == {"S1": 140, "S2": 180}
    assert (offer.counterparty, offer.price_vnd, offer.transport_vnd) == ("S1", 251, 111)
    assert "above your maximum of 250 đ" in offer.message
    assert offer.reachable == 2
    assert last.category_price["gao"] == result.supply_prices["S1"]
    seller = quote(instance, result, supply("S9", 4, 150))
    assert seller.counterparty == "D1" and seller.price_vnd == result.demand_prices["D1"]
    nowhere = quote(instance, result, demand("D8", 1, 999, category="rau"))
    assert nowhere.price_vnd is None and nowhere.reachable == 0


def test_every_explanation_of_a_generated_round_is_consistent() -> None:
    from matching.generate import generate

    instance = generate(300, 300, 11)
    result = solve(instance)
    supplies = {p.id: p for p in instance.supply}
    demands = {p.id: p for p in instance.demand}
    explained = explain(instance, result)
    assert explained
    for item in explained:
        post = supplies[item.post] if item.side == "supply" else demands[item.post]
        assert item.matched < post.quantity
        if item.reason == "priced_out" and item.side == "demand":
            # Short, so at its maximum: every reachable seller delivers at or above it.
            assert item.limit_vnd is not None and item.limit_vnd > post.max_price_vnd  # type: ignore[union-attr]
        elif item.reason == "priced_out" and item.limit_vnd is not None:
            assert item.limit_vnd < post.min_price_vnd  # type: ignore[union-attr]
        elif item.reason == "no_counterparty":
            assert item.nearest and item.limit_vnd is None
