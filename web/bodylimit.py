"""The request body limit, counted as the body arrives, on every route.

A ``Content-Length`` can be absent (``Transfer-Encoding: chunked``) or lie, so the only
sound limit counts the bytes handed to the app: past the limit, reading the body raises a
413 (in the API's error shape, or the error page), and nothing more is read. A declared
length over the limit is refused before the first byte is read.

A route that legitimately takes more (photos, bank statements) raises its own limit for its
request, before reading the body: ``allow_body_bytes(request, n)``.
"""

from __future__ import annotations

import re

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LIMIT_SCOPE_KEY = "choso.max_body_bytes"


def allow_body_bytes(request: Request, limit: int) -> None:
    """Let this request's body be up to ``limit`` bytes (call before reading it)."""
    request.scope[LIMIT_SCOPE_KEY] = limit


# Routes that take larger bodies than the app-wide limit (uploads), by path: the limit must be
# known before routing, because the body may be read (a CSRF check of a form) before the route.
_LARGER_BODIES: list[tuple[re.Pattern[str], int]] = []


def allow_larger_bodies(path_pattern: str, limit: int) -> None:
    """Let requests whose path fully matches ``path_pattern`` send up to ``limit`` bytes."""
    _LARGER_BODIES.append((re.compile(path_pattern), limit))


def body_limit_for(path: str, default: int) -> int:
    for pattern, limit in _LARGER_BODIES:
        if pattern.fullmatch(path):
            return max(limit, default)
    return default


def declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    """ASGI middleware: 413 once the body read so far exceeds the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault(LIMIT_SCOPE_KEY, body_limit_for(scope.get("path", ""), self.max_bytes))
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            limit = scope[LIMIT_SCOPE_KEY]
            if received == 0 and (declared_length(scope) or 0) > limit:
                raise HTTPException(status_code=413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, counting_receive, send)
