"""Tables of two-factor authentication: a user's TOTP secret, recovery codes, and the
half-authenticated logins waiting for their second step (see market.totp for the rules)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.db import UTCDateTime
from market.models import created_at_field


class TotpCredential(SQLModel, table=True):
    """A user's TOTP secret, encrypted. ``confirmed_at`` is None while enrolment waits for a
    first valid code; ``last_step`` is the time step of the last accepted code (replays of it,
    or of any earlier step, are refused)."""

    __tablename__ = "totp_credential"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", unique=True, ondelete="CASCADE")
    secret_encrypted: str = Field(max_length=255)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_step: int | None = Field(default=None, sa_type=sa.BigInteger)
    created_at: datetime = created_at_field()


class RecoveryCode(SQLModel, table=True):
    """One single-use recovery code: only its SHA-256 (salted with the user id) is kept."""

    __tablename__ = "totp_recovery_code"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()


class LoginChallenge(SQLModel, table=True):
    """A login whose password was right but whose second step (a code, or enrolment) is still
    due. Its cookie holds a random token; only the SHA-256 is stored. It is not a session:
    nothing but the second-step pages accepts it."""

    __tablename__ = "login_challenge"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    purpose: str = Field(max_length=10)  # "verify" or "enrol"
    target: str = Field(default="/account", max_length=500)
    created_at: datetime = created_at_field()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
