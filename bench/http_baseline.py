"""Baseline HTTP figures for the foundation: latency and throughput of typical requests.

Starts ``choso serve`` in its own process on a free loopback port (embedded defaults in a
temporary folder, demo data loaded, or the database given with --database-url), sends a
bounded number of requests from a few client threads, and prints one line per scenario.

    .venv/bin/python bench/http_baseline.py [--requests 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx
import redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_suffix() -> str:
    return f"{os.getpid()}-{time.monotonic_ns()}"


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    choso = [sys.executable, "-m", "choso.cli", "--log-level", "WARNING"]
    subprocess.run([*choso, "demo"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    server = subprocess.Popen(
        [*choso, "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


def measure(name: str, send: Callable[[httpx.Client], httpx.Response], total: int, concurrency: int) -> None:
    latencies: list[float] = []
    errors = 0

    def worker(count: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=30) as client:
            for _ in range(count):
                started = time.perf_counter()
                response = send(client)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors += 1

    share = [total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, share))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<34} {total:>5} req  {total / elapsed:>7.1f} req/s  "
        f"p50 {quantiles[49] * 1000:>6.1f} ms  p95 {quantiles[94] * 1000:>6.1f} ms  "
        f"p99 {quantiles[98] * 1000:>6.1f} ms  errors {errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per read scenario")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="", help="default: embedded jobs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="choso-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHOSO_")}
        env.update({"CHOSO_DATA_DIR": data_dir, "CHOSO_SECRET_KEY": "bench"})
        if args.database_url:
            env["CHOSO_DATABASE_URL"] = args.database_url
        if args.redis_url:
            # no worker runs here: the demo's welcome jobs go to a queue of their own, dropped after
            env["CHOSO_REDIS_URL"] = args.redis_url
            env["CHOSO_TASK_QUEUE"] = f"choso-bench-{port_suffix()}"
        port = free_port()
        server = start_server(env, port)
        base = f"http://127.0.0.1:{port}"
        try:
            backend = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite (embedded)"
            threads, cores = args.concurrency, os.cpu_count()
            print(f"choso serve, 1 process, {backend}; {threads} client threads; {cores} cores")
            measure("GET /healthz", lambda c: c.get(f"{base}/healthz"), args.requests, args.concurrency)
            measure(
                "GET /api/v1/products (JSON)",
                lambda c: c.get(f"{base}/api/v1/products"),
                args.requests,
                args.concurrency,
            )
            measure(
                "GET /products (HTML page)",
                lambda c: c.get(f"{base}/products"),
                args.requests,
                args.concurrency,
            )
            login = {"email": "lan.nguyen@choso.vn", "password": "ChoSo@2026"}
            # argon2id is deliberately slow; few requests, and under the per-address failure limit
            measure(
                "POST /api/v1/auth/token (argon2id)",
                lambda c: c.post(f"{base}/api/v1/auth/token", json=login),
                max(args.concurrency, args.requests // 10),
                args.concurrency,
            )
        finally:
            server.terminate()
            server.wait(timeout=30)
            if args.redis_url:
                redis.Redis.from_url(args.redis_url).delete(env["CHOSO_TASK_QUEUE"])


if __name__ == "__main__":
    main()
