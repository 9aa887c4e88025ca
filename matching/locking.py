"""Locks and quantity moves of the matching market, in one place and one order.

Lock order (before the rest of the code base's: product → order → payment request → ledger):
**market posts, lowest id first, then proposals, lowest id first**. Every use case that touches
a proposal locks both its posts first; one that changes a post locks it together with the
posts of its live proposals, all at once, so no two use cases wait on each other in a circle.
On SQLite the whole database is locked at BEGIN IMMEDIATE already.

Quantities move only here, on locked rows: a live proposal holds ``quantity`` in both posts'
``committed_quantity``; closing it (declined, expired, stale) gives it back; ordering it moves
it from committed to filled. Everything flushes; the calling use case commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlmodel import Session, col, or_, select, update

from choso.db import lock_rows, utcnow
from choso.jobs import enqueue_after_commit
from matching.models import LIVE_STATUSES, MarketPost, MatchProposal, PostStatus, ProposalStatus

RETRIES = 5
# Our UPDATEs are not evaluated against every object the session holds (SQLAlchemy's default,
# which costs a scan of the identity map per statement): what is read again is refreshed.
NO_SYNC = {"synchronize_session": False}


def lock_posts(session: Session, post_ids: Iterable[int]) -> dict[int, MarketPost]:
    """Lock the posts (lowest id first) and return them as they are now."""
    ids = sorted(set(post_ids))
    lock_rows(session, MarketPost, ids)
    rows = session.exec(
        select(MarketPost).where(col(MarketPost.id).in_(ids)).execution_options(populate_existing=True)
    )
    return {post.id or 0: post for post in rows}


def lock_proposals(session: Session, proposal_ids: Iterable[int]) -> list[MatchProposal]:
    ids = sorted(set(proposal_ids))
    lock_rows(session, MatchProposal, ids)
    rows = session.exec(
        select(MatchProposal)
        .where(col(MatchProposal.id).in_(ids))
        .order_by(col(MatchProposal.id))
        .execution_options(populate_existing=True)
    )
    return list(rows)


def live_proposals_of(session: Session, post_id: int) -> list[MatchProposal]:
    return list(
        session.exec(
            select(MatchProposal)
            .where(
                or_(MatchProposal.supply_post_id == post_id, MatchProposal.demand_post_id == post_id),
                col(MatchProposal.status).in_(LIVE_STATUSES),
            )
            .order_by(col(MatchProposal.id))
            .execution_options(populate_existing=True)
        )
    )


def _partners(proposals: Sequence[MatchProposal]) -> set[int]:
    return {p.supply_post_id for p in proposals} | {p.demand_post_id for p in proposals}


def lock_post_with_partners(session: Session, post_id: int) -> tuple[MarketPost | None, list[MatchProposal]]:
    """Lock a post, the posts of its live proposals and those proposals, in the lock order.

    The partners are read first without a lock; if a round added a proposal with a new partner
    before the locks were taken, start again (rounds lock the posts they propose on)."""
    for _ in range(RETRIES):
        wanted = {post_id} | _partners(live_proposals_of(session, post_id))
        posts = lock_posts(session, wanted)
        live = live_proposals_of(session, post_id)
        if _partners(live) <= wanted:
            locked = lock_proposals(session, [p.id or 0 for p in live])
            return posts.get(post_id), [p for p in locked if p.status in LIVE_STATUSES]
        session.rollback()
    raise RuntimeError(f"the proposals of post {post_id} kept changing")  # pragma: no cover


def _add(session: Session, post_id: int, *, committed: int = 0, filled: int = 0) -> None:
    values: dict[str, Any] = {"updated_at": utcnow()}
    if committed:
        values["committed_quantity"] = col(MarketPost.committed_quantity) + committed
    if filled:
        values["filled_quantity"] = col(MarketPost.filled_quantity) + filled
    session.exec(
        update(MarketPost).where(col(MarketPost.id) == post_id).values(**values), execution_options=NO_SYNC
    )  # type: ignore[call-overload]


def commit_quantities(session: Session, proposals: Sequence[MatchProposal]) -> None:
    """New proposals hold their quantities in their posts (one UPDATE per post, in id order)."""
    held: dict[int, int] = defaultdict(int)
    for proposal in proposals:
        held[proposal.supply_post_id] += proposal.quantity
        held[proposal.demand_post_id] += proposal.quantity
    for post_id in sorted(held):
        _add(session, post_id, committed=held[post_id])


def close(
    session: Session, proposal: MatchProposal, status: ProposalStatus, *, declined_by: str | None = None
) -> bool:
    """Close a live, locked proposal (declined, expired, stale) and give its quantity back to
    both posts; False if it was not live. Notifies both sides of a decline or an expiry."""
    if proposal.status not in LIVE_STATUSES:
        return False
    changed = session.exec(
        update(MatchProposal)  # type: ignore[call-overload]
        .where(col(MatchProposal.id) == proposal.id, col(MatchProposal.status).in_(LIVE_STATUSES))
        .values(status=status, closed_at=utcnow(), declined_by=declined_by),
        execution_options=NO_SYNC,
    ).rowcount
    if changed != 1:
        return False
    _add(session, proposal.supply_post_id, committed=-proposal.quantity)
    _add(session, proposal.demand_post_id, committed=-proposal.quantity)
    session.flush()
    session.refresh(proposal)
    if status in (ProposalStatus.DECLINED, ProposalStatus.EXPIRED):
        kind = "match_declined" if status == ProposalStatus.DECLINED else "match_expired"
        notify_both(session, proposal, kind)
    return True


def move_to_filled(session: Session, proposal: MatchProposal) -> None:
    """The proposal became an order: its quantity is sold (a post sold out is ``filled``)."""
    for post_id in (proposal.supply_post_id, proposal.demand_post_id):
        _add(session, post_id, committed=-proposal.quantity, filled=proposal.quantity)
        session.exec(
            update(MarketPost)  # type: ignore[call-overload]
            .where(
                col(MarketPost.id) == post_id,
                col(MarketPost.status) == PostStatus.OPEN,
                col(MarketPost.filled_quantity) >= col(MarketPost.quantity),
            )
            .values(status=PostStatus.FILLED),
            execution_options=NO_SYNC,
        )


def give_back_filled(session: Session, proposal: MatchProposal) -> None:
    """An ordered proposal's order closed unpaid, or was cancelled or rejected: its quantity goes
    back to both posts (a filled post opens again), once (``returned_at``)."""
    marked = session.exec(
        update(MatchProposal)  # type: ignore[call-overload]
        .where(col(MatchProposal.id) == proposal.id, col(MatchProposal.returned_at).is_(None))
        .values(returned_at=utcnow()),
        execution_options=NO_SYNC,
    ).rowcount
    if marked != 1:
        return
    for post_id in (proposal.supply_post_id, proposal.demand_post_id):
        _add(session, post_id, filled=-proposal.quantity)
        session.exec(
            update(MarketPost)  # type: ignore[call-overload]
            .where(col(MarketPost.id) == post_id, col(MarketPost.status) == PostStatus.FILLED)
            .values(status=PostStatus.OPEN),
            execution_options=NO_SYNC,
        )
    session.flush()


# --- notifications to the two sides of a proposal (jobs through the outbox) ---------------------


def notify_both(
    session: Session, proposal: MatchProposal, kind: str, extra: dict[str, Any] | None = None
) -> None:
    supply = session.get_one(MarketPost, proposal.supply_post_id)
    demand = session.get_one(MarketPost, proposal.demand_post_id)
    params = {"proposal": proposal.id, "title": demand.title, **(extra or {})}
    key = f"match:{proposal.id}:{kind}"
    if supply.organisation_id is not None:
        enqueue_after_commit(
            session,
            "market.notify_organisation",
            organisation_id=supply.organisation_id,
            kind=kind,
            params={**params, "title": supply.title},
            dedupe_key=f"{key}:seller",
        )
    enqueue_after_commit(
        session,
        "market.deliver_notification",
        user_id=demand.owner_user_id,
        kind=kind,
        params=params,
        dedupe_key=f"{key}:buyer",
    )
