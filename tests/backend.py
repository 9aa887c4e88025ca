"""Which backend this test run uses, and how to reach and provision it.

``CHOSO_TEST_BACKEND=sqlite`` (default): a SQLite file in a temporary folder and embedded jobs.
``CHOSO_TEST_BACKEND=postgres``: a fresh PostgreSQL database of this run's own, Redis as
broker, and a real Celery worker process (started by the ``celery_worker`` fixture).
"""

from __future__ import annotations

import os
import uuid

import psycopg
from psycopg import sql

BACKEND = os.environ.get("CHOSO_TEST_BACKEND", "sqlite")
RUN_ID = uuid.uuid4().hex[:10]
POSTGRES_ADMIN_URL = os.environ.get(
    "CHOSO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("CHOSO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

if BACKEND not in ("sqlite", "postgres"):
    raise SystemExit(f"CHOSO_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")


def postgres_url(database: str) -> str:
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def create_postgres_database(name: str) -> str:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return postgres_url(name)


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
