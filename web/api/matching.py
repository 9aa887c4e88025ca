"""Matching market (JSON API): supply and demand posts, their proposals, clearing rounds.

Producers post supply, buyers post demand; each post answers with an indicative quote from
the last round. A round (hourly, or `POST /matching/rounds` by an operator) proposes matches to
both sides; `POST /matching/proposals/{id}/accept` by both makes an order paid like a
checkout. A proposal whose post changed after the round is a 409 `stale`; someone else's post
or proposal is a 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from market.models import Role, User
from matching import posts, proposals, rounds
from matching.models import PostStatus, ProposalStatus, RoundTrigger, Side
from matching.posts import PostIn, PostUpdate
from matching.schemas import (
    ExplanationOut,
    MarketDataOut,
    PostDetailOut,
    PostOut,
    ProposalDetailOut,
    ProposalOut,
    QuoteOut,
    RoundDetailOut,
    RoundOut,
)
from web.actors import actor_of
from web.api.schemas import ErrorOut, Page
from web.deps import DB, MAX_ID, ObjectId, api_role, api_user

router = APIRouter(tags=["matching"], prefix="/matching")
Caller = Annotated[User, Depends(api_user)]
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
STALE = {409: {"model": ErrorOut, "description": "`stale`, `proposal_expired` or `proposal_closed`"}}


def _detail(session: DB, post_id: int, user: User) -> PostDetailOut:
    post = posts.get_post_for(session, user, post_id)
    explanation = rounds.explanation_for(session, post)
    return PostDetailOut(
        **PostOut.of(post).model_dump(),
        quote=QuoteOut.of(post, rounds.quote_for(session, post)),
        explanation=ExplanationOut.of(post, explanation) if explanation else None,
    )


@router.get("/posts", response_model=Page[PostOut])
def list_posts(
    user: Caller,
    session: DB,
    side: Side | None = None,
    status: PostStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[PostOut]:
    """Producers: their organisation's supply posts. Buyers: their demand posts. Operators: all."""
    rows, total = posts.list_posts_for(session, user, side=side, status=status, limit=limit, offset=offset)
    return Page[PostOut](items=[PostOut.of(p) for p in rows], total=total, limit=limit, offset=offset)


@router.post("/posts", status_code=201, response_model=PostDetailOut)
def create_post(data: PostIn, request: Request, user: Caller, session: DB) -> PostDetailOut:
    """A supply post (producers) or a demand post (buyers), with an indicative quote at the
    last round's prices. Without latitude/longitude the post is placed at the poster's address."""
    post = posts.create_post(session, user, data, actor=actor_of(request, user))
    return _detail(session, post.id or 0, user)


@router.get("/posts/{post_id}", response_model=PostDetailOut)
def get_post(post_id: ObjectId, user: Caller, session: DB) -> PostDetailOut:
    """A post, its quote, and why the last round left it short (if it did)."""
    return _detail(session, post_id, user)


@router.patch("/posts/{post_id}", response_model=PostDetailOut)
def update_post(
    post_id: ObjectId, data: PostUpdate, request: Request, user: Caller, session: DB
) -> PostDetailOut:
    """Change a post's terms: its version goes up and its live proposals become `stale`."""
    posts.update_post(session, user, post_id, data, actor=actor_of(request, user))
    return _detail(session, post_id, user)


@router.post("/posts/{post_id}/withdraw", response_model=PostDetailOut)
def withdraw_post(post_id: ObjectId, request: Request, user: Caller, session: DB) -> PostDetailOut:
    """Take a post off the market; its live proposals become `stale`."""
    posts.withdraw_post(session, user, post_id, actor=actor_of(request, user))
    return _detail(session, post_id, user)


@router.get("/proposals", response_model=Page[ProposalOut])
def list_proposals(
    user: Caller,
    session: DB,
    status: ProposalStatus | None = None,
    post_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ProposalOut]:
    """The proposals of the caller's posts (operators: all), newest first."""
    rows, total = proposals.list_proposals_for(
        session, user, status=status, post_id=post_id, limit=limit, offset=offset
    )
    return Page[ProposalOut](items=[ProposalOut.of(p) for p in rows], total=total, limit=limit, offset=offset)


@router.get("/proposals/{proposal_id}", response_model=ProposalDetailOut)
def get_proposal(proposal_id: ObjectId, user: Caller, session: DB) -> ProposalDetailOut:
    """A proposal with its value breakdown and what the caller may do."""
    return ProposalDetailOut.of_view(proposals.get_proposal_for(session, user, proposal_id))


@router.post("/proposals/{proposal_id}/accept", response_model=ProposalDetailOut, responses=STALE)
def accept_proposal(proposal_id: ObjectId, request: Request, user: Caller, session: DB) -> ProposalDetailOut:
    """Accept for the caller's side; the second acceptance makes the order (`order_id`)."""
    proposals.accept(session, user, proposal_id, actor=actor_of(request, user))
    return ProposalDetailOut.of_view(proposals.get_proposal_for(session, user, proposal_id))


@router.post("/proposals/{proposal_id}/decline", response_model=ProposalDetailOut, responses=STALE)
def decline_proposal(proposal_id: ObjectId, request: Request, user: Caller, session: DB) -> ProposalDetailOut:
    """Decline: the quantity goes back to the next round."""
    proposals.decline(session, user, proposal_id, actor=actor_of(request, user))
    return ProposalDetailOut.of_view(proposals.get_proposal_for(session, user, proposal_id))


@router.get("/rounds", response_model=Page[RoundOut])
def list_rounds(user: Operator, session: DB, limit: Limit = 50, offset: Offset = 0) -> Page[RoundOut]:
    """Clearing rounds, newest first (operators)."""
    rows, total = rounds.list_rounds(session, user, limit=limit, offset=offset)
    return Page[RoundOut](items=[RoundOut.of(r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/rounds", status_code=201, response_model=RoundDetailOut)
def run_round(request: Request, user: Operator, session: DB) -> RoundDetailOut:
    """Run a clearing round now on the open posts (operators)."""
    record = rounds.run_round(session, trigger=RoundTrigger.OPERATOR, by=user, actor=actor_of(request, user))
    if record is None:  # pragma: no cover - only scheduled rounds have a slot
        raise RuntimeError("an operator's round has no slot")
    return RoundDetailOut.of_summary(record, rounds.round_summary(session, record))


@router.get("/rounds/{round_id}", response_model=RoundDetailOut)
def get_round(round_id: ObjectId, user: Operator, session: DB) -> RoundDetailOut:
    record = rounds.get_round(session, user, round_id)
    return RoundDetailOut.of_summary(record, rounds.round_summary(session, record))


@router.get("/market-data", response_model=list[MarketDataOut])
def market_data(
    user: Operator,
    session: DB,
    by: Annotated[list[Literal["week", "category", "ward"]] | None, Query()] = None,
    since: date | None = None,
    ordered_only: bool = False,
) -> list[MarketDataOut]:
    """Cleared volumes and prices by week, category and the supply's ward (operators)."""
    groups = tuple(by) if by else rounds.GROUPS
    rows = rounds.market_data(session, by=groups, since=since, ordered_only=ordered_only)
    return [MarketDataOut.of(row) for row in rows]
