"""Tables of the matching market: supply and demand posts, clearing rounds, their proposals and
their explanations.

Rules kept by the tables themselves:

* a post's quantity is split three ways: ``committed_quantity`` (in live proposals),
  ``filled_quantity`` (in proposals that became orders) and the rest, which the next round may
  clear; a CHECK keeps ``committed + filled ≤ quantity``;
* ``version`` is bumped by every change of a post: a proposal remembers the versions it was
  made on, so accepting it after either post changed fails cleanly (``stale``);
* a scheduled round has a ``slot`` (UNIQUE), so a redelivered job clears the slot once;
* one proposal makes at most one order (``order_id``; the checkout's idempotency key is the
  proposal's).

Money is whole đồng (BigInteger, ``_vnd``); ``price_vnd`` is what the seller gets per unit and
the buyer pays ``price_vnd + transport_vnd`` per unit delivered.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.columns import created_at_field, one_of
from choso.db import UTCDateTime


def _big(**kwargs: Any) -> Any:
    return Field(sa_type=sa.BigInteger, **kwargs)


class Side(StrEnum):
    SUPPLY = "supply"
    DEMAND = "demand"


class PostStatus(StrEnum):
    OPEN = "open"
    WITHDRAWN = "withdrawn"
    FILLED = "filled"


class LocationSource(StrEnum):
    """Where a post's point came from: given on the form/map, or a default."""

    GIVEN = "given"
    USER = "user"  # the poster's address point
    ORGANISATION = "organisation"  # the poster's organisation's address point
    PROVINCE = "province"  # nothing known: the province centre (approximate)


class MarketPost(SQLModel, table=True):
    """A producer's supply post or a buyer's demand post.

    ``grade`` is the grade offered (supply) or the lowest grade accepted (demand);
    ``limit_price_vnd`` the lowest price per unit a seller takes, or the highest delivered
    price a buyer pays; ``window_from``/``window_to`` the inclusive days of availability
    (supply) or of need (demand); ``max_distance_km`` is for demand only.
    """

    __tablename__ = "market_post"
    __table_args__ = (
        sa.CheckConstraint(one_of("side", Side), name="side"),
        sa.CheckConstraint(one_of("status", PostStatus), name="status"),
        sa.CheckConstraint(one_of("location_source", LocationSource), name="location_source"),
        sa.CheckConstraint("quantity > 0 AND limit_price_vnd > 0", name="positive"),
        sa.CheckConstraint(
            "committed_quantity >= 0 AND filled_quantity >= 0 "
            "AND committed_quantity + filled_quantity <= quantity",
            name="quantities",
        ),
        sa.CheckConstraint("window_to >= window_from", name="window"),
        sa.CheckConstraint(
            "(side = 'demand') = (max_distance_km IS NOT NULL)", name="max_distance_for_demand"
        ),
        sa.Index("ix_market_post_open", "status", "side", "category"),
    )

    id: int | None = Field(default=None, primary_key=True)
    side: Side = Field(sa_type=sa.String(10))
    owner_user_id: int = Field(foreign_key="user_account.id", index=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    title: str = Field(max_length=200)
    category: str = Field(max_length=40)
    product_id: int | None = Field(default=None, foreign_key="product.id", index=True)
    grade: int
    quantity: int = _big()
    unit: str = Field(max_length=20)
    limit_price_vnd: int = _big()
    window_from: date
    window_to: date
    latitude: float
    longitude: float
    location_source: LocationSource = Field(sa_type=sa.String(20))
    ward_code: int | None = None
    max_distance_km: float | None = None
    status: PostStatus = Field(default=PostStatus.OPEN, sa_type=sa.String(10))
    version: int = Field(default=1)
    committed_quantity: int = _big(default=0)
    filled_quantity: int = _big(default=0)
    # The inactive catalogue listing that order lines of an unlinked supply post point to.
    sales_product_id: int | None = Field(default=None, foreign_key="product.id")
    # The last round that included the post (its explanation, if it was left short, is that round's).
    last_round_id: int | None = Field(default=None, foreign_key="clearing_round.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()

    @property
    def free_quantity(self) -> int:
        """What the next round may clear: neither in a live proposal nor sold."""
        return self.quantity - self.committed_quantity - self.filled_quantity


class RoundTrigger(StrEnum):
    SCHEDULE = "schedule"
    OPERATOR = "operator"


class ClearingRound(SQLModel, table=True):
    """One clearing of the open posts: what went in, what came out, and the prices.

    ``instance`` and ``result`` are the pure core's JSON (post ids ``s<id>``/``d<id>``): quotes
    and explanations are read from them. ``category_prices`` maps a category to its cleared
    volume and volume-weighted, lowest and highest farm-gate price.
    """

    __tablename__ = "clearing_round"
    __table_args__ = (sa.CheckConstraint(one_of("trigger", RoundTrigger), name="trigger"),)

    id: int | None = Field(default=None, primary_key=True)
    trigger: RoundTrigger = Field(sa_type=sa.String(10))
    slot: str | None = Field(default=None, max_length=40, unique=True)
    started_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    supply_posts: int = 0
    demand_posts: int = 0
    compatible_pairs: int = 0
    proposals: int = 0
    matched_quantity: int = _big(default=0)
    welfare_vnd: int = _big(default=0)
    seconds: float = 0.0
    instance: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    result: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    category_prices: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = created_at_field()


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    SELLER_ACCEPTED = "seller_accepted"
    BUYER_ACCEPTED = "buyer_accepted"
    ORDERED = "ordered"  # both accepted: the order was made in the same transaction
    DECLINED = "declined"
    EXPIRED = "expired"
    STALE = "stale"  # a post changed or was withdrawn after the round


LIVE_STATUSES = (ProposalStatus.PROPOSED, ProposalStatus.SELLER_ACCEPTED, ProposalStatus.BUYER_ACCEPTED)


class MatchProposal(SQLModel, table=True):
    """One match of a round, proposed to both sides at the round's prices.

    The limits, distance and transport are kept as they were at the round, so the value
    breakdown shown later is the one the proposal was made on.
    """

    __tablename__ = "match_proposal"
    __table_args__ = (
        sa.CheckConstraint(one_of("status", ProposalStatus), name="status"),
        sa.CheckConstraint("quantity > 0 AND price_vnd > 0 AND transport_vnd >= 0", name="amounts"),
        sa.Index("ix_match_proposal_live", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="clearing_round.id", index=True)
    supply_post_id: int = Field(foreign_key="market_post.id", index=True)
    demand_post_id: int = Field(foreign_key="market_post.id", index=True)
    supply_version: int
    demand_version: int
    quantity: int = _big()
    price_vnd: int = _big()
    transport_vnd: int = _big()
    distance_km: float
    supply_limit_vnd: int = _big()
    demand_limit_vnd: int = _big()
    status: ProposalStatus = Field(default=ProposalStatus.PROPOSED, sa_type=sa.String(20))
    seller_accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    buyer_accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    declined_by: str | None = Field(default=None, max_length=10)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    order_id: int | None = Field(default=None, foreign_key="customer_order.id", index=True)
    # Set once the quantity of an ordered proposal went back to the posts (its order closed unpaid,
    # was cancelled or rejected).
    returned_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()

    @property
    def delivered_price_vnd(self) -> int:
        return self.price_vnd + self.transport_vnd

    @property
    def value_vnd(self) -> int:
        """Gain from trade per unit: the buyer's limit minus the seller's minus transport."""
        return self.demand_limit_vnd - self.supply_limit_vnd - self.transport_vnd


class MatchExplanation(SQLModel, table=True):
    """Why a post of a round was left with quantity: ``no_counterparty`` (``nearest`` lists the
    nearest opposite posts with the conditions that exclude each) or ``priced_out``
    (``limit_vnd`` is the limit that would have matched at the round's prices)."""

    __tablename__ = "match_explanation"
    __table_args__ = (sa.UniqueConstraint("round_id", "post_id", name="uq_match_explanation_round_post"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="clearing_round.id", index=True)
    post_id: int = Field(foreign_key="market_post.id", index=True)
    quantity: int = _big()
    matched: int = _big()
    reason: str = Field(max_length=20)
    limit_vnd: int | None = _big(default=None)
    counterparty_post_id: int | None = None
    distance_km: float | None = None
    transport_vnd: int | None = _big(default=None)
    price_vnd: int | None = _big(default=None)  # the counterparty's round price
    nearest: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
