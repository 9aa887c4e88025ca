"""One error shape for the API, friendly pages for browsers, and never a bare 500.

API errors: ``{"error": {"code": ..., "message": ..., "field": ..., "details": [...]}}``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from choso.errors import DomainError
from choso.i18n import N_, gettext_
from web.deps import LoginRequired, PageReauthenticationRequired
from web.pages.common import render, safe_next
from web.validation import describe_errors

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: ("bad_request", N_("The request is not valid.")),
    401: ("not_authenticated", N_("Please log in first.")),
    403: ("forbidden", N_("Your role does not allow this.")),
    404: ("not_found", N_("This page or object does not exist.")),
    405: ("method_not_allowed", N_("This method is not allowed here.")),
    413: ("too_large", N_("The request is too large.")),
    415: ("unsupported_media_type", N_("This content type is not supported.")),
    422: ("invalid_input", N_("Some fields are not valid.")),
    429: ("rate_limited", N_("Too many requests. Try again later.")),
    503: ("unavailable", N_("The service is busy. Please try again in a moment.")),
    500: ("internal_error", N_("Something went wrong on our side. It has been logged.")),
}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/")) or request.url.path == "/healthz"


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if wants_json(request):
        body: dict[str, Any] = {"code": code, "message": message}
        if field:
            body["field"] = field
        if details:
            body["details"] = details
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    context = {"status": status, "message": message, "details": details or []}
    return render(request, "error.html", context, status=status, headers=headers)


async def _domain_error(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, LoginRequired) and not wants_json(request):
        return RedirectResponse(f"/login?next={quote(_this_page(request))}", status_code=303)
    if isinstance(exc, PageReauthenticationRequired) and not wants_json(request):
        return _ask_for_password(request, exc)
    message = exc.translated()
    return error_response(request, exc.status_code, exc.code, message, field=exc.field, headers=exc.headers)


def _this_page(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _ask_for_password(request: Request, exc: DomainError) -> Response:
    """A page view goes to the re-authentication page and comes back; a form sent without a
    recent password gets that page at once (401), returning to the page the form was on."""
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(f"/reauth?next={quote(_this_page(request))}", status_code=303)
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc == request.url.netloc
    target = safe_next(referer.path + (f"?{referer.query}" if referer.query else "") if same_site else None)
    context = {"next": target, "error": exc.translated()}
    return render(request, "reauth.html", context, status=401)


def status_error(
    request: Request,
    status: int,
    *,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error response for an HTTP status, with its standard code and message."""
    code, message = _HTTP_MESSAGES.get(status, ("http_error", N_("The request is not valid.")))
    return error_response(request, status, code, gettext_(message), details=details, headers=headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    return status_error(request, 422, details=describe_errors(exc.errors()))


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return status_error(request, exc.status_code, headers=dict(exc.headers) if exc.headers else None)


async def _unstorable_data(request: Request, exc: DataError) -> Response:
    # Validation should have caught it; if some value still reaches the database in a form it
    # cannot store, it is the caller's data at fault, and the transaction was rolled back.
    log.warning("database refused data on %s %s: %s", request.method, request.url.path, exc.orig)
    return status_error(request, 422)


async def _database_unavailable(request: Request, exc: OperationalError) -> Response:
    # Lock timeouts and lost connections: nothing was changed (the transaction rolled back),
    # and trying again later is the right answer, so say that instead of a 500.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return status_error(request, 503, headers={"Retry-After": "2"})


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return status_error(request, 500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _unstorable_data)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
