"""Ledger throughput on PostgreSQL: balanced transfers per second with 1 and 8 writers.

Writers are separate processes (as the app's server and worker processes are), each with its
own connection pool, so that the figure is the ledger's and the database's, not one Python
interpreter's lock.

Two account patterns: every transfer touching one shared hot account (the realistic worst
case: every payment credits the same clearing or suspense account), and transfers spread
over 1,000 accounts. The baseline, measured in the same run on the same database, is a
transaction that commits one plain INSERT: the database's own commit ceiling for this many
writers. Afterwards the ledger's invariants are checked (``choso ledger check``).

    .venv/bin/python bench/ledger_bench.py [--transfers 3000] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

Goal (issue 6): >= 500 transfers/s with 8 writers on the hot account, and a clean check.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def create_database(admin_url: str) -> tuple[str, str]:
    name = f"choso_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _writer(task: tuple[str, int]) -> int:
    kind, count = task
    for _ in range(count):
        SCENARIOS[kind]()
    return count


def run(label: str, kind: str, total: int, writers: int) -> float:
    chunks = [total // writers + (1 if i < total % writers else 0) for i in range(writers)]
    context = multiprocessing.get_context("fork")
    with context.Pool(writers, initializer=_fresh_connections) as pool:
        pool.map(_writer, [("noop", 1)] * writers)  # every process connected before the clock starts
        started = time.perf_counter()
        done = sum(pool.map(_writer, [(kind, n) for n in chunks]))
        rate = done / (time.perf_counter() - started)
    print(f"  {label:<44} {writers} writer(s): {rate:8.0f} /s")
    return rate


def _fresh_connections() -> None:
    from choso.db import dispose_engine

    dispose_engine()  # a forked process must not share the parent's connections


def _baseline() -> None:
    from choso.db import get_engine

    with get_engine().begin() as connection:
        connection.exec_driver_sql("INSERT INTO bench_baseline (amount) VALUES (1)")


def _post(debit: str, credit: str) -> None:
    from choso.db import session_scope
    from payments import ledger
    from payments.posting_rules import transfer

    postings = transfer(debit=debit, credit=credit, amount_vnd=random.randint(1, 10**6))
    with session_scope() as session:
        ledger.post(
            session, key=uuid.uuid4().hex, kind="bench", memo="bench", postings=postings, cause_type="bench"
        )
        session.commit()


def _hot() -> None:
    _post(f"bank:{random.randint(1, 1000)}", "suspense")


def _spread() -> None:
    debit, credit = random.sample(range(1, 1001), 2)
    _post(f"bank:{debit}", f"bank:{credit}")


def _noop() -> None:
    from choso.db import check_database

    check_database()


SCENARIOS = {"baseline": _baseline, "hot": _hot, "spread": _spread, "noop": _noop}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=3000)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CHOSO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    args = parser.parse_args()
    name, url = create_database(args.postgres_url)
    os.environ.update({"CHOSO_DATABASE_URL": url, "CHOSO_DATA_DIR": tempfile.mkdtemp(prefix="choso-bench-")})
    try:
        measure(args.transfers)
    finally:
        from choso.db import dispose_engine

        dispose_engine()
        drop_database(args.postgres_url, name)


def measure(total: int) -> None:
    from choso import migrate
    from choso.db import dispose_engine, get_engine, session_scope
    from payments import ledger

    migrate.upgrade()
    with get_engine().begin() as connection:
        connection.exec_driver_sql("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, amount bigint)")
    with session_scope() as session:  # open the accounts first: the runs measure posting only
        ledger.account_ids(session, [f"bank:{i}" for i in range(1, 1001)] + [ledger.SUSPENSE])
        session.commit()
    dispose_engine()

    print(f"PostgreSQL ledger benchmark, {total} transfers per run, load average {os.getloadavg()[0]:.1f}")
    results = {}
    for writers in (1, 8):
        results[("baseline", writers)] = run("baseline: one INSERT per commit", "baseline", total, writers)
        results[("hot", writers)] = run("transfers, one shared hot account", "hot", total, writers)
        results[("spread", writers)] = run("transfers, spread over 1,000 accounts", "spread", total, writers)
    check = subprocess.run(
        [sys.executable, "-m", "choso.cli", "ledger", "check"], capture_output=True, text=True, check=False
    )
    print(f"  choso ledger check: exit {check.returncode}: {check.stdout.strip() or check.stderr.strip()}")
    goal = results[("hot", 8)]
    verdict = "met" if goal >= 500 else "NOT met"
    print(f"  goal >= 500/s with 8 writers on the hot account: {verdict} ({goal:.0f}/s)")


if __name__ == "__main__":
    main()
