"""Test setup: one isolated database per run, on SQLite or on PostgreSQL + Redis + Celery.

The environment is set here, before any Choso module reads its settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis
import sqlalchemy as sa

from tests import backend
from tests.mail_sink import MailSink, free_port

_TMP = Path(tempfile.mkdtemp(prefix=f"choso-test-{backend.RUN_ID}-"))
_PG_DATABASE = f"choso_test_{backend.RUN_ID}"
_QUEUE = f"choso-test-{backend.RUN_ID}"

for _name in [k for k in os.environ if k.startswith("CHOSO_") and not k.startswith("CHOSO_TEST_")]:
    del os.environ[_name]
os.environ.update(
    {
        "CHOSO_DATA_DIR": str(_TMP),
        "CHOSO_SECRET_KEY": "test-secret-key-not-for-production",
        "CHOSO_RUN_SCHEDULER": "false",
        "CHOSO_TASK_QUEUE": _QUEUE,
        "CHOSO_SANDBOX": "true",
        "CHOSO_SEPAY_WEBHOOK_SECRET": "test-sepay-secret",
        "CHOSO_CASSO_WEBHOOK_SECRET": "test-casso-secret",
    }
)
# Every e-mail goes to a real SMTP server of this run (tests/mail_sink.py), the worker's too.
MAIL_SINK = MailSink(free_port())
os.environ.update(
    {
        "CHOSO_SMTP_HOST": "127.0.0.1",
        "CHOSO_SMTP_PORT": str(MAIL_SINK.port),
        "CHOSO_SMTP_STARTTLS": "false",
        "CHOSO_SMTP_RETRY_SECONDS": "1",
    }
)
if backend.BACKEND == "postgres":
    os.environ["CHOSO_DATABASE_URL"] = backend.create_postgres_database(_PG_DATABASE)
    os.environ["CHOSO_REDIS_URL"] = backend.REDIS_URL
else:
    os.environ["CHOSO_DATABASE_URL"] = f"sqlite:///{_TMP / 'test.sqlite3'}"

from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from sqlmodel import Session  # noqa: E402

from choso import jobs, migrate  # noqa: E402 - after the environment is set
from choso.db import dispose_engine, get_engine, make_engine  # noqa: E402
from choso.models import metadata  # noqa: E402
from choso.settings import get_settings  # noqa: E402
from web.app import create_app  # noqa: E402

postgres_only = pytest.mark.skipif(backend.BACKEND != "postgres", reason="needs PostgreSQL + Redis + Celery")
T = TypeVar("T")


def pytest_report_header() -> str:
    database = os.environ["CHOSO_DATABASE_URL"]
    return f"choso backend: {backend.BACKEND} (run {backend.RUN_ID}, database {database})"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    dispose_engine()
    if backend.BACKEND == "postgres":
        backend.drop_postgres_database(_PG_DATABASE)
        client = redis.Redis.from_url(backend.REDIS_URL)
        client.delete(_QUEUE)
        client.close()
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def migrated_database() -> Iterator[None]:
    migrate.upgrade()
    yield


@pytest.fixture(scope="session", autouse=True)
def mail_sink() -> Iterator[MailSink]:
    """The run's SMTP server, up for every test (a test that stops it starts it again)."""
    MAIL_SINK.start()
    yield MAIL_SINK
    MAIL_SINK.stop()


WORKER_NAME = f"choso-test-{backend.RUN_ID}@localhost"


@pytest.fixture(scope="session", autouse=True)
def celery_worker(migrated_database: None) -> Iterator[str]:
    """A real ``choso worker`` process on Redis, for the whole run (PostgreSQL backend only)."""
    if backend.BACKEND != "postgres":
        yield ""
        return
    log_path = _TMP / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "choso.cli",
                "worker",
                "--concurrency=1",
                "--loglevel=INFO",
                "-n",
                WORKER_NAME,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()}")
            replies = jobs.celery_app.control.ping(destination=[WORKER_NAME], timeout=1)
            if replies:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not come up:\n{log_path.read_text()}")
        yield WORKER_NAME
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for_jobs(timeout: float = 30.0) -> None:
    """Block until every published job has run (embedded pool, or the Redis queue + worker)."""
    if get_settings().embedded_jobs:
        assert jobs.embedded_runner().drain(timeout), "embedded jobs did not finish"
        return
    client = redis.Redis.from_url(backend.REDIS_URL)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if client.llen(_QUEUE) == 0:
                # A job taken off the queue is first reserved (prefetched), then active: both
                # must be empty, or a job between the two is missed (seen under load).
                inspect = jobs.celery_app.control.inspect(destination=[WORKER_NAME], limit=1, timeout=2)
                active = inspect.active()
                reserved = inspect.reserved() if active is not None and not any(active.values()) else None
                if reserved is not None and not any(reserved.values()) and client.llen(_QUEUE) == 0:
                    return
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError("published jobs did not finish in time")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll until ``check`` returns something truthy (jobs run asynchronously on both backends)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def reset_database() -> None:
    """Empty every table (after the jobs already published have run)."""
    wait_for_jobs()
    engine = get_engine()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            connection.execute(sa.text(f"TRUNCATE {names} CASCADE"))
        else:
            # Append-only tables refuse DELETE by trigger; lift the triggers for the reset only.
            triggers = connection.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            )
            saved = list(triggers)
            for name, _sql in saved:
                connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
            for _name, sql in saved:
                connection.exec_driver_sql(sql)


@pytest.fixture(autouse=True)
def clean_database() -> Iterator[None]:
    """Every test starts from the migrated, empty schema (after the jobs it caused have run)."""
    yield
    reset_database()


@pytest.fixture(scope="session")
def observer_engine() -> Iterator[sa.Engine]:
    # On SQLite the app's transactions take the write lock at BEGIN; the tests' own session
    # must not, or a test that has read something would block the app's next write.
    engine = make_engine(get_settings().effective_database_url, begin_immediate=False)
    yield engine
    engine.dispose()


@pytest.fixture
def db(observer_engine: sa.Engine) -> Iterator[Session]:
    """A session to look at (and arrange) what the app stored."""
    session = Session(observer_engine, expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def make_client(app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """More browsers (each with its own cookies) on the same app."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        test_client = TestClient(app, base_url="http://testserver")
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)
