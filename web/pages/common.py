"""Shared helpers of the server-rendered pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from choso.errors import DomainError
from choso.text import strip_control_characters
from web.deps import csrf_token_for
from web.i18n import templates
from web.validation import describe_errors


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    base = {
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token_for(request),
    }
    return templates.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status, headers=headers
    )


def form_errors_from(exc: ValidationError | DomainError) -> dict[str, str]:
    """Errors keyed by form field (the last part of a nested location)."""
    if isinstance(exc, DomainError):
        message = exc.translated()
        return {exc.field or "__all__": message}
    errors: dict[str, str] = {}
    for error in describe_errors(exc.errors()):
        key = error["field"].split(".")[-1] if error["field"] != "body" else "__all__"
        errors.setdefault(key, error["message"])
    return errors


def safe_next(target: str | None, default: str = "/account") -> str:
    """Only same-site paths: a login link must not become an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def form_text(form: Any, name: str, max_length: int = 1000) -> str:
    """A form field as text: no browser sends control characters in a form, so they go."""
    value = form.get(name)
    return strip_control_characters(value).strip()[:max_length] if isinstance(value, str) else ""


def form_password(form: Any, name: str) -> str:
    """A password exactly as typed, as the API takes it: spaces count, nothing is stripped."""
    value = form.get(name)
    return value[:1024] if isinstance(value, str) else ""
