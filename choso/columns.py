"""Column helpers every domain's tables share: one way to write a money column, a creation
time and a CHECK that a text column holds one of an enum's values."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from choso.db import UTCDateTime, utcnow


def one_of(column: str, enum: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint: ``column`` holds one of ``enum``'s values."""
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


def created_at_field() -> Any:
    """A creation time, in UTC, set when the row is made."""
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def money_field(**kwargs: Any) -> Any:
    """An amount in whole đồng: a 64-bit integer column (sums of many amounts still fit)."""
    return Field(sa_type=sa.BigInteger, **kwargs)
