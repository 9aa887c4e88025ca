"""Job delivery (issue 5 item 10): the relay's claim holds until published, and embedded mode
keeps a job's outbox row until the job has finished, re-running it after a crash."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Task
from sqlmodel import Session, select

from choso import jobs
from choso.db import session_scope, utcnow
from choso.outbox import JobOutbox
from tests import backend
from tests.conftest import eventually, wait_for_jobs
from tests.servers import running_server, server_env

sqlite_only = pytest.mark.skipif(backend.BACKEND != "sqlite", reason="embedded runner in this process")


def left_behind(count: int = 1) -> list[int]:
    """Outbox rows that nobody claims: as if their publisher had died after the commit."""
    with session_scope() as session:
        rows = [
            JobOutbox(task="market.purge_expired_credentials", created_at=utcnow() - timedelta(minutes=5))
            for _ in range(count)
        ]
        session.add_all(rows)
        session.commit()
        return [row.id or 0 for row in rows]


def outbox(db: Session) -> list[JobOutbox]:
    db.rollback()
    return list(db.exec(select(JobOutbox).order_by(JobOutbox.id)))


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records the outbox row of every job published (and publishes it for real)."""
    rows: list[int] = []
    real_dispatch = jobs.dispatch

    def recording_dispatch(task: Task, *args: Any, **kwargs: Any) -> None:
        rows.append(jobs._publishing_row.get() or 0)
        real_dispatch(task, *args, **kwargs)

    monkeypatch.setattr(jobs, "dispatch", recording_dispatch)
    return rows


def test_a_relay_publishing_holds_its_rows_against_another(
    monkeypatch: pytest.MonkeyPatch, published: list[int], db: Session
) -> None:
    [row_id] = left_behind()
    second_relay: list[int] = []
    recording = jobs.dispatch

    def publish_while_another_relay_runs(task: Task, *args: Any, **kwargs: Any) -> None:
        if not second_relay:  # the moment between claiming and deleting
            second_relay.append(jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get())
        recording(task, *args, **kwargs)

    monkeypatch.setattr(jobs, "dispatch", publish_while_another_relay_runs)
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get() == 1
    assert second_relay == [0]  # it found the row claimed (before: it published it again)
    assert published == [row_id]
    wait_for_jobs()
    assert outbox(db) == []


def test_concurrent_relays_publish_every_row_once(published: list[int], db: Session) -> None:
    rows = left_behind(30)
    start = threading.Barrier(3)

    def relay() -> None:
        start.wait()
        while jobs.relay_outbox.apply(kwargs={"grace_seconds": 0, "batch": 7}).get():
            pass

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    counts = Counter(published)
    assert set(counts) == set(rows)
    assert max(counts.values()) == 1


def test_a_dead_relays_claim_lapses_and_its_rows_are_published(published: list[int], db: Session) -> None:
    [row_id] = left_behind()
    with session_scope() as session:
        row = session.get_one(JobOutbox, row_id)
        row.claimed_until = utcnow() + timedelta(minutes=5)  # a relay took it, then died
        session.add(row)
        session.commit()
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get() == 0
    with session_scope() as session:
        row = session.get_one(JobOutbox, row_id)
        row.claimed_until = utcnow() - timedelta(seconds=1)  # its lease ran out
        session.add(row)
        session.commit()
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get() == 1
    assert published == [row_id]


_release = threading.Event()


@jobs.celery_app.task(name="tests.wait_for_release")
def wait_for_release() -> None:
    _release.wait(30)


@sqlite_only
def test_embedded_job_keeps_its_row_until_it_has_finished(db: Session) -> None:
    _release.clear()
    with session_scope() as session:
        jobs.enqueue_after_commit(session, "tests.wait_for_release")
        session.commit()
    [row] = outbox(db)  # running: the row stays, so a crash now would not lose the job
    assert row.claimed_until is not None
    _release.set()
    wait_for_jobs()
    assert outbox(db) == []


@sqlite_only
def test_embedded_start_reruns_what_was_left(db: Session) -> None:
    _release.set()
    with session_scope() as session:
        session.add(JobOutbox(task="tests.wait_for_release", claimed_until=utcnow() + timedelta(hours=1)))
        session.commit()
    assert jobs.recover_embedded_jobs() == 1  # claimed by the process that died: taken back
    wait_for_jobs()
    assert outbox(db) == []


def test_killed_server_reruns_the_unfinished_job_when_it_starts_again(tmp_path: Path, db: Session) -> None:
    """A real embedded ``choso serve`` (on this backend's database) is SIGKILLed while a job
    runs; started again, it runs the job to the end, and the outbox row goes only then."""
    marker = tmp_path / "marker"
    with session_scope() as session:
        session.add(JobOutbox(task="tests.slow_job", kwargs={"marker": str(marker)}))
        session.commit()
    script = "tests.slow_job_serve"
    env = server_env(CHOSO_REDIS_URL=None)  # embedded mode, whatever the backend
    with running_server(tmp_path / "first.log", env=env, module=script) as first:
        eventually(lambda: marker.exists() and "start" in marker.read_text())
        first.kill()
    assert marker.read_text() == "start\n"  # killed mid-job
    [row] = outbox(db)
    assert row.task == "tests.slow_job"

    with running_server(tmp_path / "second.log", env=env, module=script) as second:
        eventually(lambda: "done" in marker.read_text())
        eventually(lambda: outbox(db) == [])
        assert "re-running 1 job" in second.log()
    assert marker.read_text() == "start\nstart\ndone\n"
