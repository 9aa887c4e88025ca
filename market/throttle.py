"""Rate limits that hold across threads and processes: one counter row per key, locked while
an attempt is reserved.

The rule: an attempt is counted *before* the work it guards (a password hash), in a short
transaction that locks every counter it needs, lowest key hash first (so two requests can
never wait for each other's rows). Concurrent requests — threads or server processes, on
SQLite (one writer at a time) or PostgreSQL (row locks) — are thus serialised per counter
and cannot overshoot a limit. An attempt that turns out not to count (a successful login, a
server too busy to check the password) is refunded afterwards.

Counters use fixed windows: ``hits`` within ``window`` from ``window_start``. A counter may
also hold the next attempt back until ``next_allowed_at`` (a progressive delay).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from choso.errors import RateLimited
from market.models import RateLimit


@dataclass(frozen=True)
class Limit:
    """At most ``max_hits`` attempts per ``window`` for ``key`` under the counter ``name``;
    ``max_hits=None`` only counts (for alerts and delays), never refuses."""

    name: str
    key: str
    max_hits: int | None
    window: timedelta
    message: str  # a message id with a %(minutes)s placeholder, shown when refused

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(f"{self.name}\x00{self.key}".encode()).hexdigest()


@dataclass(frozen=True)
class Count:
    """A counter after an attempt was reserved on it."""

    hits: int
    window_start: datetime


def retry_after(row: RateLimit, limit: Limit, now: datetime) -> int:
    """Seconds until ``limit`` allows an attempt on ``row`` again; 0 if it does now (pure)."""
    wait = row.next_allowed_at - now
    if limit.max_hits is not None and row.hits >= limit.max_hits:
        wait = max(wait, row.window_start + limit.window - now)
    return max(0, -(-int(wait.total_seconds() * 1000) // 1000))


def _restart_if_over(row: RateLimit, limit: Limit, now: datetime) -> None:
    if row.window_start + limit.window <= now:
        row.hits = 0
        row.window_start = now


def _insert_ignore(session: Session, key_hash: str, now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"key_hash": key_hash, "hits": 0, "window_start": now, "next_allowed_at": now}
    session.execute(insert(RateLimit).values(values).on_conflict_do_nothing(index_elements=["key_hash"]))


def _locked_row(session: Session, key_hash: str, now: datetime) -> RateLimit:
    """The counter, created if new, locked until the transaction ends (SQLite: already
    locked as a whole by BEGIN IMMEDIATE)."""
    _insert_ignore(session, key_hash, now)
    return session.exec(
        select(RateLimit)
        .where(RateLimit.key_hash == key_hash)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def reserve(session: Session, limits: Sequence[Limit], now: datetime) -> dict[str, Count]:
    """Count one attempt on every limit, or on none: RateLimited (with Retry-After) if any
    refuses. The caller commits (or rolls back) the transaction this opens."""
    rows = {limit.name: _locked_row(session, limit.key_hash, now) for limit in _lock_order(limits)}
    waits = []
    for limit in limits:
        _restart_if_over(rows[limit.name], limit, now)
        waits.append((retry_after(rows[limit.name], limit, now), limit))
    seconds, refusing = max(waits, key=lambda wait: wait[0])
    if seconds > 0:
        session.rollback()
        raise RateLimited(
            refusing.message,
            params={"minutes": max(1, -(-seconds // 60))},
            headers={"Retry-After": str(seconds)},
        )
    for row in rows.values():
        row.hits += 1
        session.add(row)
    session.flush()
    return {name: Count(row.hits, row.window_start) for name, row in rows.items()}


def _lock_order(limits: Sequence[Limit]) -> list[Limit]:
    return sorted(limits, key=lambda limit: limit.key_hash)


def hold_back(session: Session, limit: Limit, until: datetime) -> None:
    """No attempt on ``limit`` before ``until`` (the counter must be locked, i.e. reserved in
    this transaction)."""
    session.execute(
        update(RateLimit).where(col(RateLimit.key_hash) == limit.key_hash).values(next_allowed_at=until)
    )


def refund(session: Session, limits: Sequence[Limit]) -> None:
    """Take back one attempt from each limit (it turned out not to count). Caller commits."""
    for limit in _lock_order(limits):
        session.execute(
            update(RateLimit)
            .where(col(RateLimit.key_hash) == limit.key_hash, col(RateLimit.hits) > 0)
            .values(hits=col(RateLimit.hits) - 1)
        )


def forget(session: Session, limits: Sequence[Limit]) -> None:
    """Clear the counters (e.g. an account and address pair after a successful login)."""
    hashes = [limit.key_hash for limit in limits]
    session.execute(delete(RateLimit).where(col(RateLimit.key_hash).in_(hashes)))


def purge(session: Session, older_than: datetime, now: datetime) -> int:
    """Delete counters whose window started before ``older_than`` and that hold nothing back."""
    result = session.execute(
        delete(RateLimit).where(
            col(RateLimit.window_start) < older_than, col(RateLimit.next_allowed_at) <= now
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]
