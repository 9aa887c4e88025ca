"""Background jobs: published only after commit, idempotent, run by a real worker on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Task
from sqlalchemy import func
from sqlmodel import Session, select

from choso import jobs
from choso.db import new_session, session_scope, utcnow
from choso.outbox import JobOutbox
from choso.settings import get_settings
from market import credentials, notifications, parties, security
from market.models import Notification, RateLimit, User, UserSession
from market.tasks import deliver_notification, purge_expired_credentials
from tests import backend
from tests.conftest import eventually, postgres_only, wait_for_jobs
from tests.support import PASSWORD


def make_user(email: str = "lan@example.vn") -> int:
    with session_scope() as session:
        user = parties.register(
            session, parties.Registration(email=email, password=PASSWORD, full_name="Nguyễn Thị Lan")
        )
        return user.id or 0


def enqueue_welcome(session: Session, user_id: int, dedupe_key: str) -> None:
    jobs.enqueue_after_commit(
        session,
        deliver_notification.name,
        user_id=user_id,
        kind="welcome",
        params={"name": "x"},
        dedupe_key=dedupe_key,
    )


def notification_keys(db: Session) -> list[str]:
    db.rollback()
    return list(db.exec(select(Notification.dedupe_key).order_by(Notification.id)))


def test_job_enqueued_in_a_rolled_back_transaction_never_runs(db: Session) -> None:
    user_id = make_user()
    wait_for_jobs()
    session = new_session()
    try:
        session.add(User(email="ghost@example.vn", full_name="Ghost", password_hash="x", role="buyer"))
        session.flush()
        enqueue_welcome(session, user_id, "rolled-back")
        session.rollback()
        # The same session commits something else afterwards: the dropped job must stay dropped.
        enqueue_welcome(session, user_id, "committed")
        session.commit()
    finally:
        session.close()
    # Jobs run in order on one worker: once the later one has run, the earlier would have too.
    eventually(lambda: "committed" in notification_keys(db))
    wait_for_jobs()
    assert "rolled-back" not in notification_keys(db)
    assert db.exec(select(User).where(User.email == "ghost@example.vn")).first() is None


def test_job_of_a_session_closed_without_commit_never_runs(db: Session) -> None:
    user_id = make_user()
    session = new_session()
    session.add(User(email="ghost@example.vn", full_name="Ghost", password_hash="x", role="buyer"))
    enqueue_welcome(session, user_id, "abandoned")
    session.close()
    wait_for_jobs()
    assert "abandoned" not in notification_keys(db)


def test_job_is_not_published_before_commit(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id = make_user()
    wait_for_jobs()
    published: list[str] = []
    real_dispatch = jobs.dispatch

    def recording_dispatch(task: Task, *args: Any, **kwargs: Any) -> None:
        published.append(kwargs["dedupe_key"])
        real_dispatch(task, *args, **kwargs)

    monkeypatch.setattr(jobs, "dispatch", recording_dispatch)
    with session_scope() as session:
        enqueue_welcome(session, user_id, "later")
        session.add(User(email="other@example.vn", full_name="Other", password_hash="x", role="buyer"))
        session.flush()
        assert published == []
        session.commit()
        assert published == ["later"]
    eventually(lambda: "later" in notification_keys(db))


def test_registration_welcome_is_delivered_once_even_if_the_job_runs_twice(db: Session) -> None:
    user_id = make_user()
    eventually(lambda: f"welcome:{user_id}" in notification_keys(db))
    # at-least-once delivery: the same job again must not write a second row
    deliver_notification.apply(
        kwargs={
            "user_id": user_id,
            "kind": "welcome",
            "params": {"name": "x"},
            "dedupe_key": f"welcome:{user_id}",
        }
    )
    assert notification_keys(db).count(f"welcome:{user_id}") == 1


def test_deliver_rejects_unknown_kinds(db: Session) -> None:
    user_id = make_user()
    with session_scope() as session:
        try:
            notifications.deliver(session, user_id=user_id, kind="nope", params={}, dedupe_key="k")
        except ValueError:
            pass
        else:
            raise AssertionError("unknown kind accepted")


def rate_limit_row(key: str, window_start: datetime) -> RateLimit:
    return RateLimit(key_hash=key * 64, hits=3, window_start=window_start, next_allowed_at=window_start)


def test_purge_removes_only_expired_credentials(db: Session) -> None:
    make_user()
    now = utcnow()
    window = timedelta(seconds=get_settings().registration_window_seconds)
    db.add(rate_limit_row("a", now - window - timedelta(minutes=1)))
    db.add(rate_limit_row("b", now))
    db.commit()
    with session_scope() as session:
        user = session.exec(select(User)).one()
        credentials.start_session(session, user)
        expired_token = credentials.start_session(session, user)
        row = session.exec(
            select(UserSession).where(UserSession.token_hash == security.token_digest(expired_token))
        ).one()
        row.expires_at = now - timedelta(seconds=1)
        session.add(row)
        session.commit()
    removed = purge_expired_credentials.apply().get()
    assert removed == 2
    db.rollback()
    assert db.exec(select(func.count()).select_from(RateLimit)).one() == 1
    assert purge_expired_credentials.apply().get() == 0  # idempotent


def test_embedded_scheduler_runs_due_entries(db: Session) -> None:
    make_user()
    db.add(rate_limit_row("a", utcnow() - timedelta(days=2)))
    db.commit()
    scheduler = jobs.EmbeddedScheduler(
        {"purge": {"task": "market.purge_expired_credentials", "schedule": timedelta(milliseconds=1)}}
    )
    eventually(lambda: scheduler.run_due() == ["purge"])

    def purged() -> bool:
        db.rollback()
        return db.exec(select(func.count()).select_from(RateLimit)).one() == 0

    eventually(purged)
    hourly = jobs.EmbeddedScheduler(jobs.beat_schedule(get_settings()))
    assert hourly.run_due() == []  # nothing is due right after start


def test_beat_schedule_names_registered_tasks() -> None:
    # The task modules the domains declare are what a worker imports; every scheduled name is among them.
    for entry in jobs.beat_schedule(get_settings()).values():
        assert jobs.task_by_name(entry["task"]).name == entry["task"]


@postgres_only
def test_real_celery_worker_runs_a_job_end_to_end(db: Session, celery_worker: str) -> None:
    assert not get_settings().embedded_jobs
    user_id = make_user()
    result = deliver_notification.apply_async(
        kwargs={"user_id": user_id, "kind": "welcome", "params": {"name": "Lan"}, "dedupe_key": "e2e"},
        queue=get_settings().task_queue,
    )
    assert result.get(timeout=30) is True  # result travelled back through the Redis backend
    assert "e2e" in notification_keys(db)
    # and it really went through this run's Redis queue to the worker process
    workers = jobs.celery_app.control.inspect(destination=[celery_worker], limit=1, timeout=5).stats()
    assert workers and celery_worker in workers
    assert workers[celery_worker]["total"].get("market.deliver_notification", 0) >= 1
    client = redis.Redis.from_url(backend.REDIS_URL)
    assert client.llen(get_settings().task_queue) == 0
    client.close()


@postgres_only
def test_outbox_jobs_go_to_the_worker_without_a_result_to_store(db: Session, celery_worker: str) -> None:
    # Nobody reads an outbox job's result: the message says so, so the worker stores none in Redis
    # (and the publisher subscribes to no result channel).
    from celery.signals import before_task_publish

    user_id = make_user()
    wait_for_jobs()
    published: list[dict[str, Any]] = []

    def watch(headers: dict[str, Any] | None = None, **_: Any) -> None:
        published.append(dict(headers or {}))

    before_task_publish.connect(watch)
    try:
        with session_scope() as session:
            enqueue_welcome(session, user_id, "no-result")
            session.commit()
    finally:
        before_task_publish.disconnect(watch)
    [headers] = [h for h in published if h.get("task") == "market.deliver_notification"]
    assert headers["ignore_result"] is True
    eventually(lambda: "no-result" in notification_keys(db))
    client = redis.Redis.from_url(backend.REDIS_URL)
    assert client.get(f"celery-task-meta-{headers['id']}") is None
    client.close()


def outbox_rows(db: Session) -> list[JobOutbox]:
    db.rollback()
    return list(db.exec(select(JobOutbox)))


def test_published_jobs_leave_the_outbox_and_rolled_back_ones_never_enter_it(db: Session) -> None:
    make_user()
    eventually(lambda: not outbox_rows(db))
    session = new_session()
    enqueue_welcome(session, 1, "gone")
    session.flush()
    session.rollback()
    session.close()
    assert outbox_rows(db) == []


def test_job_survives_a_broker_outage_at_commit(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id = make_user()
    wait_for_jobs()

    def broker_down(task: Task, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker unreachable")

    real_dispatch = jobs.dispatch
    monkeypatch.setattr(jobs, "dispatch", broker_down)
    with session_scope() as session:
        enqueue_welcome(session, user_id, "late")
        session.commit()  # the request still succeeds
    [row] = outbox_rows(db)
    assert row.task == "market.deliver_notification"
    assert row.kwargs["dedupe_key"] == "late"

    monkeypatch.setattr(jobs, "dispatch", real_dispatch)
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 3600}).get() == 0  # too recent to be "missed"
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get() == 1
    eventually(lambda: "late" in notification_keys(db))
    wait_for_jobs()  # embedded mode keeps the row until the job has finished
    assert outbox_rows(db) == []
    assert jobs.relay_outbox.apply(kwargs={"grace_seconds": 0}).get() == 0


@postgres_only
def test_real_beat_process_runs_the_outbox_relay(db: Session, celery_worker: str, tmp_path: Path) -> None:
    """`choso beat` publishes the periodic relay, the worker runs it, the left-behind job runs."""
    user_id = make_user()
    wait_for_jobs()
    left_behind = {"user_id": user_id, "kind": "welcome", "params": {"name": "x"}, "dedupe_key": "via-beat"}
    db.add(
        JobOutbox(
            task="market.deliver_notification", kwargs=left_behind, created_at=utcnow() - timedelta(minutes=5)
        )
    )
    db.commit()
    env = {**os.environ, "CHOSO_OUTBOX_RELAY_SECONDS": "1", "CHOSO_DATA_DIR": str(tmp_path)}
    with (tmp_path / "beat.log").open("wb") as log_file:
        beat = subprocess.Popen(
            [sys.executable, "-m", "choso.cli", "beat", "--loglevel=INFO"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        eventually(lambda: "via-beat" in notification_keys(db), timeout=45)
        assert outbox_rows(db) == []
    finally:
        beat.terminate()
        beat.wait(timeout=20)
    assert "choso.relay_outbox" in (tmp_path / "beat.log").read_text()
