"""The solver on hand-made rounds with known optima and prices, and on random rounds against HiGHS."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching import solver
from matching.check import check
from matching.instance import Instance
from matching.result import Result
from matching.solver import solve
from tests.matching.builders import LAT, demand, lp_optimum, market, supply


def solved(instance: Instance) -> Result:
    result = solve(instance)
    verdict = check(instance, result)
    assert verdict.ok, verdict.message
    assert verdict.welfare_vnd == result.welfare_vnd
    return result


def traded(result: Result) -> dict[tuple[str, str], int]:
    return {(m.supply, m.demand): m.quantity for m in result.matches}


def test_one_pair_splits_the_surplus_evenly() -> None:
    result = solved(market([supply("S1", 10, 10_000)], [demand("D1", 10, 12_000)]))
    assert traded(result) == {("S1", "D1"): 10}
    assert result.welfare_vnd == 20_000
    # Seller-best 12,000, buyer-best 10,000: the midpoint.
    assert result.supply_prices == {"S1": 11_000}
    assert result.demand_prices == {"D1": 11_000}


def test_transport_is_paid_by_the_buyer_on_top_of_the_seller_price() -> None:
    # 0.1° of latitude = 11.1195 km; at 10 đ/km the transport is round(111.195) = 111 đ.
    far = demand("D1", 7, 1_200, lat=LAT + 0.1)
    result = solved(market([supply("S1", 7, 1_000)], [far], rate=10))
    (match,) = result.matches
    assert (match.quantity, match.transport_vnd, match.distance_km) == (7, 111, 11.119)
    assert result.welfare_vnd == 7 * (1_200 - 1_000 - 111)
    # H = (1089, 1200), L = (1000, 1111): floor of the midpoints.
    assert (match.price_vnd, result.demand_prices["D1"]) == (1_044, 1_155)
    assert match.price_vnd + match.transport_vnd == result.demand_prices["D1"]


def test_a_seller_split_across_buyers() -> None:
    result = solved(market([supply("S1", 10, 100)], [demand("D1", 4, 300), demand("D2", 6, 200)]))
    assert traded(result) == {("S1", "D1"): 4, ("S1", "D2"): 6}
    assert result.welfare_vnd == 4 * 200 + 6 * 100
    assert set(result.supply_prices.values()) | set(result.demand_prices.values()) == {150}


def test_a_buyer_served_by_several_sellers_pays_the_marginal_sellers_price() -> None:
    sellers = [supply("S1", 3, 100), supply("S2", 4, 200), supply("S3", 5, 300)]
    result = solved(market(sellers, [demand("D1", 10, 500)]))
    assert traded(result) == {("S1", "D1"): 3, ("S2", "D1"): 4, ("S3", "D1"): 3}
    assert result.welfare_vnd == 3 * 400 + 4 * 300 + 3 * 200
    # S3 keeps 2 units, so its price is its minimum, and that sets everybody's price.
    assert result.supply_prices == {"S1": 300, "S2": 300, "S3": 300}
    assert result.demand_prices == {"D1": 300}


def test_two_buyers_compete_for_a_small_seller() -> None:
    result = solved(market([supply("S1", 5, 100)], [demand("D1", 5, 300), demand("D2", 5, 250)]))
    assert traded(result) == {("S1", "D1"): 5}
    # The loser stays at its maximum; the winner pays between 250 and 300: 275.
    assert result.demand_prices == {"D1": 275, "D2": 250}
    assert result.supply_prices == {"S1": 275}


def test_ties_give_the_same_welfare_and_the_same_prices_whichever_seller_wins() -> None:
    sellers = [supply("S1", 5, 100), supply("S2", 5, 100)]
    result = solved(market(sellers, [demand("D1", 5, 200)]))
    assert sum(traded(result).values()) == 5
    assert result.welfare_vnd == 500
    assert result.supply_prices == {"S1": 100, "S2": 100}
    assert result.demand_prices == {"D1": 100}


def test_nothing_compatible_leaves_every_price_at_its_limit() -> None:
    supplies = [supply("S1", 5, 100, category="rau"), supply("S2", 5, 100, grade=1)]
    demands = [
        demand("D1", 5, 500, min_grade=2),  # S2 too low a grade, S1 another category
        demand("D2", 5, 500, needed_from=date(2026, 2, 1), needed_by=date(2026, 2, 2)),  # dates
        demand("D3", 5, 500, lat=LAT + 0.5, max_distance_km=50.0),  # 55.6 km away
    ]
    result = solved(market(supplies, demands))
    assert result.matches == ()
    assert result.welfare_vnd == 0
    assert result.supply_prices == {"S1": 100, "S2": 100}
    assert result.demand_prices == {"D1": 500, "D2": 500, "D3": 500}


def test_everything_priced_out() -> None:
    result = solved(market([supply("S1", 5, 300), supply("S2", 5, 250)], [demand("D1", 5, 250)]))
    assert result.matches == ()
    assert result.supply_prices == {"S1": 300, "S2": 250}
    assert result.demand_prices == {"D1": 250}


def test_window_edges_are_inclusive_and_zero_value_is_not_a_trade() -> None:
    touching = demand("D1", 1, 200, needed_from=date(2026, 1, 10), needed_by=date(2026, 1, 12))
    exactly_even = demand("D2", 1, 100)  # max = min: v = 0
    result = solved(market([supply("S1", 2, 100)], [touching, exactly_even]))
    assert traded(result) == {("S1", "D1"): 1}


def test_distance_limit_is_inclusive_up_to_the_haversine() -> None:
    near = demand("D1", 1, 500, lat=LAT + 0.1, max_distance_km=11.12)  # 11.1195 km: inside
    beyond = demand("D2", 1, 500, lat=LAT + 0.1, max_distance_km=11.11)
    result = solved(market([supply("S1", 2, 100)], [near, beyond]))
    assert traded(result) == {("S1", "D1"): 1}


def test_a_chain_of_trades_prices_consistently_across_the_market() -> None:
    # S1 can only reach D1; S2 reaches D1 and D2; D1 prefers S1's cheaper goods.
    east = LAT + 0.2
    supplies = [supply("S1", 5, 100), supply("S2", 5, 150, lat=LAT + 0.1)]
    demands = [
        demand("D1", 5, 400, max_distance_km=12.0),
        demand("D2", 5, 300, lat=east, max_distance_km=12.0),
    ]
    result = solved(market(supplies, demands, rate=1))
    assert traded(result) == {("S1", "D1"): 5, ("S2", "D2"): 5}
    assert result.welfare_vnd == lp_optimum(market(supplies, demands, rate=1))


def test_empty_sides_clear_to_nothing() -> None:
    result = solve(market([supply("S1", 5, 100)], []))
    assert result == Result(matches=(), supply_prices={"S1": 100}, demand_prices={}, welfare_vnd=0)


# --- random rounds against an independent LP --------------------------------------------------

posts = st.integers(min_value=1, max_value=9)


@st.composite
def rounds(draw: st.DrawFn) -> Instance:
    rng = random.Random(draw(st.integers(0, 2**32)))
    n_s, n_d = draw(posts), draw(posts)
    categories = ["gao", "rau"][: draw(st.integers(1, 2))]

    def spot() -> dict[str, float]:
        return {"lat": LAT + rng.uniform(0, 0.15), "lon": 105.7 + rng.uniform(0, 0.15)}

    def window(longest: int) -> tuple[date, date]:
        start = rng.randint(1, 10)
        return date(2026, 1, start), date(2026, 1, start + rng.randint(0, longest))

    supplies = []
    for i in range(n_s):
        start, end = window(6)
        supplies.append(
            supply(f"S{i}", rng.randint(1, 30), rng.randint(5, 30) * 100, category=rng.choice(categories),
                   grade=rng.randint(1, 3), available_from=start, available_to=end, **spot())
        )  # fmt: skip
    demands = []
    for i in range(n_d):
        start, end = window(4)
        demands.append(
            demand(f"D{i}", rng.randint(1, 30), rng.randint(5, 35) * 100, category=rng.choice(categories),
                   min_grade=rng.randint(1, 3), needed_from=start, needed_by=end,
                   max_distance_km=rng.choice([5.0, 10.0, 25.0]), **spot())
        )  # fmt: skip
    return market(supplies, demands, rate=draw(st.sampled_from([0, 7, 40])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds())
def test_random_rounds_pass_the_check_and_reach_the_lp_optimum(instance: Instance) -> None:
    result = solved(instance)
    assert result.welfare_vnd == lp_optimum(instance)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds(), st.randoms(use_true_random=False))
def test_prices_do_not_depend_on_the_order_of_the_posts(instance: Instance, rng: random.Random) -> None:
    shuffled = replace(
        instance,
        supply=tuple(rng.sample(instance.supply, len(instance.supply))),
        demand=tuple(rng.sample(instance.demand, len(instance.demand))),
    )
    first, second = solve(instance), solve(shuffled)
    assert first.supply_prices == second.supply_prices
    assert first.demand_prices == second.demand_prices
    assert first.welfare_vnd == second.welfare_vnd


def test_a_round_beyond_the_memory_budget_is_refused_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(solver, "MAX_PAIRS", 1)
    with pytest.raises(solver.TooLarge, match="more than 1 compatible pairs"):
        solve(market([supply("S1", 5, 100), supply("S2", 5, 100)], [demand("D1", 5, 300)]))
