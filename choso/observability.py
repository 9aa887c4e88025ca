"""Logs, request ids and job outcomes, for the people who run Choso.

* Logs are one line per record, as text or as JSON (``CHOSO_LOG_FORMAT=text|json``); every
  record carries the request id of the HTTP request or job it belongs to (``-`` outside both).
* A request id comes from the client's ``X-Request-ID`` when it is sane (1–64 letters, digits,
  ``.``, ``_``, ``:``, ``-``), else it is generated; the response echoes it.
* A job enqueued while a request (or a job) is being handled carries its id in the outbox row,
  as the reserved keyword argument ``_request_id``. Published to Redis, it travels as the
  message header ``choso_request_id`` instead (Celery checks the arguments at publication); run
  in process, the argument is taken out before the task function sees it. Either way the job's
  logging context gets it back: one id follows a checkout from the browser to the jobs it caused.
* Every job run is counted (Prometheus, by task and outcome) and a job that fails is recorded in
  the ``job_failure`` table, in a transaction of its own, for the operators' dashboard.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_failure,
    task_postrun,
    task_prerun,
)
from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter
from sqlmodel import Field, SQLModel

import choso.sandbox  # noqa: F401 - the worker's refusal of live card keys in a sandbox
from choso.db import UTCDateTime, get_engine, utcnow

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KWARG = "_request_id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id_var: ContextVar[str | None] = ContextVar("choso_request_id", default=None)
job_var: ContextVar[str | None] = ContextVar("choso_job", default=None)


def request_id_from(header: str | None) -> str:
    """The client's request id when it is sane, else a new one (pure but for the randomness)."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)


REQUEST_ID_HEADER_NAME = "choso_request_id"


def message_parts(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(arguments, message headers) of a job published to a broker: the request id moves to a header."""
    if REQUEST_ID_KWARG not in kwargs:
        return kwargs, {}
    rest = {k: v for k, v in kwargs.items() if k != REQUEST_ID_KWARG}
    request_id = kwargs[REQUEST_ID_KWARG]
    return rest, ({REQUEST_ID_HEADER_NAME: request_id} if isinstance(request_id, str) else {})


def carry(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A job's keyword arguments, with the current request id when there is one."""
    request_id = request_id_var.get()
    return {**kwargs, REQUEST_ID_KWARG: request_id} if request_id else kwargs


# --- logging --------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the request id and job name on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        record.job = job_var.get() or "-"
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id", "job")


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(
            " ".join(f"%({name})s" for name in JSON_FIELDS),
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    return logging.Formatter(TEXT_FORMAT)


_HANDLER_MARK = "_choso_handler"


def configure_logging(kind: str, *, stream: Any = None, level: int = logging.INFO) -> logging.Handler:
    """One handler of ours on the root logger (replacing an earlier one of ours), in ``kind``
    format; uvicorn's loggers go through it, and its access log gives way to ours."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter(kind))
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False  # web.metrics logs every request itself, with its route and request id
    return handler


def _celery_logging(logger: logging.Logger, **_: Any) -> None:
    from choso.settings import get_settings

    for handler in logger.handlers:
        handler.addFilter(ContextFilter())
        handler.setFormatter(formatter(get_settings().log_format))


after_setup_logger.connect(_celery_logging, weak=False)
after_setup_task_logger.connect(_celery_logging, weak=False)


# --- jobs -----------------------------------------------------------------------------------

JOBS = Counter("choso_jobs", "Jobs run, by task and outcome.", ["task", "outcome"])
JOB_SECONDS = Histogram(
    "choso_job_duration_seconds", "How long jobs ran.", ["task"], buckets=(0.05, 0.25, 1, 5, 30, 120, 600)
)


class JobFailure(SQLModel, table=True):
    """A job that ended in an error: what, when, why, and the request that caused it."""

    __tablename__ = "job_failure"

    id: int | None = Field(default=None, primary_key=True)
    task: str = Field(max_length=120, index=True)
    task_id: str = Field(default="", max_length=64)
    error: str = Field(default="", max_length=500)
    request_id: str | None = Field(default=None, max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


_running: dict[str, tuple[float, Any, Any]] = {}


def _prerun(task_id: str, task: Any, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = kwargs.pop(REQUEST_ID_KWARG, None) if kwargs is not None else None
    request_id = request_id or _header(task)
    tokens = (request_id_var.set(request_id if isinstance(request_id, str) else None), job_var.set(task.name))
    _running[task_id] = (time.monotonic(), *tokens)


def _header(task: Any) -> str | None:
    """The request id a broker message carried (Celery exposes custom headers on the request)."""
    request = getattr(task, "request", None)
    value = getattr(request, REQUEST_ID_HEADER_NAME, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER_NAME
    )
    return value if isinstance(value, str) and _SANE_REQUEST_ID.fullmatch(value) else None


def _postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _running.pop(task_id, None)
    outcome = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}.get(state or "", "other")
    JOBS.labels(task.name, outcome).inc()
    if started is None:
        return
    JOB_SECONDS.labels(task.name).observe(time.monotonic() - started[0])
    try:
        request_id_var.reset(started[1])
        job_var.reset(started[2])
    except ValueError:  # set in another context (never in practice): leave it
        pass


def _failed(sender: Any = None, task_id: str = "", exception: BaseException | None = None, **_: Any) -> None:
    error = "".join(traceback.format_exception_only(exception)).strip() if exception else ""
    try:
        with get_engine().begin() as connection:
            connection.execute(
                JobFailure.__table__.insert().values(  # type: ignore[attr-defined]
                    task=getattr(sender, "name", "?")[:120],
                    task_id=(task_id or "")[:64],
                    error=error[:500],
                    request_id=request_id_var.get(),
                    at=utcnow(),
                )
            )
    except Exception:  # the failure is in the log either way; a database outage must not hide it
        log.exception("could not record the failure of job %s", getattr(sender, "name", "?"))


task_prerun.connect(_prerun, weak=False)
task_postrun.connect(_postrun, weak=False)
task_failure.connect(_failed, weak=False)
