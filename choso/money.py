"""Money is whole Vietnamese đồng: one strict integer type for every amount.

VND has no minor unit, so an amount is an ``int`` — never a float, never a Decimal. JSON
amounts are strict integers (``"1000"`` and ``1000.0`` are refused). Inputs are > 0 and at
most :data:`MAX_AMOUNT_VND`; ledger postings are signed (debit positive, credit negative).
Columns holding money are ``BigInteger`` and their names end in ``_vnd``.

Fees and commissions are integer basis points; :func:`basis_points_of` rounds half up to the
đồng, the one rounding rule used everywhere.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, Strict

MAX_AMOUNT_VND = 10**12  # one trillion đồng: beyond any single payment in this market

# An amount someone gives us: a payment, a price total, a refund.
Vnd = Annotated[int, Strict(), Field(gt=0, le=MAX_AMOUNT_VND)]
# A signed ledger amount (debit > 0, credit < 0); never zero on a posting.
SignedVnd = Annotated[int, Strict(), Field(ge=-(10**15), le=10**15)]


def basis_points_of(amount_vnd: int, basis_points: int) -> int:
    """``amount × bp / 10 000`` in whole đồng, rounded half up (integers only)."""
    if amount_vnd < 0 or basis_points < 0:
        raise ValueError("amount and basis points must not be negative")
    return (amount_vnd * basis_points + 5_000) // 10_000
