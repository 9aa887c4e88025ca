"""The machinery's own backlog: jobs waiting in the outbox and jobs that failed (plain rows).

A job normally leaves the outbox milliseconds after its transaction commits (embedded mode:
when it has finished); rows older than a minute are a backlog the relay has not cleared —
a broker down, or a worker behind. Failed jobs are recorded by choso.observability.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from choso.db import utcnow
from choso.observability import JobFailure
from choso.outbox import JobOutbox


def outbox_backlog(session: Session) -> dict[str, Any]:
    count, oldest = session.exec(select(func.count(), func.min(JobOutbox.created_at))).one()
    by_task = session.exec(
        select(JobOutbox.task, func.count()).group_by(col(JobOutbox.task)).order_by(func.count().desc())
    ).all()
    age = (utcnow() - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return {
        "jobs_waiting": int(count),
        "oldest_seconds": round(max(age, 0.0), 1),
        "by_task": [{"task": task, "jobs": int(n)} for task, n in by_task],
    }


def _aware(value: datetime) -> datetime:
    # func.min() returns the raw column value: naive on SQLite (stored as UTC).
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def failures(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = session.exec(
        select(JobFailure.task, func.count())
        .where(col(JobFailure.at) >= start, col(JobFailure.at) < end)
        .group_by(col(JobFailure.task))
        .order_by(func.count().desc())
    ).all()
    return [{"task": task, "failures": int(n)} for task, n in rows]


def list_failures(
    session: Session, start: datetime, end: datetime, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    conditions = [col(JobFailure.at) >= start, col(JobFailure.at) < end]
    total = session.exec(select(func.count()).select_from(JobFailure).where(*conditions)).one()
    rows = session.exec(
        select(JobFailure).where(*conditions).order_by(col(JobFailure.id).desc()).limit(limit).offset(offset)
    ).all()
    return [
        {"id": f.id, "at": f.at, "task": f.task, "error": f.error, "request_id": f.request_id or ""}
        for f in rows
    ], int(total)


def list_outbox(session: Session, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    total = session.exec(select(func.count()).select_from(JobOutbox)).one()
    rows = session.exec(select(JobOutbox).order_by(col(JobOutbox.id)).limit(limit).offset(offset)).all()
    return [{"id": r.id, "created_at": r.created_at, "task": r.task} for r in rows], int(total)
