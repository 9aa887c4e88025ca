"""The FastAPI application: JSON API, pages, static files, health check."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

import redis
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from choso import jobs, migrate, sandbox
from choso.db import check_database
from choso.i18n import current_locale, negotiate_locale
from choso.settings import get_settings
from web import api, metrics, pages, webhooks
from web.api.schemas import HealthOut
from web.bodylimit import BodySizeLimit, body_limit_for
from web.deps import CSRF_COOKIE, cookies_secure, new_csrf_seed, read_cookie, set_cookie
from web.errors import install_error_handlers, status_error
from web.i18n import LOCALE_COOKIE, templates

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
# No inline scripts or styles anywhere: everything comes from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI (vendored, same origin) styles some elements inline; its scripts are still only ours.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# Browser features no page of ours uses; geolocation may serve address forms later.
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(self), payment=(), usb=(), serial=(), bluetooth=(), "
    "hid=(), midi=(), magnetometer=(), gyroscope=(), accelerometer=(), display-capture=()"
)
HSTS = "max-age=63072000; includeSubDomains"
DOCS_PATH = "/api/docs"
OPENAPI_PATH = "/api/openapi.json"


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    scheduler = None
    if settings.embedded_jobs:
        # Embedded mode is one process: it keeps its own schema current, runs again the jobs
        # the previous process had not finished, and runs the schedule.
        await run_in_threadpool(migrate.upgrade)
        await run_in_threadpool(jobs.recover_embedded_jobs)
        if settings.run_scheduler:
            scheduler = jobs.EmbeddedScheduler(jobs.beat_schedule(settings))
            scheduler.start()
    try:
        yield
    finally:
        if scheduler is not None:
            scheduler.stop()
        if settings.embedded_jobs:
            await run_in_threadpool(jobs.embedded_runner().drain, 30.0)


async def locale_and_csrf_cookie(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Per request: the locale, the CSRF seed, an early refusal of declared-too-large bodies
    (bodies are also counted as they arrive: web.bodylimit), and security headers."""
    is_api = request.url.path.startswith("/api/")
    locale = negotiate_locale(
        request.query_params.get("lang"),
        read_cookie(request, LOCALE_COOKIE),
        request.headers.get("accept-language") if is_api else None,
        get_settings().default_locale,
    )
    token = current_locale.set(locale)
    request.state.user = None
    request.state.credential = None
    seed = read_cookie(request, CSRF_COOKIE)
    fresh_seed = None if seed and 16 <= len(seed) <= 64 else new_csrf_seed()
    request.state.csrf_seed = fresh_seed or seed
    try:
        if _declared_length(request) > body_limit_for(request.url.path, get_settings().max_body_bytes):
            response = status_error(request, 413)
        else:
            response = await call_next(request)
    finally:
        current_locale.reset(token)
    if fresh_seed and not is_api:
        set_cookie(request, response, CSRF_COOKIE, fresh_seed)
    _security_headers(request, response, locale)
    return response


def _security_headers(request: Request, response: Response, locale: str) -> None:
    headers = response.headers
    headers.setdefault("Content-Language", locale)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    policy = DOCS_CONTENT_SECURITY_POLICY if request.url.path == DOCS_PATH else CONTENT_SECURITY_POLICY
    headers.setdefault("Content-Security-Policy", policy)
    if cookies_secure(request):  # served over HTTPS: browsers must never come back over http
        headers.setdefault("Strict-Transport-Security", HSTS)


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    # One pooled client per URL: a health check every few seconds must not open a connection each time.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def _broker_status() -> str:
    settings = get_settings()
    if settings.embedded_jobs:
        return "embedded"
    try:
        _redis_client(settings.redis_url or "").ping()
        return "ok"
    except redis.RedisError:
        return "unreachable"


def _database_status() -> str:
    try:
        check_database()
        return "ok"
    except Exception:  # any driver error means the same thing here: not serving
        log.exception("health check: database unreachable")
        return "unreachable"


def create_app() -> FastAPI:
    sandbox.refuse_live_keys(get_settings())  # a sandbox never holds live card keys
    app = FastAPI(
        title="Chợ Số API",
        version="1",
        description="The cashless marketplace of Thanh Hóa: parties, catalogue, orders and payments.",
        docs_url=None,  # served below from vendored files, not from a CDN
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
        lifespan=lifespan,
    )
    # Bodies are counted as they arrive, chunked or not, on every route: 413 past the limit
    # (inside the locale middleware, so that the 413 is translated and in the usual shape).
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)
    app.middleware("http")(locale_and_csrf_cookie)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(webhooks.router)
    app.include_router(pages.router)

    @app.get(DOCS_PATH, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        context = {"title": f"{app.title} — docs", "openapi_url": OPENAPI_PATH}
        return templates.TemplateResponse(request, "api_docs.html", context)

    @app.get(
        "/healthz",
        response_model=HealthOut,
        tags=["health"],
        responses={503: {"model": HealthOut, "description": "Database or broker unreachable"}},
    )
    def healthz() -> JSONResponse:
        """Database and broker reachability; 503 when either is down."""
        database, broker = _database_status(), _broker_status()
        healthy = database == "ok" and broker in ("ok", "embedded")
        body = HealthOut(status="ok" if healthy else "degraded", database=database, broker=broker)
        return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)

    metrics.install(app)  # request ids, access log, /metrics (outermost middleware)
    return app
