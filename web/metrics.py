"""What the operations stack sees of the web app: request ids, access logs and ``/metrics``.

* Every request gets a request id (choso.observability: the client's ``X-Request-ID`` when
  sane, else a new one), echoed in the response's ``X-Request-ID`` and carried into the jobs
  the request enqueues; one access-log line per request with its route template, status and
  duration.
* ``/metrics`` (Prometheus text format): requests by method, route template and status, their
  latency, jobs run by task and outcome (choso.observability), and figures read from the
  database at scrape time — jobs waiting in the outbox and the age of the oldest, webhook
  events not yet processed, unclaimed payments, failed jobs in the last hour, account e-mails
  waiting (and retrying, and the oldest's age) and given up in the last hour.
* ``/metrics`` is not public. With ``CHOSO_METRICS_TOKEN`` set it wants
  ``Authorization: Bearer <token>`` (401 otherwise); without it, only a loopback client that
  came through no proxy (no ``X-Forwarded-For``/``Forwarded`` header) is answered, anyone else
  gets a 404 like any missing page. Behind a reverse proxy, set the token.
* With several processes (``choso serve --workers N``, Celery workers) set
  ``PROMETHEUS_MULTIPROC_DIR`` to a shared empty directory: the counters of every process are
  then added up (prometheus-client's multiprocess mode); otherwise each process counts its own.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from choso import observability
from choso.db import new_session, utcnow
from choso.errors import NotAuthenticated, NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market import stats as market_stats
from operations import system
from payments import stats as payments_stats

log = logging.getLogger("choso.access")
REQUESTS = Counter("choso_http_requests", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "choso_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> str:
    """The route template (``/api/v1/orders/{order_id}``), never a raw path: bounded labels. The
    path's segments that are the matched route's parameters are put back as ``{name}``."""
    if scope.get("route") is None:
        return "unmatched"
    names = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    return "/".join(
        f"{{{names[part]}}}" if part in names else part for part in scope.get("path", "").split("/")
    )


class RequestObservability:
    """Pure ASGI middleware (outermost): request id, metrics and the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = headers.get(b"x-request-id")
        request_id = observability.request_id_from(sent.decode("latin-1") if sent is not None else None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *[(k, v) for k, v in message["headers"] if k.lower() != b"x-request-id"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        with observability.request_context(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._observe(scope, status, time.perf_counter() - started)

    @staticmethod
    def _observe(scope: Scope, status: int, seconds: float) -> None:
        method = scope.get("method", "GET") if scope.get("method") in METHODS else "OTHER"
        route = route_of(scope)
        REQUESTS.labels(method, route, str(status)).inc()
        LATENCY.labels(method, route).observe(seconds)
        log.info(
            "%s %s %s %.1f ms",
            method,
            route,
            status,
            seconds * 1000,
            extra={"route": route, "status": status, "duration_ms": round(seconds * 1000, 1)},
        )


class DatabaseFigures(Collector):
    """Gauges read from the database at scrape time (true across every process)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("choso_database_up", "Whether the database answered the scrape's queries.")
        try:
            figures = _figures()
        except Exception:
            log.exception("metrics: database figures unavailable")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, description, value in figures:
            gauge = GaugeMetricFamily(name, description)
            gauge.add_metric([], value)
            yield gauge

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def _figures() -> list[tuple[str, str, float]]:
    with new_session(read_only=True) as session:
        outbox = system.outbox_backlog(session)
        webhooks = payments_stats.webhook_backlog(session)
        waiting = payments_stats.waiting(session)
        hour = utcnow() - timedelta(hours=1)
        failed = sum(row["failures"] for row in system.failures(session, hour, utcnow()))
        emails = market_stats.email_backlog(session, hour, utcnow())
    return [
        (
            "choso_outbox_jobs_waiting",
            "Jobs in the outbox, not yet handed over (or finished).",
            outbox["jobs_waiting"],
        ),
        ("choso_outbox_oldest_seconds", "Age of the oldest job in the outbox.", outbox["oldest_seconds"]),
        (
            "choso_webhook_events_pending",
            "Webhook events received, not yet processed.",
            webhooks["webhooks_pending"],
        ),
        (
            "choso_webhook_events_stale",
            "Webhook events unprocessed for over two minutes.",
            webhooks["webhooks_stale"],
        ),
        (
            "choso_suspense_items_open",
            "Unclaimed payments waiting for an operator.",
            waiting["suspense_items"],
        ),
        ("choso_refunds_pending", "Refunds asked for, not yet sent.", waiting["refunds_pending"]),
        ("choso_job_failures_last_hour", "Jobs that failed in the last hour (all processes).", failed),
        ("choso_emails_waiting", "Account e-mails neither sent nor given up.", emails["emails_waiting"]),
        (
            "choso_emails_retrying",
            "Account e-mails waiting after the SMTP server refused or was down.",
            emails["emails_retrying"],
        ),
        (
            "choso_emails_oldest_seconds",
            "Age of the oldest account e-mail waiting.",
            emails["emails_oldest_seconds"],
        ),
        (
            "choso_emails_failed_last_hour",
            "Account e-mails given up in the last hour.",
            emails["emails_failed"],
        ),
    ]


def _registries() -> list[Any]:
    figures = CollectorRegistry(auto_describe=False)
    figures.register(DatabaseFigures())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
        return [counted, figures]
    return [REGISTRY, figures]


def _allowed(request: Request) -> None:
    token = get_settings().metrics_token
    if token:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise NotAuthenticated(
                N_("A valid API token is required."), headers={"WWW-Authenticate": "Bearer"}
            )
        return
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if proxied or not _loopback(request.client.host if request.client else ""):
        raise NotFound(N_("This page or object does not exist."))


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def metrics(request: Request) -> Response:
    """The Prometheus exposition (see the module's rule on who may read it)."""
    _allowed(request)
    body = b"".join(generate_latest(registry) for registry in _registries())
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def install(app: FastAPI) -> None:
    """Logging in the configured format, the request-id middleware (outermost), ``/metrics``."""
    observability.configure_logging(get_settings().log_format)
    app.add_middleware(RequestObservability)
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
