"""localstripe as a process of ours: the Stripe-compatible server of the tests and the sandbox.

Rule: the server listens on the loopback interface only, on a free port, and keeps its state
in a file of its own that it writes when it stops and reads when it starts, so that a stop and
a start (a "Stripe unreachable" test, a restart of ``choso serve``) keep every intent, charge
and refund. localstripe itself pickles its whole store to one shared ``/tmp`` file on every
write, which is slow once the store grows and mixes up concurrent servers: the child process
below replaces that before it serves.

``choso serve`` in sandbox mode without a Stripe key starts one (:func:`sandbox_stripe`) and
points the settings and localstripe's webhooks at itself. localstripe is a development
dependency: without it the sandbox simply has no card option.
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import logging
import os
import pickle
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from choso.settings import get_settings, reset_settings

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
SANDBOX_SECRET_KEY = "sk_test_choso_sandbox"  # noqa: S105 - localstripe takes any sk_ key
SANDBOX_PUBLISHABLE_KEY = "pk_test_choso_sandbox"


def available() -> bool:
    """Whether localstripe is installed (a development dependency)."""
    return importlib.util.find_spec("localstripe") is not None


def free_port() -> int:
    """A TCP port nobody listens on right now, on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class LocalStripe:
    """One localstripe server process: ``start()``, ``stop()``, and again, keeping its state."""

    def __init__(self, *, port: int | None = None, state_file: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = None if state_file else tempfile.mkdtemp(prefix="choso-localstripe-")
        self.state_file = state_file or Path(self._own_dir or ".") / "state.pickle"
        self.log_file = self.state_file.with_suffix(".log")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> LocalStripe:
        if self.running:
            return self
        command = [sys.executable, "-m", "payments.localstripe", "--port", str(self.port)]
        command += ["--state", str(self.state_file)]
        with self.log_file.open("ab") as log_output:
            self._process = subprocess.Popen(  # noqa: S603 - our own module
                command, stdout=log_output, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"localstripe exited early:\n{self.log_file.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.url}/js.stripe.com/v3/", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"localstripe did not answer on {self.url}")
            time.sleep(0.05)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the server; it writes its state first (SIGTERM is a graceful shutdown)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def register_webhook(self, url: str, secret: str, name: str = "choso") -> None:
        """Have localstripe deliver its events (signed with ``secret``) to ``url``."""
        body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
        request = urllib.request.Request(f"{self.url}/_config/webhooks/{name}", data=body, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass

    def __enter__(self) -> LocalStripe:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


@contextmanager
def sandbox_stripe(*, app_host: str, app_port: int) -> Iterator[LocalStripe | None]:
    """For ``choso serve``: in sandbox mode with no Stripe key, a localstripe server for the
    card option, the settings pointed at it, and its events delivered to this app."""
    settings = get_settings()
    if not settings.sandbox or settings.stripe_secret_key:
        yield None
        return
    if not available():
        log.warning("sandbox without localstripe (pip install -e '.[dev]'): no card payments")
        yield None
        return
    server = LocalStripe(state_file=settings.data_dir.resolve() / "localstripe.pickle").start()
    webhook_secret = "whsec_" + secrets.token_hex(16)
    os.environ.update(
        {
            "CHOSO_STRIPE_API_BASE": server.url,
            "CHOSO_STRIPE_SECRET_KEY": SANDBOX_SECRET_KEY,
            "CHOSO_STRIPE_PUBLISHABLE_KEY": SANDBOX_PUBLISHABLE_KEY,
            "CHOSO_STRIPE_WEBHOOK_SECRET": webhook_secret,
        }
    )
    reset_settings()
    host = HOST if app_host in ("", "0.0.0.0", "::") else app_host  # noqa: S104 - a listening address, read
    server.register_webhook(f"http://{host}:{app_port}/webhooks/stripe", webhook_secret)
    log.warning("sandbox card payments: localstripe on %s (test cards only)", server.url)
    try:
        yield server
    finally:
        server.stop()


def start_sandbox_stripe(*, app_host: str, app_port: int) -> LocalStripe | None:
    """:func:`sandbox_stripe` for a process that just runs until it exits (``choso serve``)."""
    context = sandbox_stripe(app_host=app_host, app_port=app_port)
    server = context.__enter__()
    if server is not None:
        atexit.register(context.__exit__, None, None, None)
    return server


def _die_with_parent() -> None:
    # Linux: the server goes when the process that started it goes, even killed (no orphan).
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# --- the child process ------------------------------------------------------------------------


def _serve(port: int, state_file: Path) -> None:
    """Run localstripe's app on the loopback interface with our state handling (the child)."""
    from aiohttp import web
    from localstripe import resources, server

    store = resources.store
    # No pickling of the whole store on every write (slow, and one /tmp file for all servers).
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    if state_file.exists():
        with state_file.open("rb") as saved:
            dict.update(store, pickle.load(saved))  # noqa: S301 - our own file, written below

    async def save(_app: web.Application) -> None:
        temporary = state_file.with_suffix(".tmp")
        with temporary.open("wb") as output:
            pickle.dump(dict(store), output, protocol=pickle.HIGHEST_PROTOCOL)
        temporary.replace(state_file)

    server.app.on_shutdown.append(save)
    web.run_app(server.app, host=HOST, port=port, access_log=None, print=None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="localstripe on the loopback interface, state kept")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    arguments = parser.parse_args()
    _serve(arguments.port, arguments.state)
