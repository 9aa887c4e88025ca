"""Passwords (argon2id), the gate that bounds password work, and opaque tokens. No database, no HTTP.

argon2id parameters: m = 19 MiB, t = 2, p = 1, the first of OWASP's recommended
configurations (Password Storage Cheat Sheet), about 30–60 ms of one core here; the
library's default (64 MiB, t = 3, p = 4) let 40 concurrent logins take 1.75 GB. Hashes made
with other parameters are replaced at the next successful login (``check_password`` says so).

Passwords are NFC-normalised before hashing, so that the same password typed on keyboards
that compose Vietnamese letters differently still matches; a hash made before that rule is
still accepted (and then replaced).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import secrets
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
)

# Verified against when the account does not exist, so that a login for an unknown email
# costs as much time as one for a known email (no account enumeration by timing).
_DUMMY_HASH = _hasher.hash("choso-timing-equaliser")


def _normalised(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def hash_password(password: str) -> str:
    return _hasher.hash(_normalised(password))


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(password_hash: str | None, password: str) -> tuple[bool, bool]:
    """(matches, needs a new hash). Costs one argon2 verification, two only for a password
    typed in a non-NFC form against a hash of that form made before normalisation."""
    normalised = _normalised(password)
    if _matches(password_hash or _DUMMY_HASH, normalised):
        return password_hash is not None, password_hash is not None and password_needs_rehash(password_hash)
    if password_hash is not None and normalised != password and _matches(password_hash, password):
        return True, True  # hashed before NFC: store the normalised form's hash
    return False, False


def verify_password(password_hash: str | None, password: str) -> bool:
    return check_password(password_hash, password)[0]


def password_needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_hash_memory_promptly() -> None:
    """Have glibc give argon2's 19 MiB buffers back to the system as soon as a hash is done.

    By default glibc raises its mmap threshold after the first such buffer is freed, and from
    then on every thread's arena keeps the 19 MiB it hashed with: a burst of logins leaves the
    process (threads × 19 MiB) larger, however few hashes ran at once. A fixed threshold keeps
    big buffers on mmap, returned on free. Without glibc this does nothing."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError, TypeError):
        pass


class GateFull(Exception):
    """Too many password checks are waiting already; the caller should answer 503."""


class PasswordGate:
    """At most ``slots`` password hashes at once in this process, and at most ``queue``
    requests waiting for one: argon2 is memory- and CPU-bound, so beyond that more
    concurrency only adds memory and latency. A waiter gives up after ``wait_seconds``."""

    def __init__(self, slots: int, queue: int, wait_seconds: float = 10.0) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self._queue = queue
        self._waiting = 0
        self._lock = threading.Lock()
        self._wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            self._wait_for_slot()
        try:
            yield
        finally:
            self._slots.release()

    def _wait_for_slot(self) -> None:
        with self._lock:
            if self._waiting >= self._queue:
                raise GateFull
            self._waiting += 1
        try:
            acquired = self._slots.acquire(timeout=self._wait_seconds)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise GateFull


def new_token(prefix: str) -> str:
    """An unguessable token with a readable prefix (``chs_`` API, ``sess_`` browser)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_digest(token: str) -> str:
    """What we store instead of a token: SHA-256 is enough for 256-bit random secrets."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def signature_matches(secret: str, value: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, value), signature)
