"""The job outbox: a job is written in the same transaction as the change that causes it.

So a job exists exactly when its cause committed: a rollback takes the job with it, and a
broker that is down at commit time delays the job instead of losing it (the relay publishes
what is left). Published rows are deleted.
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
