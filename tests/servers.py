"""Real ``choso serve`` processes on free loopback ports, for tests that need a real server
(chunked bodies, proxy headers, response headers, a process killed mid-job).

Each server uses this test run's database (and, on the PostgreSQL backend, its Redis queue
unless the caller removes CHOSO_REDIS_URL to run it embedded).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(**overrides: str | None) -> dict[str, str]:
    env = os.environ.copy()
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _wait_until_up(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"choso serve exited early:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):  # noqa: S310 - our loopback server
                return
        except urllib.error.HTTPError:
            return  # it answers (503 only means a dependency is down)
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"choso serve did not come up:\n{server.log()}")


@contextmanager
def running_server(
    log_path: Path, env: dict[str, str] | None = None, module: str = "choso.cli", port: int | None = None
) -> Iterator[Server]:
    """``choso serve`` (``module`` runs the choso CLI) on a free port."""
    port = port or free_port()
    argv = [sys.executable, "-m", module, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env or server_env(), stdout=log_file, stderr=subprocess.STDOUT
        )
    server = Server(port, process, log_path)
    try:
        _wait_until_up(server, timeout=90)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
