"""The certificate check accepts the solver's results and names the first broken condition."""

from __future__ import annotations

from dataclasses import replace

import pytest

from matching.check import check
from matching.instance import Instance
from matching.result import Result, parse_result, result_json
from matching.solver import solve
from tests.matching.builders import LAT, demand, market, supply


@pytest.fixture
def instance() -> Instance:
    # S1 sells all to D1 and D2; S2 keeps everything (too dear); D3 is left short (too far).
    supplies = [supply("S1", 10, 100), supply("S2", 5, 400)]
    demands = [demand("D1", 4, 300), demand("D2", 6, 250), demand("D3", 5, 500, lat=LAT + 1)]
    return market(supplies, demands, rate=1)


@pytest.fixture
def result(instance: Instance) -> Result:
    return solve(instance)


def violation(instance: Instance, result: Result) -> tuple[int | None, str]:
    verdict = check(instance, result)
    assert not verdict.ok
    assert verdict.welfare_vnd is None
    return verdict.condition, verdict.message


def test_the_solvers_result_passes(instance: Instance, result: Result) -> None:
    verdict = check(instance, result)
    assert verdict.ok
    assert verdict.welfare_vnd == 4 * 200 + 6 * 150 == result.welfare_vnd


def test_a_result_read_back_from_json_passes(instance: Instance, result: Result) -> None:
    assert check(instance, parse_result(result_json(result))).ok


def test_condition_1_quantity_above_the_post(instance: Instance, result: Result) -> None:
    matches = tuple(replace(m, quantity=m.quantity + 1) if m.demand == "D1" else m for m in result.matches)
    condition, message = violation(instance, replace(result, matches=matches))
    assert condition == 1
    assert message.startswith('supply "S1": matched 11, more than its quantity')


def test_condition_1_an_incompatible_match(instance: Instance, result: Result) -> None:
    far = replace(result.matches[0], demand="D3", transport_vnd=111)
    condition, message = violation(instance, replace(result, matches=(far, *result.matches[1:])))
    assert condition == 1
    assert "not compatible (distance)" in message


def test_condition_1_wrong_transport(instance: Instance, result: Result) -> None:
    wrong = replace(result.matches[0], transport_vnd=5)
    condition, message = violation(instance, replace(result, matches=(wrong, *result.matches[1:])))
    assert condition == 1
    assert "transport_vnd is 5, the rule gives 0" in message


def test_condition_2_price_differs_from_the_supply_price(instance: Instance, result: Result) -> None:
    wrong = replace(result.matches[0], price_vnd=result.matches[0].price_vnd + 1)
    condition, _ = violation(instance, replace(result, matches=(wrong, *result.matches[1:])))
    assert condition == 2


def test_condition_2_delivered_price_differs(instance: Instance, result: Result) -> None:
    prices = dict(result.demand_prices, D1=result.demand_prices["D1"] - 1)
    condition, message = violation(instance, replace(result, demand_prices=prices))
    assert condition == 2
    assert "≠ demand price" in message


def test_condition_3_leftover_supply_priced_above_its_minimum(instance: Instance, result: Result) -> None:
    condition, message = violation(
        instance, replace(result, supply_prices=dict(result.supply_prices, S2=401))
    )
    assert condition == 3
    assert message == 'supply "S2": has quantity left over, so its price must be 400, not 401'


def test_condition_3_short_demand_below_its_maximum(instance: Instance, result: Result) -> None:
    condition, message = violation(
        instance, replace(result, demand_prices=dict(result.demand_prices, D3=499))
    )
    assert condition == 3
    assert message == 'demand "D3": is left short, so its price must be 500, not 499'


def test_condition_3_prices_outside_the_limits(instance: Instance, result: Result) -> None:
    everyone_cheap = {post: 99 for post in result.supply_prices}
    condition, message = violation(instance, replace(result, supply_prices=everyone_cheap, matches=()))
    assert condition == 3
    assert "below its minimum 100" in message


def test_condition_4_a_blocking_pair() -> None:
    # Nobody trades, yet S1 (min 100) and D1 (max 300) would gladly deal: prices leave them blocking.
    instance = market([supply("S1", 5, 100)], [demand("D1", 5, 300)])
    unmatched = Result(matches=(), supply_prices={"S1": 100}, demand_prices={"D1": 300}, welfare_vnd=0)
    condition, message = violation(instance, unmatched)
    assert condition == 4
    assert message == 'blocking pair: supply "S1" at 100 + transport 0 = 100 is below demand "D1" price 300'


def test_condition_5_prices_must_be_integers(instance: Instance, result: Result) -> None:
    raw = result_json(result)
    raw["supply_prices"]["S2"] = 400.0
    condition, message = violation(instance, parse_result(raw))
    assert condition == 5
    assert message == 'supply "S2": price 400.0 is not an integer'


def test_announced_welfare_must_match(instance: Instance, result: Result) -> None:
    condition, message = violation(instance, replace(result, welfare_vnd=result.welfare_vnd + 1))
    assert condition == 0
    assert message.startswith("welfare_vnd is")


def test_missing_and_foreign_prices(instance: Instance, result: Result) -> None:
    prices = {k: v for k, v in result.demand_prices.items() if k != "D2"}
    assert violation(instance, replace(result, demand_prices=prices)) == (
        0,
        'demand_prices has no price for demand "D2"',
    )
    prices = dict(result.supply_prices, S9=1)
    assert violation(instance, replace(result, supply_prices=prices))[1].startswith(
        'supply_prices names "S9"'
    )


def test_a_suboptimal_but_feasible_matching_cannot_be_certified(instance: Instance, result: Result) -> None:
    # Drop D2's match: whatever prices are claimed, S1 and D2 now block or a limit is broken.
    kept = tuple(m for m in result.matches if m.demand != "D2")
    welfare = sum(m.quantity * 200 for m in kept)
    verdict = check(instance, replace(result, matches=kept, welfare_vnd=welfare))
    assert not verdict.ok
    assert verdict.condition in (3, 4)
