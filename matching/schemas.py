"""Response bodies of the matching API (inputs are matching.posts.PostIn / PostUpdate).

Messages (explanations, quotes) are translated in the caller's language; the numbers beside
them are the data they were made from.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from matching import texts
from matching.models import ClearingRound, MarketPost, MatchExplanation, MatchProposal
from matching.proposals import Breakdown, ProposalView, breakdown
from matching.rounds import MarketDataRow, QuoteView


class PostOut(BaseModel):
    id: int
    side: str
    title: str
    category: str
    product_id: int | None
    grade: int = Field(description="Supply: the grade offered. Demand: the lowest grade accepted.")
    quantity: int
    unit: str
    limit_price_vnd: int = Field(
        description="Supply: lowest farm-gate price. Demand: highest delivered price."
    )
    window_from: date
    window_to: date
    latitude: float
    longitude: float
    location_source: str = Field(description="given, user, organisation or province (approximate).")
    ward_code: int | None
    max_distance_km: float | None
    status: str
    version: int
    committed_quantity: int = Field(description="In live proposals.")
    filled_quantity: int = Field(description="Sold through accepted proposals.")
    free_quantity: int = Field(description="What the next round may clear.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, post: MarketPost) -> PostOut:
        return cls(
            **{name: getattr(post, name) for name in cls.model_fields if name != "free_quantity"},
            free_quantity=post.free_quantity,
        )


class QuoteOut(BaseModel):
    round_id: int | None
    price_vnd: int | None = Field(
        description="Buyer: delivered price per unit. Seller: price after transport."
    )
    counterparty_post_id: int | None
    distance_km: float | None
    transport_vnd: int | None
    reachable: int = Field(description="Opposite posts passing category, grade, dates and distance.")
    category_price_vnd: int | None = Field(description="Volume-weighted farm-gate price of the category.")
    within_limit: bool | None
    message: str

    @classmethod
    def of(cls, post: MarketPost, quote: QuoteView | None) -> QuoteOut:
        message = texts.quote_text(post, quote)
        if quote is None:
            return cls(
                round_id=None,
                price_vnd=None,
                counterparty_post_id=None,
                distance_km=None,
                transport_vnd=None,
                reachable=0,
                category_price_vnd=None,
                within_limit=None,
                message=message,
            )
        fields = {name: getattr(quote, name) for name in cls.model_fields if name != "message"}
        return cls(**fields, message=message)


class NearestOut(BaseModel):
    post_id: int
    distance_km: float
    failed: list[str] = Field(description="category, grade, dates, distance, price; empty: served already.")
    message: str


class ExplanationOut(BaseModel):
    round_id: int
    quantity: int
    matched: int
    reason: str = Field(description="no_counterparty or priced_out.")
    limit_vnd: int | None = Field(description="The limit that would have matched at the round's prices.")
    counterparty_post_id: int | None
    distance_km: float | None
    transport_vnd: int | None
    counterparty_price_vnd: int | None
    nearest: list[NearestOut]
    message: str

    @classmethod
    def of(cls, post: MarketPost, item: MatchExplanation) -> ExplanationOut:
        lines = texts.nearest_lines(item)
        return cls(
            round_id=item.round_id,
            quantity=item.quantity,
            matched=item.matched,
            reason=item.reason,
            limit_vnd=item.limit_vnd,
            counterparty_post_id=item.counterparty_post_id,
            distance_km=item.distance_km,
            transport_vnd=item.transport_vnd,
            counterparty_price_vnd=item.price_vnd,
            nearest=[
                NearestOut(post_id=c["post"], distance_km=c["distance_km"], failed=c["failed"], message=line)
                for c, line in zip(item.nearest, lines, strict=True)
            ],
            message=texts.explanation_text(post, item),
        )


class PostDetailOut(PostOut):
    quote: QuoteOut
    explanation: ExplanationOut | None


class BreakdownOut(BaseModel):
    quantity: int
    seller_minimum_vnd: int
    buyer_maximum_vnd: int
    distance_km: float
    transport_vnd: int = Field(description="Per unit: rate × distance, rounded.")
    price_vnd: int = Field(description="Per unit, what the seller receives.")
    delivered_price_vnd: int = Field(description="Per unit, what the buyer pays: price + transport.")
    value_vnd: int = Field(description="Per unit: buyer's maximum − seller's minimum − transport.")
    seller_gain_vnd: int
    buyer_gain_vnd: int
    goods_total_vnd: int
    transport_total_vnd: int
    buyer_total_vnd: int
    welfare_vnd: int

    @classmethod
    def of(cls, value: Breakdown) -> BreakdownOut:
        return cls(**{name: getattr(value, name) for name in cls.model_fields})


class ProposalOut(BaseModel):
    id: int
    round_id: int
    supply_post_id: int
    demand_post_id: int
    quantity: int
    price_vnd: int
    transport_vnd: int
    distance_km: float
    status: str
    status_label: str
    seller_accepted_at: datetime | None
    buyer_accepted_at: datetime | None
    expires_at: datetime
    order_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, proposal: MatchProposal) -> ProposalOut:
        fields = {name: getattr(proposal, name) for name in cls.model_fields if name != "status_label"}
        return cls(**fields, status_label=texts.status_label(str(proposal.status)))


class ProposalDetailOut(ProposalOut):
    title: str
    unit: str
    seller: str
    buyer: str
    your_side: str | None
    actions: list[str]
    breakdown: BreakdownOut

    @classmethod
    def of_view(cls, view: ProposalView) -> ProposalDetailOut:
        base = ProposalOut.of(view.proposal).model_dump()
        return cls(
            **base,
            title=view.supply.title,
            unit=view.supply.unit,
            seller=view.seller_name,
            buyer=view.buyer_name,
            your_side=view.party.value if view.party else None,
            actions=view.actions,
            breakdown=BreakdownOut.of(breakdown(view.proposal)),
        )


class CategoryPriceOut(BaseModel):
    category: str = Field(description="Catalogue category and unit, e.g. rice/kg.")
    volume: int
    price_vnd: int
    min_vnd: int
    max_vnd: int


class RoundOut(BaseModel):
    id: int
    trigger: str
    supply_posts: int
    demand_posts: int
    compatible_pairs: int
    proposals: int
    matched_quantity: int
    welfare_vnd: int
    seconds: float
    created_at: datetime
    prices: list[CategoryPriceOut]

    @classmethod
    def of(cls, record: ClearingRound) -> RoundOut:
        fields = {name: getattr(record, name) for name in cls.model_fields if name != "prices"}
        prices = [CategoryPriceOut(category=name, **row) for name, row in record.category_prices.items()]
        return cls(**fields, prices=prices)


class RoundDetailOut(RoundOut):
    proposals_by_status: dict[str, int]
    unmatched_by_reason: dict[str, int]

    @classmethod
    def of_summary(cls, record: ClearingRound, summary: dict[str, Any]) -> RoundDetailOut:
        return cls(**RoundOut.of(record).model_dump(), **summary)


class MarketDataOut(BaseModel):
    week: str | None
    category: str | None
    ward_code: int | None
    proposals: int
    quantity: int
    price_vnd: int
    min_price_vnd: int
    max_price_vnd: int
    delivered_price_vnd: int

    @classmethod
    def of(cls, row: MarketDataRow) -> MarketDataOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})
