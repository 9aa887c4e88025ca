"""Proposals: each side accepts or declines; both acceptances make the order.

Rules:

* the seller's side is any producer of the supply post's organisation, the buyer's side the
  demand post's owner; operators see every proposal and act on none; anyone else gets a 404;
* every move locks both posts, then the proposal (see :mod:`matching.locking`), and reads
  them again under the lock, so concurrent moves happen one after the other: of two
  acceptances racing, one makes the order and the other finds it made (the same answer);
* a proposal made on a version of a post that is no longer the post's (changed, withdrawn)
  is ``stale``: accepting it is a 409 ``stale`` and its quantity goes back; past
  ``expires_at`` it is ``expired`` (409 ``proposal_expired``), the same;
* the second acceptance makes, in the same transaction, the order: the agreed price per unit,
  delivery to the buyer for the transport cost, ONE payment request through the normal
  checkout path (market.checkout.order_from_match); the quantity moves from committed to
  filled. ``accepted`` is not a resting state: a proposal both sides accepted is ``ordered``.
  If the order cannot be made (the linked listing lacks stock, payments are not open), the
  acceptance is refused and nothing changes;
* a decline, an expiry (periodic job) or an order that closes without being fulfilled
  (expired unpaid, cancelled, rejected) gives the quantity back to the next round.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, func, or_, select, update

from choso import audit
from choso.db import utcnow
from choso.errors import Conflict, NotFound, PermissionDenied
from choso.i18n import N_, format_vnd
from market import checkout
from market.checkout import Address
from market.models import Order, OrderStatus, Organisation, Product, Role, User
from matching import locking, posts
from matching.models import LIVE_STATUSES, MarketPost, MatchProposal, ProposalStatus, Side

S = ProposalStatus
# Orders that close without the goods changing hands: their quantity goes back to the posts.
UNFULFILLED = (OrderStatus.EXPIRED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


class Party(StrEnum):
    SELLER = "seller"
    BUYER = "buyer"


class Stale(Conflict):
    code = "stale"


class ProposalExpired(Conflict):
    code = "proposal_expired"


class ProposalClosed(Conflict):
    code = "proposal_closed"


# --- who may see and act ------------------------------------------------------------------------


def party_of(user: User, supply: MarketPost, demand: MarketPost) -> Party | None:
    if posts.is_owner(user, supply):
        return Party.SELLER
    if posts.is_owner(user, demand):
        return Party.BUYER
    return None


@dataclass(frozen=True)
class ProposalView:
    proposal: MatchProposal
    supply: MarketPost
    demand: MarketPost
    seller_name: str
    buyer_name: str
    party: Party | None
    actions: list[str]


def _posts_of(session: Session, proposal: MatchProposal) -> tuple[MarketPost, MarketPost]:
    supply = session.get_one(MarketPost, proposal.supply_post_id, populate_existing=True)
    demand = session.get_one(MarketPost, proposal.demand_post_id, populate_existing=True)
    return supply, demand


def get_proposal_for(session: Session, user: User, proposal_id: int) -> ProposalView:
    """The proposal if ``user`` is one of its sides or an operator; otherwise a 404."""
    proposal = session.get(MatchProposal, proposal_id, populate_existing=True)
    if proposal is None:
        raise NotFound(N_("No such proposal."))
    supply, demand = _posts_of(session, proposal)
    party = party_of(user, supply, demand)
    if party is None and user.role != Role.OPERATOR:
        raise NotFound(N_("No such proposal."))
    organisation = session.get(Organisation, supply.organisation_id) if supply.organisation_id else None
    buyer = session.get_one(User, demand.owner_user_id)
    return ProposalView(
        proposal=proposal,
        supply=supply,
        demand=demand,
        seller_name=organisation.name if organisation else "",
        buyer_name=buyer.full_name,
        party=party,
        actions=actions_for(proposal, party),
    )


def actions_for(proposal: MatchProposal, party: Party | None) -> list[str]:
    """What ``party`` may still do with the proposal (pure; for buttons)."""
    if party is None or proposal.status not in LIVE_STATUSES:
        return []
    mine = proposal.seller_accepted_at if party == Party.SELLER else proposal.buyer_accepted_at
    return ["decline"] if mine is not None else ["accept", "decline"]


def list_proposals_for(
    session: Session,
    user: User,
    *,
    status: ProposalStatus | None = None,
    post_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[MatchProposal], int]:
    """The caller's proposals (a producer: its organisation's supply; a buyer: its demand);
    operators: all. Newest first."""
    conditions: list[Any] = []
    if user.role == Role.PRODUCER and user.organisation_id is not None:
        mine = select(MarketPost.id).where(
            MarketPost.side == Side.SUPPLY, MarketPost.organisation_id == user.organisation_id
        )
        conditions.append(col(MatchProposal.supply_post_id).in_(mine))
    elif user.role == Role.BUYER:
        mine = select(MarketPost.id).where(
            MarketPost.side == Side.DEMAND, MarketPost.owner_user_id == user.id
        )
        conditions.append(col(MatchProposal.demand_post_id).in_(mine))
    elif user.role != Role.OPERATOR:
        raise PermissionDenied(N_("Your role does not allow this."))
    if status is not None:
        conditions.append(MatchProposal.status == status)
    if post_id is not None:
        conditions.append(
            or_(MatchProposal.supply_post_id == post_id, MatchProposal.demand_post_id == post_id)
        )
    total = session.exec(select(func.count()).select_from(MatchProposal).where(*conditions)).one()
    rows = session.exec(
        select(MatchProposal)
        .where(*conditions)
        .order_by(col(MatchProposal.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


# --- accepting and declining --------------------------------------------------------------------


def _locked(
    session: Session, user: User, proposal_id: int
) -> tuple[MatchProposal, MarketPost, MarketPost, Party]:
    """The proposal and its posts, locked in the lock order, with the caller's side."""
    view = get_proposal_for(session, user, proposal_id)
    if view.party is None:
        raise PermissionDenied(N_("Only the two sides of a proposal can answer it."))
    found = locking.lock_posts(session, [view.supply.id or 0, view.demand.id or 0])
    [proposal] = locking.lock_proposals(session, [proposal_id])
    return proposal, found[view.supply.id or 0], found[view.demand.id or 0], view.party


def _refuse_closed(session: Session, proposal: MatchProposal) -> Conflict:
    session.rollback()
    if proposal.status == S.STALE:
        return Stale(N_("A post of this proposal changed after the round: it no longer stands."))
    if proposal.status == S.EXPIRED:
        return ProposalExpired(N_("This proposal expired."))
    return ProposalClosed(N_("This proposal was declined."))


def _still_stands(session: Session, proposal: MatchProposal, supply: MarketPost, demand: MarketPost) -> None:
    """Close a live proposal that can no longer be accepted (and commit that), then refuse."""
    changed = supply.version != proposal.supply_version or demand.version != proposal.demand_version
    if changed or proposal.expires_at <= utcnow():
        locking.close(session, proposal, S.STALE if changed else S.EXPIRED)
        session.commit()
        raise _refuse_closed(session, proposal)


def accept(session: Session, user: User, proposal_id: int, *, actor: audit.Actor) -> MatchProposal:
    """The caller's side accepts; the second acceptance makes the order (see the module)."""
    proposal, supply, demand, party = _locked(session, user, proposal_id)
    mine = "seller_accepted_at" if party == Party.SELLER else "buyer_accepted_at"
    if proposal.status == S.ORDERED or (proposal.status in LIVE_STATUSES and getattr(proposal, mine)):
        session.rollback()
        return proposal  # accepted already (a repeated click, or the race's loser): same answer
    if proposal.status not in LIVE_STATUSES:
        raise _refuse_closed(session, proposal)
    _still_stands(session, proposal, supply, demand)
    now = utcnow()
    both = (proposal.buyer_accepted_at if party == Party.SELLER else proposal.seller_accepted_at) is not None
    status = S.ORDERED if both else (S.SELLER_ACCEPTED if party == Party.SELLER else S.BUYER_ACCEPTED)
    _move(session, proposal, status, **{mine: now})
    if both:
        _order(session, proposal, supply, demand)
    audit.record(
        session,
        actor,
        action=f"match_proposal.accept_{party.value}",
        object_type="match_proposal",
        object_id=proposal.id or 0,
        after={"status": str(proposal.status), "order": proposal.order_id},
    )
    session.commit()
    return proposal


def decline(session: Session, user: User, proposal_id: int, *, actor: audit.Actor) -> MatchProposal:
    """Either side declines a live proposal (also after accepting it): the quantity goes back."""
    proposal, _supply, _demand, party = _locked(session, user, proposal_id)
    if proposal.status == S.DECLINED:
        session.rollback()
        return proposal
    if proposal.status not in LIVE_STATUSES:
        if proposal.status == S.ORDERED:
            session.rollback()
            raise ProposalClosed(N_("Both sides accepted: the order is made. Cancel the order instead."))
        raise _refuse_closed(session, proposal)
    locking.close(session, proposal, S.DECLINED, declined_by=party.value)
    audit.record(
        session,
        actor,
        action=f"match_proposal.decline_{party.value}",
        object_type="match_proposal",
        object_id=proposal.id or 0,
        after={"status": str(proposal.status)},
    )
    session.commit()
    return proposal


def _move(session: Session, proposal: MatchProposal, status: ProposalStatus, **values: Any) -> None:
    """One conditional UPDATE (the proposal is locked; this also guards SQLite's retries)."""
    changed = session.exec(
        update(MatchProposal)  # type: ignore[call-overload]
        .where(col(MatchProposal.id) == proposal.id, col(MatchProposal.status) == proposal.status)
        .values(status=status, **values),
        execution_options=locking.NO_SYNC,
    ).rowcount
    if changed != 1:  # pragma: no cover - the row lock makes this unreachable
        session.rollback()
        raise ProposalClosed(N_("This proposal changed meanwhile: reload it."))
    session.flush()
    session.refresh(proposal)


# --- the order ----------------------------------------------------------------------------------


def _listing_for(session: Session, supply: MarketPost) -> tuple[Product, bool]:
    """The catalogue product the order line names, and whether its stock is involved."""
    if supply.product_id is not None:
        return session.get_one(Product, supply.product_id, populate_existing=True), True
    if supply.sales_product_id is not None:
        return session.get_one(Product, supply.sales_product_id), False
    listing = Product(
        producer_id=supply.organisation_id or 0,
        name=supply.title,
        description="",
        category=supply.category,
        unit=supply.unit,
        price_vnd=supply.limit_price_vnd,
        stock=0,
        is_active=False,  # never sold from the catalogue: only matched orders name it
    )
    session.add(listing)
    session.flush()
    session.exec(
        update(MarketPost).where(col(MarketPost.id) == supply.id).values(sales_product_id=listing.id),  # type: ignore[call-overload]
        execution_options=locking.NO_SYNC,
    )
    return listing, False


def _delivery_address(buyer: User, demand: MarketPost) -> Address | None:
    ward = demand.ward_code or buyer.ward_code
    street = (buyer.street or "").strip()
    return Address(ward_code=ward, street=street) if ward and len(street) >= 2 else None


def _order(session: Session, proposal: MatchProposal, supply: MarketPost, demand: MarketPost) -> None:
    buyer = session.get_one(User, demand.owner_user_id)
    listing, reserve = _listing_for(session, supply)
    record = checkout.order_from_match(
        session,
        buyer,
        proposal_id=proposal.id or 0,
        producer=session.get_one(Organisation, supply.organisation_id),
        listing=listing,
        quantity=proposal.quantity,
        unit_price_vnd=proposal.price_vnd,
        delivery_fee_vnd=proposal.transport_vnd * proposal.quantity,
        address=_delivery_address(buyer, demand),
        reserve_stock=reserve,
    )
    order = session.exec(select(Order).where(Order.checkout_id == record.id)).one()
    session.exec(
        update(MatchProposal).where(col(MatchProposal.id) == proposal.id).values(order_id=order.id),  # type: ignore[call-overload]
        execution_options=locking.NO_SYNC,
    )
    locking.move_to_filled(session, proposal)
    session.flush()
    session.refresh(proposal)
    locking.notify_both(
        session, proposal, "match_ordered", {"order": order.id, "amount": format_vnd(order.total_vnd)}
    )


# --- the periodic job ---------------------------------------------------------------------------


def expire_due(session: Session, *, now: datetime | None = None, batch: int = 200) -> int:
    """Expire live proposals past their deadline, one transaction each (a proposal accepted
    meanwhile is left alone), and give back the quantity of orders that closed unfulfilled."""
    cutoff = now or utcnow()
    due = session.exec(
        select(MatchProposal.id, MatchProposal.supply_post_id, MatchProposal.demand_post_id)
        .where(col(MatchProposal.status).in_(LIVE_STATUSES), col(MatchProposal.expires_at) <= cutoff)
        .order_by(col(MatchProposal.id))
        .limit(batch)
    ).all()
    session.commit()
    expired = 0
    for proposal_id, supply_id, demand_id in due:
        locking.lock_posts(session, [supply_id, demand_id])
        [proposal] = locking.lock_proposals(session, [proposal_id or 0])
        if proposal.expires_at <= cutoff and locking.close(session, proposal, S.EXPIRED):
            expired += 1
        session.commit()
    return expired + return_unfulfilled(session, batch=batch)


def return_unfulfilled(session: Session, *, batch: int = 200) -> int:
    """Ordered proposals whose order closed without the goods changing hands: their quantity
    goes back to both posts, once."""
    due = session.exec(
        select(MatchProposal.id, MatchProposal.supply_post_id, MatchProposal.demand_post_id)
        .join(Order, col(Order.id) == col(MatchProposal.order_id))
        .where(
            MatchProposal.status == S.ORDERED,
            col(MatchProposal.returned_at).is_(None),
            col(Order.status).in_(UNFULFILLED),
        )
        .order_by(col(MatchProposal.id))
        .limit(batch)
    ).all()
    session.commit()
    for proposal_id, supply_id, demand_id in due:
        locking.lock_posts(session, [supply_id, demand_id])
        [proposal] = locking.lock_proposals(session, [proposal_id or 0])
        locking.give_back_filled(session, proposal)
        session.commit()
    return len(due)


# --- the value breakdown ------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakdown:
    """Where a proposal's gain from trade goes, per unit and in total (pure)."""

    quantity: int
    seller_minimum_vnd: int
    buyer_maximum_vnd: int
    distance_km: float
    transport_vnd: int
    price_vnd: int
    delivered_price_vnd: int
    value_vnd: int  # buyer's maximum − seller's minimum − transport, per unit
    seller_gain_vnd: int  # price − seller's minimum, per unit
    buyer_gain_vnd: int  # buyer's maximum − delivered price, per unit
    goods_total_vnd: int
    transport_total_vnd: int
    buyer_total_vnd: int
    welfare_vnd: int


def breakdown(proposal: MatchProposal) -> Breakdown:
    q = proposal.quantity
    return Breakdown(
        quantity=q,
        seller_minimum_vnd=proposal.supply_limit_vnd,
        buyer_maximum_vnd=proposal.demand_limit_vnd,
        distance_km=proposal.distance_km,
        transport_vnd=proposal.transport_vnd,
        price_vnd=proposal.price_vnd,
        delivered_price_vnd=proposal.delivered_price_vnd,
        value_vnd=proposal.value_vnd,
        seller_gain_vnd=proposal.price_vnd - proposal.supply_limit_vnd,
        buyer_gain_vnd=proposal.demand_limit_vnd - proposal.delivered_price_vnd,
        goods_total_vnd=q * proposal.price_vnd,
        transport_total_vnd=q * proposal.transport_vnd,
        buyer_total_vnd=q * proposal.delivered_price_vnd,
        welfare_vnd=q * proposal.value_vnd,
    )
