"""The catalogue's amount rules, pure: what a quantity of a service costs.

* fixed: one amount per notice line; the quantity must be 1;
* per unit: unit price × quantity;
* tiered: graduated bands, each with its own unit price: units 1..up_to of the first band at its
  price, the next units at the next band's price, and so on (the last band has no upper bound);
  an optional cap limits the line's total. This is how, for example, the fee for certifying
  copies is set: a price per page for the first pages, a lower one after, and a maximum per copy.

Every rule also bounds the quantity (min..max). Amounts are whole đồng; nothing here rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from choso.i18n import N_
from choso.money import MAX_AMOUNT_VND


class RuleViolation(ValueError):
    """A quantity (or amount) the rule does not allow; ``code`` names which rule."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Band:
    up_to: int | None  # the last unit of this band (cumulative); None: no limit
    unit_price_vnd: int


@dataclass(frozen=True)
class Rule:
    kind: str  # fixed | per_unit | tiered
    amount_vnd: int  # fixed amount, or unit price (per unit)
    bands: tuple[Band, ...] = ()
    cap_vnd: int | None = None
    min_quantity: int = 1
    max_quantity: int = 10_000

    @classmethod
    def of(cls, service: Any) -> Rule:
        """The rule of a catalogue row (anything with the FeeService attributes)."""
        return cls(
            kind=str(service.rule),
            amount_vnd=service.amount_vnd,
            bands=bands_from(service.tiers or []),
            cap_vnd=service.cap_vnd,
            min_quantity=service.min_quantity,
            max_quantity=service.max_quantity,
        )


def bands_from(tiers: Sequence[Mapping[str, Any]]) -> tuple[Band, ...]:
    return tuple(Band(up_to=t.get("up_to"), unit_price_vnd=int(t["unit_price_vnd"])) for t in tiers)


def check_bands(bands: Sequence[Band]) -> None:
    """Bands rise strictly, prices are positive, and only the last is open-ended."""
    if not bands:
        raise RuleViolation("no_tiers", N_("A tiered rule needs at least one band."))
    previous = 0
    for index, band in enumerate(bands):
        if not 0 < band.unit_price_vnd <= MAX_AMOUNT_VND:
            raise RuleViolation("tier_price", N_("Every band needs a unit price above zero."))
        last = index == len(bands) - 1
        if band.up_to is None and not last:
            raise RuleViolation("tier_order", N_("Only the last band may be open-ended."))
        if band.up_to is not None and band.up_to <= previous:
            raise RuleViolation("tier_order", N_("Each band must end after the one before it."))
        previous = band.up_to or previous


def amount_for(rule: Rule, quantity: int) -> int:
    """The amount of ``quantity`` units; :class:`RuleViolation` if the rule refuses it."""
    if type(quantity) is not int or quantity < 1:
        raise RuleViolation("quantity_not_whole", N_("The quantity must be a whole number of at least 1."))
    if rule.kind == "fixed" and quantity != 1:
        raise RuleViolation("fixed_quantity", N_("This fee is a fixed amount: the quantity must be 1."))
    if not rule.min_quantity <= quantity <= rule.max_quantity:
        raise RuleViolation(
            "quantity_range",
            N_("The quantity must be between %(min)s and %(max)s."),
            min=rule.min_quantity,
            max=rule.max_quantity,
        )
    if rule.kind == "fixed":
        total = rule.amount_vnd
    elif rule.kind == "per_unit":
        total = rule.amount_vnd * quantity
    else:
        total = _graduated(rule.bands, quantity)
    if rule.cap_vnd is not None:
        total = min(total, rule.cap_vnd)
    if not 0 < total <= MAX_AMOUNT_VND:
        raise RuleViolation("amount_range", N_("The amount is outside what one notice may ask for."))
    return total


def _graduated(bands: Sequence[Band], quantity: int) -> int:
    total, counted = 0, 0
    for band in bands:
        upper = quantity if band.up_to is None else min(quantity, band.up_to)
        if upper > counted:
            total += (upper - counted) * band.unit_price_vnd
            counted = upper
        if counted >= quantity:
            return total
    raise RuleViolation("quantity_range", N_("The quantity is beyond the last band of this fee."))
