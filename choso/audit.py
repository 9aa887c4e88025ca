"""The audit log: who did what to money, permissions or personal data, and when.

A record is written by the use case itself, in the same transaction as the action, so an
action without its record cannot commit. Records are append-only: database triggers refuse
UPDATE and DELETE (see :mod:`choso.immutable`). Actors are stored by value (id, role,
organisation) because the kernel does not depend on any domain's tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel

from choso.db import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_id: int | None = Field(default=None, index=True)  # None: the system (a job, a webhook)
    actor_role: str = Field(default="system", max_length=20)
    organisation_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=60, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=60)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    ip_address: str | None = Field(default=None, max_length=45)


class Actor:
    """Who acts: a person (id, role, organisation) or the system."""

    def __init__(
        self,
        user_id: int | None = None,
        role: str = "system",
        organisation_id: int | None = None,
        ip_address: str | None = None,
    ) -> None:
        self.user_id = user_id
        self.role = role
        self.organisation_id = organisation_id
        self.ip_address = ip_address


SYSTEM = Actor()


def record(
    session: Session,
    actor: Actor,
    *,
    action: str,
    object_type: str,
    object_id: int | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add an audit record to the session's transaction (flushed with it, never committed here)."""
    session.add(
        AuditEntry(
            actor_id=actor.user_id,
            actor_role=actor.role,
            organisation_id=actor.organisation_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            before=before,
            after=after,
            ip_address=actor.ip_address[:45] if actor.ip_address else None,
        )
    )
