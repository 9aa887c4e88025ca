"""Proposal → acceptance → order, end to end: both sides accept, the order is made at the
proposed price with delivery at the transport cost and paid by a (simulated) bank transfer;
declines and timeouts return the quantity to the next round; a proposal whose post changed is a
409 ``stale``; racing acceptances make one order; who may see and answer a proposal."""

from __future__ import annotations

import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import audit
from choso.db import new_session, session_scope, utcnow
from market.models import Order, OrderLine, OrderStatus, Product, StockState, User
from matching import proposals as proposal_cases
from matching.models import MatchProposal, PostStatus, ProposalStatus
from payments.models import PaymentRequest, RequestStatus
from tests import factories
from tests.matching.market_support import (
    act,
    buyer,
    demand_body,
    notified,
    officer,
    operator,
    post,
    post_row,
    producer,
    proposal_row,
    proposals_of,
    run_round,
    supply_body,
)
from tests.shop_helpers import ledger_problems, pay, platform_account, stock_of


def _one_proposal(client: TestClient, **demand: object) -> tuple:
    farm, kitchen = producer(), buyer()
    supply = post(client, farm, supply_body(100, 12_000))
    need = post(client, kitchen, demand_body(60, 15_000, **demand))
    run_round(client, operator())
    [proposal] = proposals_of(client, farm)
    return farm, kitchen, supply, need, proposal


def test_both_acceptances_make_an_order_paid_like_a_checkout(client: TestClient, db: Session) -> None:
    account = platform_account()
    farm, kitchen, supply, need, proposal = _one_proposal(client)
    detail = client.get(f"/api/v1/matching/proposals/{proposal['id']}", headers=kitchen.headers).json()
    breakdown = detail["breakdown"]
    assert detail["your_side"] == "buyer" and detail["actions"] == ["accept", "decline"]
    assert breakdown["seller_minimum_vnd"] == 12_000 and breakdown["buyer_maximum_vnd"] == 15_000
    assert breakdown["delivered_price_vnd"] == breakdown["price_vnd"] + breakdown["transport_vnd"]
    assert breakdown["value_vnd"] == 15_000 - 12_000 - breakdown["transport_vnd"]
    assert breakdown["seller_gain_vnd"] + breakdown["buyer_gain_vnd"] == breakdown["value_vnd"]

    seller = act(client, farm, proposal["id"], "accept")
    assert seller.status_code == 200 and seller.json()["status"] == "seller_accepted"
    assert seller.json()["order_id"] is None and seller.json()["actions"] == ["decline"]
    both = act(client, kitchen, proposal["id"], "accept")
    assert both.status_code == 200, both.text
    body = both.json()
    assert body["status"] == "ordered" and body["order_id"]

    order = db.get_one(Order, body["order_id"])
    quantity, price, transport = proposal["quantity"], proposal["price_vnd"], proposal["transport_vnd"]
    assert (order.buyer_id, order.producer_id) == (kitchen.user.id, farm.organisation_id)
    assert order.subtotal_vnd == quantity * price and order.delivery_fee_vnd == quantity * transport
    assert order.delivery_method == "delivery" and order.status == OrderStatus.PENDING_PAYMENT
    assert order.stock_state == StockState.RELEASED  # an unlinked post holds no catalogue stock
    [line] = db.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all()
    assert (line.quantity, line.unit_price_vnd, line.unit) == (quantity, price, "kg")
    listing = db.get_one(Product, line.product_id)
    assert not listing.is_active and listing.stock == 0 and listing.producer_id == farm.organisation_id
    request = db.get_one(PaymentRequest, order.payment_request_id)
    assert request.amount_vnd == order.total_vnd and request.cause_type == "order_checkout"
    assert request.payer_user_id == kitchen.user.id
    assert post_row(db, supply["id"]).filled_quantity == quantity
    assert post_row(db, need["id"]).status == PostStatus.FILLED  # 60 of 60
    assert post_row(db, supply["id"]).committed_quantity == 0

    # the buyer sees the order in the normal flow and pays by bank transfer
    mine = client.get(f"/api/v1/orders/{order.id}", headers=kitchen.headers)
    assert mine.status_code == 200 and mine.json()["total_vnd"] == order.total_vnd
    pay(client, account, {"amount_vnd": request.amount_vnd, "reference_code": request.reference_code})
    db.rollback()
    assert db.get_one(Order, order.id, populate_existing=True).status == OrderStatus.PAID
    assert db.get_one(PaymentRequest, request.id, populate_existing=True).status == RequestStatus.PAID
    assert ledger_problems() == []
    assert notified(db, kitchen.user.id, "match_ordered") and notified(db, farm.user.id, "order_placed")
    # accepting again answers the same, and no second order appears
    again = act(client, farm, proposal["id"], "accept")
    assert again.status_code == 200 and again.json()["order_id"] == order.id
    assert len(db.exec(select(Order)).all()) == 1


def test_a_linked_listing_sells_from_its_stock(client: TestClient, db: Session) -> None:
    platform_account()
    farm, kitchen = producer(), buyer()
    listing = factories.product(farm.organisation_id or 0, stock=50, category="rice")
    post(client, farm, supply_body(100, 12_000, product_id=listing.id))
    post(client, kitchen, demand_body(60, 15_000))
    run_round(client, operator())
    [proposal] = proposals_of(client, farm)
    assert act(client, kitchen, proposal["id"], "accept").status_code == 200
    refused = act(client, farm, proposal["id"], "accept")  # 60 wanted, 50 in stock
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "insufficient_stock"
    assert proposal_row(db, proposal["id"]).status == ProposalStatus.BUYER_ACCEPTED
    assert stock_of(db, listing) == 50
    with session_scope() as session:
        session.get_one(Product, listing.id).stock = 80
        session.commit()
    made = act(client, farm, proposal["id"], "accept").json()
    assert made["status"] == "ordered" and stock_of(db, listing) == 20
    assert db.get_one(Order, made["order_id"]).stock_state == StockState.RESERVED


def test_without_the_platforms_bank_account_the_second_acceptance_is_refused(
    client: TestClient, db: Session
) -> None:
    farm, kitchen, _supply, _need, proposal = _one_proposal(client)  # no platform account to pay into
    assert act(client, farm, proposal["id"], "accept").status_code == 200
    refused = act(client, kitchen, proposal["id"], "accept")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "checkout_unavailable"
    row = proposal_row(db, proposal["id"])
    assert row.status == ProposalStatus.SELLER_ACCEPTED and row.order_id is None
    assert db.exec(select(Order)).all() == []


def test_a_decline_returns_the_quantity_to_the_next_round(client: TestClient, db: Session) -> None:
    farm, kitchen, supply, need, proposal = _one_proposal(client)
    assert act(client, farm, proposal["id"], "accept").status_code == 200
    declined = act(client, kitchen, proposal["id"], "decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert proposal_row(db, proposal["id"]).declined_by == "buyer"
    assert post_row(db, supply["id"]).committed_quantity == 0 == post_row(db, need["id"]).committed_quantity
    assert act(client, farm, proposal["id"], "accept").json()["error"]["code"] == "proposal_closed"
    assert act(client, farm, proposal["id"], "decline").status_code == 200  # declined already: same answer
    assert notified(db, farm.user.id, "match_declined")
    assert run_round(client, operator())["matched_quantity"] == 60


def test_an_unanswered_proposal_expires_and_its_quantity_returns(client: TestClient, db: Session) -> None:
    farm, kitchen, supply, _need, proposal = _one_proposal(client)
    assert act(client, farm, proposal["id"], "accept").status_code == 200
    with session_scope() as session:
        assert proposal_cases.expire_due(session) == 0  # not due yet
        expired = proposal_cases.expire_due(session, now=utcnow() + timedelta(hours=25))
    assert expired == 1 and proposal_row(db, proposal["id"]).status == ProposalStatus.EXPIRED
    assert post_row(db, supply["id"]).free_quantity == 100
    late = act(client, kitchen, proposal["id"], "accept")
    assert late.status_code == 409 and late.json()["error"]["code"] == "proposal_expired"
    assert run_round(client, operator())["proposals"] == 1


def test_accepting_after_the_deadline_expires_it_there_and_then(client: TestClient, db: Session) -> None:
    farm, _kitchen, supply, _need, proposal = _one_proposal(client)
    with session_scope() as session:
        session.get_one(MatchProposal, proposal["id"]).expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    late = act(client, farm, proposal["id"], "accept")
    assert late.status_code == 409 and late.json()["error"]["code"] == "proposal_expired"
    assert post_row(db, supply["id"]).committed_quantity == 0


def test_a_proposal_whose_post_changed_is_stale(client: TestClient, db: Session) -> None:
    farm, kitchen, supply, need, proposal = _one_proposal(client)
    assert act(client, farm, proposal["id"], "accept").status_code == 200
    changed = client.patch(
        f"/api/v1/matching/posts/{supply['id']}", json={"limit_price_vnd": 13_000}, headers=farm.headers
    )
    assert changed.status_code == 200 and changed.json()["committed_quantity"] == 0
    stale = act(client, kitchen, proposal["id"], "accept")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale"
    assert proposal_row(db, proposal["id"]).status == ProposalStatus.STALE
    assert post_row(db, need["id"]).committed_quantity == 0
    # a withdrawn post: the same
    second = run_round(client, operator())
    assert second["proposals"] == 1
    [fresh] = [p for p in proposals_of(client, kitchen) if p["status"] == "proposed"]
    client.post(f"/api/v1/matching/posts/{need['id']}/withdraw", headers=kitchen.headers)
    stale = act(client, farm, fresh["id"], "accept")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale"


def test_a_version_changed_under_a_live_proposal_is_caught_at_acceptance(
    client: TestClient, db: Session
) -> None:
    _farm, kitchen, supply, _need, proposal = _one_proposal(client)
    with session_scope() as session:  # a change that did not go through the use case
        row = session.get_one(MatchProposal, proposal["id"])
        row.supply_version = 0
        session.commit()
    stale = act(client, kitchen, proposal["id"], "accept")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale"
    assert post_row(db, supply["id"]).committed_quantity == 0


def _accept_in_thread(user_id: int, proposal_id: int, outcomes: list[str], start: threading.Barrier) -> None:
    session = new_session()
    try:
        user = session.get_one(User, user_id)
        session.commit()
        start.wait()
        proposal = proposal_cases.accept(session, user, proposal_id, actor=audit.Actor(user_id=user_id))
        outcomes.append(str(proposal.status))
    except Exception as exc:
        outcomes.append(type(exc).__name__)
    finally:
        session.close()


def test_racing_acceptances_make_one_order(client: TestClient, db: Session) -> None:
    platform_account()
    farm, kitchen, supply, _need, proposal = _one_proposal(client)
    outcomes: list[str] = []
    callers = [farm.user.id, kitchen.user.id, farm.user.id, kitchen.user.id]
    start = threading.Barrier(len(callers))
    threads = [
        threading.Thread(target=_accept_in_thread, args=(user_id, proposal["id"], outcomes, start))
        for user_id in callers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("ordered") >= 1 and all(
        o in ("ordered", "seller_accepted", "buyer_accepted") for o in outcomes
    ), outcomes
    db.rollback()
    assert len(db.exec(select(Order)).all()) == 1
    assert len(db.exec(select(PaymentRequest)).all()) == 1
    row = proposal_row(db, proposal["id"])
    assert row.status == ProposalStatus.ORDERED and row.order_id is not None
    assert (
        post_row(db, supply["id"]).filled_quantity == 60
        and post_row(db, supply["id"]).committed_quantity == 0
    )


def test_an_order_closed_unpaid_gives_the_quantity_back(client: TestClient, db: Session) -> None:
    platform_account()
    farm, kitchen, supply, need, proposal = _one_proposal(client)
    act(client, farm, proposal["id"], "accept")
    order_id = act(client, kitchen, proposal["id"], "accept").json()["order_id"]
    cancelled = client.post(f"/api/v1/orders/{order_id}/cancel", json={}, headers=kitchen.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert post_row(db, need["id"]).status == PostStatus.FILLED
    with session_scope() as session:
        assert proposal_cases.expire_due(session) == 1
        assert proposal_cases.expire_due(session) == 0  # once
    assert post_row(db, need["id"]).status == PostStatus.OPEN
    assert post_row(db, supply["id"]).filled_quantity == 0
    assert run_round(client, operator())["matched_quantity"] == 60


def test_who_may_see_and_answer_a_proposal(client: TestClient) -> None:
    farm, kitchen, _supply, _need, proposal = _one_proposal(client)
    url = f"/api/v1/matching/proposals/{proposal['id']}"
    for stranger in (producer(), buyer(), officer()):
        assert client.get(url, headers=stranger.headers).status_code == 404
        assert act(client, stranger, proposal["id"], "accept").status_code == 404
        assert act(client, stranger, proposal["id"], "decline").status_code == 404
    assert proposals_of(client, producer()) == [] and proposals_of(client, buyer()) == []
    assert client.get("/api/v1/matching/proposals", headers=officer().headers).status_code == 403
    ops = operator()
    seen = client.get(url, headers=ops.headers).json()
    assert seen["your_side"] is None and seen["actions"] == []
    assert act(client, ops, proposal["id"], "accept").status_code == 403
    assert client.get(url, headers=farm.headers).json()["your_side"] == "seller"
    assert client.get("/api/v1/matching/proposals/999999", headers=farm.headers).status_code == 404
    assert [p["id"] for p in proposals_of(client, kitchen)] == [proposal["id"]]
