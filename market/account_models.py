"""Tables of account e-mail: outgoing messages (with their tries) and single-use e-mail tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.db import UTCDateTime, utcnow


class TokenPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a password
    VERIFY_EMAIL = "verify_email"


class AccountToken(SQLModel, table=True):
    """A link sent by e-mail (reset a password, confirm an address). Only the SHA-256 of the
    random token is stored; it works once (``used_at``) and until ``expires_at``."""

    __tablename__ = "account_token"
    __table_args__ = (sa.CheckConstraint("purpose IN ('password_reset', 'verify_email')", name="purpose"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    purpose: TokenPurpose = Field(sa_type=sa.String(20))
    token_hash: str = Field(max_length=64, unique=True)
    # The e-mail it was sent with (its address at the time: a changed address voids the link).
    email: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OutgoingEmail(SQLModel, table=True):
    """One e-mail to send: written in the transaction of the action that causes it, sent by the
    job ``market.send_email``, tried again with a doubling wait while the server does not take it.

    The message is rendered when it is sent, and a link's token is made then (and stored only
    as a hash), so no secret is ever kept here. ``dedupe_key`` makes queueing idempotent."""

    __tablename__ = "outgoing_email"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=40)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    dedupe_key: str = Field(max_length=120, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    attempts: int = Field(default=0)
    # Pending while sent_at and failed_at are both None; due again from next_attempt_at.
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = Field(default="", max_length=500)
