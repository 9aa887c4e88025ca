"""Checkouts per second end to end on PostgreSQL + Redis, beside the /healthz rate of the same
server (the ceiling), and an oversell check.

Makes a database and a Celery queue of its own, migrates, starts ``choso serve`` (``--workers``
processes) and a real ``choso worker`` on a free port, arranges a producer, the platform's bank
account and ``--clients`` buyers with API tokens, then:

1. ``GET /healthz`` from the same number of client threads for ``--seconds``: the ceiling;
2. each client, for ``--seconds``: add to cart → checkout (Idempotency-Key) → simulated bank
   transfer (the signed SePay webhook, processed by the worker) → poll the order until it is
   ``paid``. Prints paid checkouts/s and p50/p95 of the whole journey and of the checkout call;
3. all clients at once try to buy the last 20 units of a product, 4 attempts each: exactly 20
   must sell (oversells: units sold beyond the stock, which must be 0).

Every client buys once before anything is timed (first imports, connections, query plans). For
phases 1 and 2 it also prints the CPU time each part of the system spent per health check or
per paid checkout — the web processes, the job worker, the PostgreSQL backends serving the
benchmark's database, and this client — which depends much less than rates on what else the
machine runs, and how many times the clients polled an order before they saw it paid.

    .venv/bin/python bench/checkout_bench.py [--clients 16] [--seconds 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2 as httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
sys.path.insert(0, str(ROOT))
SERVER = "postgresql://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/0"
PRICE = 25_000
LAST_UNITS = 20
POLLS = itertools.count()  # order polls after the transfer, all clients (next() is atomic)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def admin(sql: str) -> None:
    url = SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(sql)
    engine.dispose()


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "choso.cli", "--log-level", "WARNING", *args]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_up(base: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("server did not start")


def arrange(clients: int) -> tuple[list[dict[str, str]], int, int]:
    """Buyers with tokens, a product with ample stock, one with the last units (in this process,
    through the project's own services and rows, on the bench database)."""
    from choso.db import session_scope
    from market import parties, security
    from market.models import DeliveryOption, Organisation, Product, Role, User
    from payments.models import BankAccount

    password_hash = security.hash_password("Bench-password-2026")
    with session_scope() as session:
        session.add(
            BankAccount(
                organisation_id=None, bank_bin="970436", account_number="0011009999999", holder_name="CHO SO"
            )
        )
        farm = Organisation(kind="producer", name="HTX Bench", province_code=38, ward_code=14797)
        session.add(farm)
        session.flush()
        session.add(DeliveryOption(organisation_id=farm.id or 0, offers_delivery=False))
        plenty = Product(
            producer_id=farm.id or 0,
            name="Gạo thơm",
            category="rice",
            unit="kg",
            price_vnd=PRICE,
            stock=10_000_000,
        )
        scarce = Product(
            producer_id=farm.id or 0,
            name="Nem chua",
            category="specialty",
            unit="hộp",
            price_vnd=PRICE,
            stock=LAST_UNITS,
        )
        session.add_all([plenty, scarce])
        users = [
            User(
                email=f"buyer{n}@bench.vn",
                full_name=f"Người mua {n}",
                password_hash=password_hash,
                role=Role.BUYER,
            )
            for n in range(clients)
        ]
        session.add_all(users)
        session.commit()
        tokens = [{"Authorization": f"Bearer {parties.issue_api_token(session, user)[0]}"} for user in users]
        return tokens, plenty.id or 0, scarce.id or 0


# --- CPU accounting: seconds of CPU used by each part of the system during a phase ---------------


def _cpu_of(pid: int, children: bool = True) -> float:
    """utime + stime of a live process (and of its children it has reaped), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    ticks = sum(int(f) for f in fields[11 : 15 if children else 13])  # utime stime [cutime cstime]
    return ticks / CLOCK_TICKS


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's and Celery's worker processes)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


class CpuMeter:
    """CPU seconds of the web server's processes, the job worker's, the database's backends
    serving this benchmark's database (and how many connections it opened), and this client."""

    def __init__(self, database: str, web: int, worker: int) -> None:
        self.database, self.web, self.worker = database, web, worker

    def snapshot(self) -> dict[str, Any]:
        url = SERVER.replace("postgresql://", "postgresql+psycopg://") + "/postgres"
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            pids = connection.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = %(d)s", {"d": self.database}
            ).scalars()
            backends = {pid: _cpu_of(pid, children=False) for pid in pids}
            sessions = connection.exec_driver_sql(
                "SELECT sessions FROM pg_stat_database WHERE datname = %(d)s", {"d": self.database}
            ).scalar_one()
        engine.dispose()
        return {
            "web": sum(_cpu_of(p) for p in _tree(self.web)),
            "worker": sum(_cpu_of(p) for p in _tree(self.worker)),
            "db": backends,
            "connections": sessions,
            "client": time.process_time(),
        }

    @staticmethod
    def report(before: dict[str, Any], after: dict[str, Any], units: int, what: str) -> None:
        database = sum(cpu - before["db"].get(pid, 0.0) for pid, cpu in after["db"].items())
        parts = {
            "web": after["web"] - before["web"],
            "worker": after["worker"] - before["worker"],
            "PostgreSQL": database,
            "client": after["client"] - before["client"],
        }
        detail = ", ".join(f"{name} {seconds / units * 1000:.1f}" for name, seconds in parts.items())
        print(
            f"  CPU per {what}: {sum(parts.values()) / units * 1000:.1f} ms ({detail});"
            f" new database connections {after['connections'] - before['connections']}"
        )


def measure(
    name: str, work: Callable[[httpx.Client, int], list[tuple[float, float]]], clients: int
) -> list[tuple[float, float]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = [
            r for part in pool.map(lambda i: work(httpx.Client(timeout=60), i), range(clients)) for r in part
        ]
    elapsed = time.perf_counter() - started
    journeys = [total for total, _ in results]
    cuts = statistics.quantiles(journeys, n=100) if len(journeys) > 1 else [journeys[0]] * 99
    print(
        f"{name:<46} {len(results):>6} in {elapsed:5.1f} s  {len(results) / elapsed:8.1f}/s"
        f"  p50 {cuts[49] * 1000:7.1f} ms  p95 {cuts[94] * 1000:7.1f} ms"
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=2, help="choso serve processes")
    parser.add_argument("--job-concurrency", type=int, default=2, help="choso worker processes")
    args = parser.parse_args()

    name, queue = f"choso_bench_checkout_{uuid.uuid4().hex[:8]}", f"choso-bench-{uuid.uuid4().hex[:8]}"
    admin(f'CREATE DATABASE "{name}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHOSO_")}
    env.update(
        {
            "CHOSO_DATABASE_URL": f"{SERVER}/{name}",
            "CHOSO_REDIS_URL": REDIS,
            "CHOSO_TASK_QUEUE": queue,
            "CHOSO_SECRET_KEY": "bench-secret",
            "CHOSO_SANDBOX": "true",
            "CHOSO_SEPAY_WEBHOOK_SECRET": "bench-sepay-secret",
            "CHOSO_DATA_DIR": tempfile.mkdtemp(prefix="choso-bench-"),
            "CHOSO_RUN_SCHEDULER": "false",
        }
    )
    os.environ.update(env)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "choso.cli", "db", "upgrade"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tokens, plenty, scarce = arrange(args.clients)
        port = free_port()
        processes.append(start(["serve", "--port", str(port), "--workers", str(args.workers)], env))
        processes.append(start(["worker", f"--concurrency={args.job_concurrency}", "-Q", queue], env))
        base = f"http://127.0.0.1:{port}"
        wait_up(base)
        print(
            f"choso serve ({args.workers} processes) + choso worker ({args.job_concurrency})"
            " on PostgreSQL + Redis;"
            f" {args.clients} clients; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        deadline_of = lambda: time.monotonic() + args.seconds  # noqa: E731
        with ThreadPoolExecutor(args.clients) as pool:  # warm up: first imports, connections, plans
            warm = lambda i: buy_and_pay(httpx.Client(timeout=60), base, tokens[i], plenty, f"bench-warm-{i}")  # noqa: E731
            list(pool.map(warm, range(args.clients)))

        def healthz(client: httpx.Client, _i: int) -> list[tuple[float, float]]:
            out, deadline = [], deadline_of()
            while time.monotonic() < deadline:
                t = time.perf_counter()
                client.get(f"{base}/healthz").raise_for_status()
                out.append((time.perf_counter() - t, 0.0))
            return out

        meter = CpuMeter(name, processes[0].pid, processes[1].pid)
        before = meter.snapshot()
        checks = measure("GET /healthz (the ceiling)", healthz, args.clients)
        meter.report(before, meter.snapshot(), len(checks), "health check")

        def journey(client: httpx.Client, i: int) -> list[tuple[float, float]]:
            out, deadline, n = [], deadline_of(), 0
            while time.monotonic() < deadline:
                n += 1
                out.append(buy_and_pay(client, base, tokens[i], plenty, f"bench-{i}-{n}"))
            return out

        before, polls = meter.snapshot(), next(POLLS)
        results = measure("add → checkout → bank transfer → paid", journey, args.clients)
        meter.report(before, meter.snapshot(), len(results), "paid checkout")
        print(f"  order polls per paid checkout: {(next(POLLS) - polls - 1) / len(results):.2f}")
        calls = statistics.quantiles([c for _, c in results], n=100)
        label = "  the checkout call alone"
        print(f"{label:<46} {'':>29}  p50 {calls[49] * 1000:7.1f} ms  p95 {calls[94] * 1000:7.1f} ms")
        oversell(base, tokens, scarce)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        from choso.db import dispose_engine

        dispose_engine()
        redis.Redis.from_url(REDIS).delete(queue)
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def buy_and_pay(
    client: httpx.Client, base: str, token: dict[str, str], product_id: int, key: str
) -> tuple[float, float]:
    """One buyer's journey; (seconds to paid, seconds of the checkout call)."""
    started = time.perf_counter()
    client.post(
        f"{base}/api/v1/cart/items", json={"product_id": product_id, "quantity": 1}, headers=token
    ).raise_for_status()
    t = time.perf_counter()
    answer = client.post(
        f"{base}/api/v1/checkout",
        json={"expected_total_vnd": PRICE},
        headers={**token, "Idempotency-Key": key},
    )
    checkout_seconds = time.perf_counter() - t
    answer.raise_for_status()
    body = answer.json()
    request_id, order_id = body["payment_request"]["id"], body["orders"][0]["id"]
    client.post(
        f"{base}/api/v1/payment-requests/{request_id}/simulate-transfer", json={}, headers=token
    ).raise_for_status()
    pause = 0.05  # as a pay page would: look again, less and less often (polls cost the server too)
    while True:
        next(POLLS)
        if client.get(f"{base}/api/v1/orders/{order_id}", headers=token).json()["status"] == "paid":
            break
        if time.perf_counter() - started > 60:
            raise RuntimeError(f"order {order_id} not paid within a minute")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.5)
    return time.perf_counter() - started, checkout_seconds


def oversell(base: str, tokens: list[dict[str, str]], product_id: int) -> None:
    """Every client fills its cart with the scarce product, then all check out at once, 4 times."""
    with httpx.Client(timeout=60) as client:
        for token in tokens:
            client.delete(f"{base}/api/v1/cart", headers=token)
    statuses: list[int] = []
    barrier = threading.Barrier(len(tokens))

    def attempt(i: int) -> None:
        with httpx.Client(timeout=60) as client:
            for round_ in range(4):
                client.post(
                    f"{base}/api/v1/cart/items",
                    json={"product_id": product_id, "quantity": 1},
                    headers=tokens[i],
                )
                if round_ == 0:
                    barrier.wait()
                answer = client.post(
                    f"{base}/api/v1/checkout",
                    json={"expected_total_vnd": PRICE},
                    headers={**tokens[i], "Idempotency-Key": f"last-{i}-{round_}"},
                )
                statuses.append(answer.status_code)

    with ThreadPoolExecutor(len(tokens)) as pool:
        list(pool.map(attempt, range(len(tokens))))
    from choso.db import session_scope
    from market.models import Order, OrderLine, Product

    with session_scope() as session:
        stock = session.get_one(Product, product_id).stock
        sold = session.exec(
            sa.select(sa.func.coalesce(sa.func.sum(OrderLine.quantity), 0))
            .join(Order, Order.id == OrderLine.order_id)  # type: ignore[arg-type]
            .where(OrderLine.product_id == product_id)
        ).one()[0]
    oversold = max(0, int(sold) - LAST_UNITS)
    print(
        f"last {LAST_UNITS} units, {len(statuses)} attempts: {statuses.count(201)} sold, "
        f"{statuses.count(409)} × 409, other {len(statuses) - statuses.count(201) - statuses.count(409)};"
        f" stock now {stock}; oversells {oversold}"
    )


if __name__ == "__main__":
    main()
