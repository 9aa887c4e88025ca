"""The job outbox: a job is written in the same transaction as the change that causes it.

So a job exists exactly when its cause committed: a rollback takes the job with it, and a
broker that is down at commit time delays the job instead of losing it (the relay publishes
what is left). A row is deleted once its job is handed to the broker (Redis), or once the
job has finished (embedded mode), never before.

Whoever publishes a row claims it first (``claimed_until``): the transaction that creates it
claims it for its own after-commit publication, the relay claims what it takes, and nobody
takes a row whose claim has not lapsed. A claimant that dies lets its claim lapse, and the
row is published again (jobs are idempotent).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.db import UTCDateTime, utcnow


class JobOutbox(SQLModel, table=True):
    __tablename__ = "job_outbox"

    id: int | None = Field(default=None, primary_key=True)
    task: str = Field(max_length=200)
    args: list[Any] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    kwargs: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    # Who publishes a row claims it until then; nobody else takes it before (see choso.jobs).
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
