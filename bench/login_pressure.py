"""Memory and answers of one ``choso serve`` process under a burst of concurrent logins.

Issue 5 measured 40 concurrent anonymous logins taking a process from 0.5 GB to 1.75 GB
(argon2 at 64 MiB each, unbounded). This starts ``choso serve`` (embedded, a temporary SQLite
database) twice — with the password gate as configured by default, and with the gate opened
as wide as the burst (the baseline: as if there were none) — fires the same burst of logins
for unknown emails from many threads, samples the server's resident memory while it runs,
and prints the peak growth, the time taken and the answers (401 checked, 503 refused).

    .venv/bin/python bench/login_pressure.py [--logins 40]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "choso.cli", "--log-level", "WARNING", "serve", "--port", str(port)]
    server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


def burst(port: int, logins: int, pid: int) -> tuple[float, float, Counter[int]]:
    """(peak RSS growth in MiB, seconds, status counts) of ``logins`` concurrent logins."""
    baseline, peak, done = rss_mib(pid), 0.0, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mib(pid))
            time.sleep(0.01)

    def login(index: int) -> int:
        body = {"email": f"nobody{index}@example.vn", "password": "not-the-password"}
        return httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/token", json=body, timeout=120).status_code

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=logins) as pool:
        statuses = Counter(pool.map(login, range(logins)))
    elapsed = time.monotonic() - started
    done.set()
    sampler.join()
    return peak - baseline, elapsed, statuses


def run(label: str, logins: int, extra_env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="choso-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHOSO_")}
        env.update({"CHOSO_DATA_DIR": data_dir, "CHOSO_RUN_SCHEDULER": "false"}, **extra_env)
        env["CHOSO_LOGIN_MAX_FAILURES_PER_IP"] = str(logins * 10)  # measure hashing, not the limit
        port = free_port()
        server = start(env, port)
        try:
            burst(port, 4, server.pid)  # warm up: first requests load code and the database
            growth, elapsed, statuses = burst(port, logins, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    answers = ", ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))
    print(f"{label:<44} peak RSS +{growth:7.1f} MiB   {elapsed:6.2f} s   {answers}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    print(f"{args.logins} concurrent logins for unknown emails, one process, argon2id m=19 MiB t=2 p=1")
    wide = {
        "CHOSO_PASSWORD_HASH_CONCURRENCY": str(args.logins),
        "CHOSO_PASSWORD_HASH_QUEUE": str(args.logins),
    }
    run("baseline: gate as wide as the burst", args.logins, wide)
    run("default gate: 2 at once, 16 waiting", args.logins, {})


if __name__ == "__main__":
    main()
