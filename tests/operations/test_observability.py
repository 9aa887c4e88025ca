"""Request ids, structured logs, job outcomes, /metrics and its protection, and sandbox mode."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import task_prerun
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso import jobs, observability, sandbox
from choso.db import session_scope
from choso.observability import JobFailure
from choso.outbox import JobOutbox
from choso.settings import get_settings, reset_settings
from tests.conftest import eventually, wait_for_jobs
from web.app import create_app

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch
    monkeypatch.undo()
    reset_settings()


def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123:4.5_6"}).headers["x-request-id"]
        == "abc-123:4.5_6"
    )
    for insane in ("x" * 65, "a b", "<script>", "a/b", ""):
        echoed = client.get("/healthz", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert echoed != insane and len(echoed) == 32
    assert client.get("/no-such-page").headers["x-request-id"]  # errors too


def test_json_logs_carry_the_request_id_and_route(client: TestClient) -> None:
    stream = io.StringIO()
    observability.configure_logging("json", stream=stream)
    try:
        client.get("/api/v1/open-data/catalogue", headers={"X-Request-ID": "trace-me-1"})
    finally:
        observability.configure_logging("text")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [r for r in records if r["logger"] == "choso.access"]
    assert access and access[-1]["request_id"] == "trace-me-1"
    assert access[-1]["route"] == "/api/v1/open-data/catalogue" and access[-1]["status"] == 200
    assert {"time", "level", "message", "job"} <= access[-1].keys()


def test_jobs_take_the_request_id_out_of_their_arguments_and_log_with_it(db: Session) -> None:
    # Enqueued while a request is handled: the outbox row carries its id.
    with session_scope() as session, observability.request_context("req-42"):
        jobs.enqueue_after_commit(session, "choso.relay_outbox", grace_seconds=3600)
        session.flush()
        pending = session.exec(select(JobOutbox)).all()
        assert [row.kwargs for row in pending] == [{"grace_seconds": 3600, "_request_id": "req-42"}]
        session.rollback()
    seen: list[str | None] = []

    def watch(**_: Any) -> None:
        seen.append(observability.request_id_var.get())

    task_prerun.connect(watch, weak=False)
    try:
        result = jobs.task_by_name("choso.relay_outbox").apply(
            kwargs={"grace_seconds": 3600, "_request_id": "req-42"}
        )
        assert result.successful()  # the task never saw the reserved argument
        failed = jobs.task_by_name("choso.relay_outbox").apply(kwargs={"bogus": 1, "_request_id": "req-43"})
        assert failed.failed()
    finally:
        task_prerun.disconnect(watch)
    assert seen == ["req-42", "req-43"]
    assert observability.request_id_var.get() is None  # restored after the job
    db.rollback()
    (failure,) = db.exec(select(JobFailure)).all()
    assert failure.task == "choso.relay_outbox" and failure.request_id == "req-43"
    assert failure.error.startswith("TypeError")


def test_metrics_are_for_loopback_or_the_token_only(
    client: TestClient, settings_env: pytest.MonkeyPatch
) -> None:
    local = TestClient(client.app, client=LOOPBACK)
    local.get("/api/v1/open-data/datasets/fee-collections")
    scraped = local.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert (
        'choso_http_requests_total{method="GET",route="/api/v1/open-data/datasets/{name}",status="200"}'
        in text
    )
    assert "choso_http_request_duration_seconds_bucket" in text
    for gauge in ("choso_database_up 1.0", "choso_outbox_jobs_waiting", "choso_webhook_events_pending"):
        assert gauge in text
    assert "choso_jobs_total" in text or "choso_jobs_created" in text or "# HELP choso_jobs" in text
    # Not from elsewhere, and not through a proxy.
    assert client.get("/metrics").status_code == 404
    assert local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404
    # With a token: only the token, from anywhere.
    settings_env.setenv("CHOSO_METRICS_TOKEN", "s3cret-metrics-token")
    reset_settings()
    assert local.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"}).status_code == 200


def test_sandbox_banner_on_every_page(client: TestClient, settings_env: pytest.MonkeyPatch) -> None:
    assert get_settings().sandbox
    for path in ("/", "/products", "/login", "/open-data", "/no-such-page"):
        assert 'class="sandbox-banner"' in client.get(path).text, path
    settings_env.setenv("CHOSO_SANDBOX", "false")
    reset_settings()
    assert 'class="sandbox-banner"' not in client.get("/").text


def test_sandbox_refuses_live_card_keys(settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("CHOSO_STRIPE_SECRET_KEY", "sk_live_51Habc")
    reset_settings()
    with pytest.raises(sandbox.LiveKeysInSandbox, match="CHOSO_STRIPE_SECRET_KEY"):
        create_app()
    settings_env.setenv("CHOSO_STRIPE_SECRET_KEY", "sk_test_51Habc")
    settings_env.setenv("CHOSO_STRIPE_PUBLISHABLE_KEY", "pk_live_51Habc")
    reset_settings()
    with pytest.raises(sandbox.LiveKeysInSandbox, match="PUBLISHABLE"):
        sandbox.refuse_live_keys(get_settings())
    settings_env.setenv("CHOSO_SANDBOX", "false")
    reset_settings()
    sandbox.refuse_live_keys(get_settings())  # live keys outside a sandbox are the point of production


def test_choso_serve_will_not_start_in_sandbox_with_live_keys() -> None:
    env = {**os.environ, "CHOSO_SANDBOX": "true", "CHOSO_STRIPE_SECRET_KEY": "sk_live_51Hxyz"}
    process = subprocess.run(
        [sys.executable, "-m", "choso.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode != 0
    assert "refusing to start" in process.stdout + process.stderr


def test_a_job_published_during_a_request_fails_with_its_request_id(db: Session) -> None:
    """Through the real path: the outbox, then Redis and the worker (or the embedded runner)."""
    with session_scope() as session, observability.request_context("req-77"):
        jobs.enqueue_after_commit(session, "choso.relay_outbox", grace_seconds="not a number")
        session.commit()
    wait_for_jobs()

    def recorded() -> JobFailure | None:
        db.rollback()
        return db.exec(select(JobFailure).where(JobFailure.request_id == "req-77")).first()

    failure = eventually(recorded)
    assert failure.task == "choso.relay_outbox" and "TypeError" in failure.error
