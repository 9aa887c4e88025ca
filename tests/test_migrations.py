"""Alembic migrations produce exactly the models' schema, on this run's backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from choso import migrate
from choso.db import get_engine, make_engine
from choso.models import metadata
from tests import backend


def schema_differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """A database of its own with nothing in it."""
    if backend.BACKEND == "postgres":
        name = f"choso_mig_{uuid.uuid4().hex[:10]}"
        engine = make_engine(
            backend.create_postgres_database(name).replace("postgresql://", "postgresql+psycopg://")
        )
        yield engine
        engine.dispose()
        backend.drop_postgres_database(name)
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()


def test_migrated_test_database_matches_models() -> None:
    assert schema_differences(get_engine()) == []


def test_fresh_database_upgrade_matches_models_and_downgrades_cleanly(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)
    assert schema_differences(empty_engine) == []
    head = ScriptDirectory.from_config(migrate.alembic_config(empty_engine)).get_current_head()
    assert migrate.current_revision(empty_engine) == head

    command.downgrade(migrate.alembic_config(empty_engine), "base")
    assert set(sa.inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(empty_engine)
    assert schema_differences(empty_engine) == []


def test_every_table_is_created_by_a_migration(empty_engine: sa.Engine) -> None:
    migrate.upgrade(empty_engine)
    tables = set(sa.inspect(empty_engine).get_table_names()) - {"alembic_version"}
    assert tables == set(metadata.tables)


def test_migrations_form_a_single_line() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
