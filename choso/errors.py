"""Domain errors. The web edge maps each to a 4xx response; none of them is a server fault.

Messages are English message ids (translated where shown); ``params`` fill their
``%(name)s`` placeholders after translation.
"""

from __future__ import annotations

from typing import Any

from choso.i18n import gettext_


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        params: dict[str, Any] | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.params = params or {}
        self.field = field
        self.headers = headers or {}

    def translated(self) -> str:
        """The message in the current locale, placeholders filled."""
        text = gettext_(self.message)
        return text % self.params if self.params else text


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class RateLimited(DomainError):
    status_code = 429
    code = "rate_limited"


class Unavailable(DomainError):
    """Not now, but soon: the caller should retry (with a Retry-After header)."""

    status_code = 503
    code = "unavailable"
