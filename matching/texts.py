"""What the market says about a post or a proposal, in the reader's language.

The core's explanations and quotes are data (:mod:`matching.explain`); here they become
sentences through translatable message ids, filled after translation. Pure: no database.
"""

from __future__ import annotations

from typing import Any

from choso.i18n import N_, format_number, format_vnd, gettext_
from matching.models import MarketPost, MatchExplanation, Side
from matching.rounds import QuoteView
from matching.rules import CATEGORY, DATES, DISTANCE, GRADE, PRICE

REASONS = {
    CATEGORY: N_("another product or unit"),
    GRADE: N_("grade too low"),
    DATES: N_("dates do not overlap"),
    DISTANCE: N_("too far"),
    PRICE: N_("prices do not cover transport"),
}
# A nearest post that passes every condition but was left out: it trades all it can with this one.
SERVED = N_("already trades all it can with this post")
STATUS_LABELS = {
    "open": N_("Open"),
    "withdrawn": N_("Withdrawn"),
    "filled": N_("Filled"),
    "proposed": N_("Proposed"),
    "seller_accepted": N_("Accepted by the seller"),
    "buyer_accepted": N_("Accepted by the buyer"),
    "ordered": N_("Ordered"),
    "declined": N_("Declined"),
    "expired": N_("Expired"),
    "stale": N_("No longer stands (a post changed)"),
}
SIDE_LABELS = {Side.SUPPLY: N_("Supply"), Side.DEMAND: N_("Demand")}


def _t(message: str, **params: Any) -> str:
    return gettext_(message) % params if params else gettext_(message)


def km(value: float | None) -> str:
    return format_number(round(value or 0.0, 1))


def reasons(failed: list[str]) -> str:
    return ", ".join(gettext_(REASONS[f]) for f in failed if f in REASONS) or gettext_(SERVED)


def nearest_lines(explanation: MatchExplanation) -> list[str]:
    return [
        _t(
            N_("post #%(post)s, %(km)s km: %(reasons)s"),
            post=c["post"],
            km=km(c["distance_km"]),
            reasons=reasons(c["failed"]),
        )
        for c in explanation.nearest
    ]


def explanation_text(post: MarketPost, explanation: MatchExplanation) -> str:
    """Why the post was left short, and (priced out) the limit that would have matched."""
    if explanation.reason != "priced_out":
        if not explanation.nearest:
            if post.side == Side.SUPPLY:
                return _t(N_("No demand post was in this round."))
            return _t(N_("No supply post was in this round."))
        if post.side == Side.SUPPLY:
            return _t(N_("No compatible demand post this round. The nearest:"))
        return _t(N_("No compatible supply post this round. The nearest:"))
    price, transport = explanation.price_vnd or 0, explanation.transport_vnd or 0
    common = {"post": explanation.counterparty_post_id, "km": km(explanation.distance_km), "unit": post.unit}
    if post.side == Side.DEMAND:
        return _t(
            N_(
                "Priced out: at this round's prices the cheapest reachable supply (post #%(post)s, "
                "%(km)s km away) delivers at %(delivered)s per %(unit)s (%(price)s + transport "
                "%(transport)s). Raise your maximum to %(limit)s per %(unit)s."
            ),
            delivered=format_vnd(price + transport),
            price=format_vnd(price),
            transport=format_vnd(transport),
            limit=format_vnd(explanation.limit_vnd or price + transport + 1),
            **common,
        )
    if explanation.limit_vnd is None:
        return _t(
            N_(
                "Priced out: the best reachable buyer (post #%(post)s, %(km)s km away) pays %(delivered)s "
                "per %(unit)s delivered, and transport costs %(transport)s: no minimum can sell there."
            ),
            delivered=format_vnd(price),
            transport=format_vnd(transport),
            **common,
        )
    return _t(
        N_(
            "Priced out: at this round's prices the best reachable buyer (post #%(post)s, %(km)s km "
            "away) pays %(delivered)s per %(unit)s delivered, %(net)s after transport. Lower your "
            "minimum to %(limit)s per %(unit)s."
        ),
        delivered=format_vnd(price),
        net=format_vnd(price - transport),
        limit=format_vnd(explanation.limit_vnd),
        **common,
    )


def quote_text(post: MarketPost, quote: QuoteView | None) -> str:
    """The indicative quote of a post at the last round's prices."""
    if quote is None:
        return _t(N_("No clearing round has run yet: no indicative price."))
    if quote.price_vnd is None:
        if post.side == Side.SUPPLY:
            return _t(N_("Indicative quote: no demand post was within reach in the last round."))
        return _t(N_("Indicative quote: no supply post was within reach in the last round."))
    common = {
        "round": quote.round_id,
        "price": format_vnd(quote.price_vnd),
        "unit": post.unit,
        "km": km(quote.distance_km),
        "limit": format_vnd(post.limit_price_vnd),
    }
    if post.side == Side.SUPPLY:
        return _t(
            N_(
                "Indicative quote from round #%(round)s: the best reachable buyer netted %(price)s per "
                "%(unit)s after transport (%(km)s km away); your minimum is %(limit)s."
            ),
            **common,
        )
    return _t(
        N_(
            "Indicative quote from round #%(round)s: the cheapest reachable supply delivered at %(price)s "
            "per %(unit)s (%(km)s km away); your maximum is %(limit)s."
        ),
        **common,
    )


def status_label(status: str) -> str:
    return gettext_(STATUS_LABELS.get(status, status))
