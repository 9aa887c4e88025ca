"""Engine and sessions for SQLite (embedded) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlmodel import Session, SQLModel

from choso.settings import get_settings

# Deterministic constraint names on every backend, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    SQLite has no time zones and hands back naive values; comparing those with aware
    ones raises. We store UTC and always return aware UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(engine: Engine, begin_immediate: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (pysqlite's own
        # handling breaks SAVEPOINT and delays BEGIN past the first read).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then
        # writes fails at once with "database is locked" when another writer got in between
        # (SQLite cannot wait there without breaking isolation); IMMEDIATE waits for the
        # lock instead (busy_timeout) and makes read-then-write units of work serializable.
        # In WAL mode readers outside a transaction are still never blocked.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if begin_immediate else "BEGIN")


def make_engine(url: str, *, begin_immediate: bool = True) -> Engine:
    """An engine for ``url``. On SQLite, ``begin_immediate=False`` gives read-only tools
    (reports, tests' observers) transactions that never hold the write lock."""
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        _configure_sqlite(engine, begin_immediate)
        return engine
    # Room for every request thread (about 40) and the job threads. A unit of work holds one
    # connection at a time: its jobs are published (outbox rows cleared) only after the session
    # has given its own back (choso.jobs), so requests cannot exhaust the pool waiting on themselves.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=50)


_engines: dict[bool, Engine] = {}
_engine_lock = threading.RLock()  # re-entered when the read engine is the write engine


def _engine(read_only: bool) -> Engine:
    engine = _engines.get(read_only)
    if engine is None:
        with _engine_lock:
            engine = _engines.get(read_only)
            if engine is None:
                url = get_settings().effective_database_url
                if read_only and not url.startswith("sqlite"):
                    engine = _engine(False)  # one pool: only SQLite needs a separate kind of BEGIN
                else:
                    engine = make_engine(url, begin_immediate=not read_only)
                _engines[read_only] = engine
    return engine


def get_engine() -> Engine:
    return _engine(read_only=False)


def dispose_engine() -> None:
    """Drop the process's engines (after fork, or when tests change the database)."""
    with _engine_lock:
        for engine in set(_engines.values()):
            engine.dispose()
        _engines.clear()


def new_session(*, read_only: bool = False) -> Session:
    """A session for one unit of work. ``read_only`` sessions (safe HTTP requests) do not
    take SQLite's write lock, so page views never queue behind writers; they must not write."""
    return Session(_engine(read_only), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session for one unit of work outside a request (jobs, CLI); rolls back on error."""
    session = new_session()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def check_database() -> None:
    with get_engine().connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def insert_ignore(
    session: Session,
    model: type[SQLModel],
    values: dict[str, Any],
    *,
    conflict_columns: list[str],
    returning: str | None = None,
) -> Any:
    """INSERT a row unless one with the same ``conflict_columns`` exists (race-safe, both
    backends): the get-or-create of rows that many transactions may open at once. With
    ``returning``, that column of the new row, or None when the row already existed."""
    table = model.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).values(values).on_conflict_do_nothing(index_elements=conflict_columns)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = (
            sqlite_insert(table).values(values).on_conflict_do_nothing(index_elements=conflict_columns)
        )
    if returning is None:
        session.connection().execute(statement)
        return None
    return session.connection().execute(statement.returning(table.c[returning])).scalar()


def lock_rows(session: Session, model: type[SQLModel], ids: list[int]) -> None:
    """Lock rows for the rest of the transaction, lowest id first.

    Locks are always taken in one order across the code base — product, order, payment
    request, ledger account — and by ascending id within a table, so that two use cases
    cannot deadlock. On SQLite the whole database is locked at BEGIN IMMEDIATE already.
    """
    if not ids or session.get_bind().dialect.name != "postgresql":
        return
    table = model.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        sa.select(table.c.id).where(table.c.id.in_(sorted(ids))).order_by(table.c.id).with_for_update()
    )
