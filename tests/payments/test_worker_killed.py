"""A worker killed (SIGKILL) while it processes bank webhooks loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from choso import jobs
from choso.db import session_scope
from choso.settings import get_settings
from market.models import OrganisationKind
from payments import ledger, webhooks
from payments.models import LedgerTransaction, Payment, WebhookEvent
from tests import factories
from tests.conftest import eventually, postgres_only
from tests.payments.helpers import notice, post_sepay, sepay_body

EVENTS = 60


def start_worker(queue: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHOSO_TASK_QUEUE": queue}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "choso.cli", "worker", "--concurrency=1", "--loglevel=INFO", "-n", name],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group: the kill takes the pool child too
        )
    eventually(lambda: jobs.celery_app.control.ping(destination=[name], timeout=1), timeout=60)
    return process


def processed(db: Session) -> int:
    db.rollback()
    return int(db.exec(select(func.count()).where(col(WebhookEvent.processed_at).isnot(None))).one())


@postgres_only
def test_webhooks_survive_a_killed_worker_exactly_once(
    client: TestClient, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = f"{get_settings().task_queue}-kill"
    monkeypatch.setattr(get_settings(), "task_queue", queue)  # only our own worker takes these jobs
    org, _owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    batch = [factories.payment_request(org.id or 0, account.id or 0, 10_000 + i) for i in range(EVENTS)]

    first = start_worker(queue, f"kill-a-{queue}@localhost", tmp_path / "worker.log")
    for request in batch:
        body = sepay_body(notice(account.account_number, request.amount_vnd, request.reference_code))
        assert post_sepay(client, body).status_code == 200
    eventually(lambda: processed(db) >= 5, timeout=60, interval=0.01)
    os.killpg(first.pid, signal.SIGKILL)  # mid-way, without any chance to clean up
    first.wait(timeout=10)
    done_at_kill = processed(db)
    assert done_at_kill < EVENTS, "the worker finished before it could be killed"

    second = start_worker(queue, f"kill-b-{queue}@localhost", tmp_path / "worker.log")
    try:
        with session_scope() as session:  # what the periodic job does for events left behind
            webhooks.requeue_stale_events(session, older_than_seconds=0)
        eventually(lambda: processed(db) == EVENTS, timeout=120)
        time.sleep(1)  # let any duplicate delivery still in flight run (it must change nothing)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    db.rollback()
    assert db.exec(select(func.count()).select_from(Payment)).one() == EVENTS
    assert db.exec(select(func.count()).select_from(LedgerTransaction)).one() == EVENTS
    amounts = sorted(db.exec(select(Payment.amount_vnd)).all())
    assert amounts == [10_000 + i for i in range(EVENTS)]
    with session_scope() as session:
        assert ledger.check(session) == []
