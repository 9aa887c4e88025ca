"""A committing unit of work holds one database connection at a time: the jobs it enqueued are
published (and their outbox rows cleared, or released when publishing fails) only after the
session has given its own connection back to the pool. Two connections per request would let
a busy pool deadlock on itself (every request holding one, waiting for a second)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from choso import jobs
from choso.db import get_engine, session_scope
from choso.outbox import JobOutbox
from market.models import User
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.payments.helpers import notice, post_sepay, sepay_body


class ConnectionsPerThread:
    """Connections checked out of the app's pool, counted against the thread that took each
    one (a connection may be given back from another thread), with the peak per thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: dict[int, int] = {}
        self._held: dict[int, int] = {}
        self.peak: dict[int, int] = {}

    def checkout(self, _dbapi: object, record: object, _proxy: object) -> None:
        thread = threading.get_ident()
        with self._lock:
            self._owner[id(record)] = thread
            self._held[thread] = self._held.get(thread, 0) + 1
            self.peak[thread] = max(self.peak.get(thread, 0), self._held[thread])

    def checkin(self, _dbapi: object, record: object) -> None:
        with self._lock:
            thread = self._owner.pop(id(record), None)
            if thread is not None:
                self._held[thread] -= 1


@contextmanager
def counted(engine: sa.Engine) -> Iterator[ConnectionsPerThread]:
    counter = ConnectionsPerThread()
    sa.event.listen(engine, "checkout", counter.checkout)
    sa.event.listen(engine, "checkin", counter.checkin)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "checkout", counter.checkout)
        sa.event.remove(engine, "checkin", counter.checkin)


@pytest.mark.parametrize("task", ["choso.relay_outbox", "tests.no_such_task"])
def test_a_committing_session_publishes_its_jobs_after_giving_its_connection_back(task: str) -> None:
    """A job the broker takes (its row is then deleted, or run and deleted by the embedded
    runner), and one that cannot be published (its row is released for the relay): either way
    the publishing thread never holds a second connection."""
    engine = get_engine()
    with counted(engine) as connections:
        with session_scope() as session:
            session.add(User(email="outbox@example.vn", full_name="Hộp thư", password_hash="x", role="buyer"))
            jobs.enqueue_after_commit(session, task)
            session.commit()
        me = threading.get_ident()
        assert connections.peak[me] == 1, connections.peak
    wait_for_jobs()
    with session_scope() as session:
        left = session.exec(select(JobOutbox.task, JobOutbox.claimed_until)).all()
    if task == "tests.no_such_task":
        assert left == [(task, None)]  # released at once: the relay publishes it later
    else:
        eventually(lambda: not _outbox_rows())


def _outbox_rows() -> list[int | None]:
    with session_scope() as session:
        return list(session.exec(select(JobOutbox.id)).all())


def test_a_request_that_commits_jobs_holds_one_connection_at_a_time(client: TestClient) -> None:
    """A bank webhook: the event is stored and its job enqueued in one commit, then published."""
    account = factories.bank_account(None)
    body = sepay_body(notice(account.account_number, 50_000, "CS ung ho"))
    with counted(get_engine()) as connections:
        assert post_sepay(client, body).status_code == 200
        wait_for_jobs()
    assert connections.peak and max(connections.peak.values()) == 1, connections.peak
