"""Clearing rounds of the market: proposals are exactly the core's optimal matches on the
snapshot of free quantities, at its certified prices; explanations say why a post was left
short and what limit would have matched; quotes read the last round; scheduled rounds clear a
slot once; market data from the rounds."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.audit import AuditEntry
from choso.db import session_scope
from matching import rounds
from matching.check import check
from matching.models import ClearingRound, MarketPost, MatchExplanation, MatchProposal, PostStatus
from matching.solver import solve
from tests.matching.market_support import (
    CITY,
    buyer,
    demand_body,
    notified,
    officer,
    operator,
    post,
    post_row,
    producer,
    run_round,
    supply_body,
)


def test_a_round_proposes_the_cores_optimal_matches_at_its_prices(client: TestClient, db: Session) -> None:
    farms = [producer() for _ in range(3)]
    kitchens = [buyer() for _ in range(3)]
    # a seller split across buyers, a buyer served by two sellers, a nearer seller cheaper after transport
    s1 = post(client, farms[0], supply_body(120, 11_000))
    s2 = post(client, farms[1], supply_body(50, 12_500, latitude=CITY[0] + 0.12))
    s3 = post(client, farms[2], supply_body(40, 10_000, category="vegetables", unit="kg", grade=3))
    d1 = post(client, kitchens[0], demand_body(100, 15_000))
    d2 = post(client, kitchens[1], demand_body(60, 14_000, latitude=CITY[0] + 0.1))
    d3 = post(client, kitchens[2], demand_body(30, 20_000, category="vegetables", grade=3))
    with session_scope() as session:  # the instance the round will see, cleared by the core directly
        instance = rounds.build_instance(rounds.open_posts(session, rounds.local_today()))
    expected = solve(instance)
    assert check(instance, expected).ok

    body = run_round(client, operator())
    assert body["supply_posts"] == 3 and body["demand_posts"] == 3
    assert body["welfare_vnd"] == expected.welfare_vnd > 0
    assert body["proposals"] == len(expected.matches)
    assert body["proposals_by_status"] == {"proposed": len(expected.matches)}
    made = db.exec(select(MatchProposal).order_by(MatchProposal.id)).all()  # type: ignore[arg-type]
    assert sorted(
        (f"s{p.supply_post_id}", f"d{p.demand_post_id}", p.quantity, p.price_vnd, p.transport_vnd)
        for p in made
    ) == sorted((m.supply, m.demand, m.quantity, m.price_vnd, m.transport_vnd) for m in expected.matches)
    # each proposal holds its quantity in both posts; the prices are the round's certified ones
    for proposal in made:
        assert proposal.price_vnd == expected.supply_prices[f"s{proposal.supply_post_id}"]
        assert proposal.delivered_price_vnd == expected.demand_prices[f"d{proposal.demand_post_id}"]
        assert proposal.value_vnd > 0 and proposal.supply_version == 1
    for created in (s1, s2, s3, d1, d2, d3):
        row = post_row(db, created["id"])
        held = sum(p.quantity for p in made if row.id in (p.supply_post_id, p.demand_post_id))
        assert row.committed_quantity == held and row.last_round_id == body["id"]
    # the vegetable pair is matched alone: categories never mix
    veg = [p for p in made if p.supply_post_id == s3["id"]]
    assert [(p.demand_post_id, p.quantity) for p in veg] == [(d3["id"], 30)]
    stored = db.get_one(ClearingRound, body["id"])
    assert stored.trigger == "operator" and stored.result["welfare_vnd"] == expected.welfare_vnd
    [entry] = db.exec(select(AuditEntry).where(AuditEntry.action == "matching_round.run")).all()
    assert entry.object_id == str(body["id"]) and entry.actor_role == "operator"
    assert set(stored.category_prices) == {"rice/kg", "vegetables/kg"}
    # a second round sees only what is not committed
    again = run_round(client, operator())
    assert again["proposals"] == 0 and again["supply_posts"] + again["demand_posts"] < 6


def test_both_sides_are_notified_of_a_proposal(client: TestClient, db: Session) -> None:
    farm, kitchen = producer(), buyer()
    post(client, farm, supply_body())
    post(client, kitchen, demand_body())
    run_round(client, operator())
    assert notified(db, farm.user.id, "match_proposed") and notified(db, kitchen.user.id, "match_proposed")


def test_nothing_compatible_says_which_condition_excludes_the_nearest(
    client: TestClient, db: Session
) -> None:
    farm, kitchen = producer(), buyer()
    supply = post(client, farm, supply_body(grade=1))
    demand = post(client, kitchen, demand_body(grade=3, max_distance_km=2.0))
    body = run_round(client, operator())
    assert body["proposals"] == 0 and body["welfare_vnd"] == 0
    assert body["unmatched_by_reason"] == {"no_counterparty": 2}
    detail = client.get(f"/api/v1/matching/posts/{demand['id']}", headers=kitchen.headers).json()
    explanation = detail["explanation"]
    assert explanation["reason"] == "no_counterparty" and explanation["round_id"] == body["id"]
    [nearest] = explanation["nearest"]
    assert nearest["post_id"] == supply["id"] and set(nearest["failed"]) == {"grade", "distance"}
    assert "grade too low" in nearest["message"] and "too far" in nearest["message"]
    assert explanation["message"].startswith("No compatible supply post")


def test_a_priced_out_buyer_is_told_the_maximum_that_would_have_matched(client: TestClient) -> None:
    farm, kitchen = producer(), buyer()
    post(client, farm, supply_body(100, 12_000))
    demand = post(client, kitchen, demand_body(60, 12_050))  # transport over 5.6 km costs 111 đ/kg
    run_round(client, operator())
    detail = client.get(f"/api/v1/matching/posts/{demand['id']}", headers=kitchen.headers).json()
    explanation = detail["explanation"]
    assert explanation["reason"] == "priced_out"
    delivered = explanation["counterparty_price_vnd"] + explanation["transport_vnd"]
    assert explanation["limit_vnd"] == delivered + 1 == 12_112
    assert "Raise your maximum to ₫12,112 per kg." in explanation["message"]
    in_vietnamese = client.get(
        f"/api/v1/matching/posts/{demand['id']}", headers={**kitchen.headers, "Accept-Language": "vi"}
    ).json()["explanation"]["message"]
    assert "Hãy nâng giá tối đa lên 12.112" in in_vietnamese
    # raised to that limit, the next round serves it
    changed = client.patch(
        f"/api/v1/matching/posts/{demand['id']}", json={"limit_price_vnd": 12_112}, headers=kitchen.headers
    )
    assert changed.status_code == 200
    assert run_round(client, operator())["proposals"] == 1


def test_a_new_post_is_quoted_at_the_last_rounds_prices(client: TestClient) -> None:
    farm, kitchen, late = producer(), buyer(), buyer()
    post(client, farm, supply_body(100, 12_000))
    post(client, kitchen, demand_body(60, 15_000))
    run_round(client, operator())
    quoted = post(client, late, demand_body(10, 13_000))
    quote = quoted["quote"]
    # the supply has quantity left, so its round price is its minimum; plus transport to the new buyer
    assert quote["price_vnd"] == 12_000 + quote["transport_vnd"] and quote["within_limit"] is True
    assert quote["reachable"] == 1 and quote["category_price_vnd"] == 12_000
    assert "Indicative quote from round" in quote["message"]
    seller_quote = post(client, producer(), supply_body(10, 20_000))["quote"]
    assert seller_quote["within_limit"] is False


def test_posts_changed_or_out_of_window_are_left_out(client: TestClient, db: Session) -> None:
    farm, kitchen = producer(), buyer()
    supply = post(client, farm, supply_body())
    post(client, kitchen, demand_body())
    client.post(f"/api/v1/matching/posts/{supply['id']}/withdraw", headers=farm.headers)
    assert run_round(client, operator())["supply_posts"] == 0
    with session_scope() as session:  # an old post whose window is over
        other = post(client, producer(), supply_body())
        row = session.get_one(MarketPost, other["id"])
        row.window_from = row.window_to = rounds.local_today().replace(year=2020)
        session.commit()
    body = run_round(client, operator())
    assert body["supply_posts"] == 0 and body["demand_posts"] == 1
    assert post_row(db, supply["id"]).status == PostStatus.WITHDRAWN


def test_a_scheduled_round_clears_its_slot_once(client: TestClient, db: Session) -> None:
    post(client, producer(), supply_body())
    post(client, buyer(), demand_body())
    with session_scope() as session:
        first = rounds.run_scheduled_round(session)
    with session_scope() as session:
        second = rounds.run_scheduled_round(session)
    assert first is not None and first.trigger == "schedule" and first.proposals == 1
    assert second is None
    assert (
        rounds.schedule_slot(7200.0, 60)
        == rounds.schedule_slot(10_799.0, 60)
        != rounds.schedule_slot(10_800.0, 60)
    )


def test_only_operators_run_and_see_rounds_and_market_data(client: TestClient) -> None:
    ops = operator()
    post(client, producer(), supply_body())
    post(client, buyer(), demand_body(category="rice"))
    body = run_round(client, ops)
    for party in (producer(), buyer(), officer()):
        assert client.post("/api/v1/matching/rounds", headers=party.headers).status_code == 403
        assert client.get("/api/v1/matching/rounds", headers=party.headers).status_code == 403
        assert client.get("/api/v1/matching/market-data", headers=party.headers).status_code == 403
    listed = client.get("/api/v1/matching/rounds", headers=ops.headers).json()
    assert listed["total"] == 1 and listed["items"][0]["prices"][0]["category"] == "rice/kg"
    assert client.get(f"/api/v1/matching/rounds/{body['id']}", headers=ops.headers).json()["proposals"] == 1
    assert client.get("/api/v1/matching/rounds/999999", headers=ops.headers).status_code == 404
    rows = client.get("/api/v1/matching/market-data", headers=ops.headers).json()
    [row] = rows
    assert row["category"] == "rice" and row["quantity"] == 60 and row["week"].count("-W") == 1
    assert row["price_vnd"] == 12_000 and row["delivered_price_vnd"] > row["price_vnd"]
    by_category = client.get(
        "/api/v1/matching/market-data", params={"by": "category"}, headers=ops.headers
    ).json()
    assert by_category == [{**row, "week": None, "ward_code": None}]
    assert (
        client.get("/api/v1/matching/market-data", params={"ordered_only": True}, headers=ops.headers).json()
        == []
    )


def test_explanations_are_stored_for_every_post_left_short(client: TestClient, db: Session) -> None:
    post(client, producer(), supply_body(100, 12_000))
    post(client, buyer(), demand_body(60, 15_000))
    body = run_round(client, operator())
    rows = db.exec(select(MatchExplanation).where(MatchExplanation.round_id == body["id"])).all()
    # the seller sold 60 of 100; its 40 left have nobody else to go to
    assert [(r.quantity, r.matched, r.reason) for r in rows] == [(100, 60, "no_counterparty")]
