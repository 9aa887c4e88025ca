"""A real SMTP server for the tests (aiosmtpd), on a free loopback port chosen at import.

tests/conftest.py points ``CHOSO_SMTP_*`` at it before any Choso module (or the Celery worker)
reads its settings, and keeps it running for the whole run; every message the app sends is
kept here, parsed, for the tests to read. It can be stopped and started again on the same
port, to play a mail server that is down.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

_LINK = re.compile(r"https?://[^\s/]+(/(?:password/reset|verify-email)/[A-Za-z0-9_\-]+)")


def link_in(message: EmailMessage) -> str:
    """The path of the message's reset or verification link, read from its plain-text part."""
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    match = _LINK.search(text)
    assert match, text
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Keep:
    def __init__(self, sink: MailSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._sink.lock:
            self._sink.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, port: int) -> None:
        self.port = port
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._controller: Controller | None = None

    def start(self) -> None:
        # decode_data=False keeps the raw bytes: the message is parsed as a mail client would.
        self._controller = Controller(_Keep(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [message for rcpt, message in self.messages if address in rcpt]

    def wait_for(self, address: str, count: int = 1, timeout: float = 30.0) -> list[EmailMessage]:
        """The messages delivered to ``address``, once there are at least ``count``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.to(address)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} e-mail(s) to {address} expected, {len(found)} arrived")
            time.sleep(0.05)
