"""Background jobs: one Celery app, two ways to run it.

* ``CHOSO_REDIS_URL`` set: Redis is broker and result backend; ``choso worker`` and
  ``choso beat`` are real Celery processes.
* unset (embedded): the app process runs jobs on a small thread pool and the periodic
  schedule on a scheduler thread, with the same task code, so ``choso serve`` alone is a
  complete system.

Either way a job caused by a database change is written to the outbox in that change's
transaction and published once it commits (:func:`enqueue_after_commit`): a rollback drops
it, a broker outage only delays it (:func:`relay_outbox`). Delivery is at least once (the
relay, ``acks_late``), so every job is idempotent: running it twice acts once.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from celery import Celery, Task
from celery.schedules import maybe_schedule
from celery.signals import worker_process_init
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col, select

from choso import domains
from choso.db import dispose_engine, get_engine, session_scope, utcnow
from choso.outbox import JobOutbox
from choso.settings import Settings, get_settings

log = logging.getLogger(__name__)


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The periodic jobs: run by ``choso beat``, or by the embedded scheduler."""
    schedule: dict[str, dict[str, Any]] = {
        "relay-outbox": {
            "task": "choso.relay_outbox",
            "schedule": timedelta(seconds=settings.outbox_relay_seconds),
        },
    }
    for name, task, seconds in domains.periodic_jobs(settings):
        schedule[name] = {"task": task, "schedule": timedelta(seconds=seconds)}
    return schedule


celery_app = Celery("choso", include=domains.task_modules())


def configure(settings: Settings) -> None:
    """Apply settings to the Celery app (at import, from the environment)."""
    celery_app.conf.update(
        broker_url=settings.redis_url or "memory://",
        result_backend=settings.redis_url or "disabled://",
        task_default_queue=settings.task_queue,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone=settings.timezone,
        task_acks_late=True,  # a job lost with its worker is redelivered (jobs are idempotent)
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=timedelta(days=1),
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": 3600},
        beat_schedule=beat_schedule(settings),
    )


configure(get_settings())


@worker_process_init.connect
def _fresh_engine_after_fork(**_: Any) -> None:
    # A forked worker child must not reuse the parent's database connections.
    dispose_engine()


class EmbeddedRunner:
    """Runs published jobs on threads of the app process (embedded mode)."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="choso-job")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        future = self._executor.submit(self._run, task, args, kwargs)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    @staticmethod
    def _run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        result = task.apply(args=args, kwargs=kwargs)
        if result.failed():
            log.error("job %s failed: %s\n%s", task.name, result.result, result.traceback)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait for every job submitted so far (and any they submit); True if all finished."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._futures)
            if not pending:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait(pending, timeout=remaining)


_runner: EmbeddedRunner | None = None
_runner_lock = threading.Lock()


def embedded_runner() -> EmbeddedRunner:
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = EmbeddedRunner(get_settings().embedded_job_threads)
        return _runner


def dispatch(task: Task, *args: Any, **kwargs: Any) -> None:
    """Publish a job now: to Redis, or to the embedded runner."""
    settings = get_settings()
    if settings.embedded_jobs:
        embedded_runner().submit(task, args, kwargs)
    else:
        task.apply_async(args=args, kwargs=kwargs, queue=settings.task_queue)


_PENDING_KEY = "choso_pending_jobs"


def enqueue_after_commit(session: Session, task_name: str, *args: Any, **kwargs: Any) -> None:
    """Make the job named ``task_name`` part of the session's transaction: it is published once
    the transaction commits, and never if it rolls back (its outbox row rolls back with it).

    Jobs are named, not imported, so that a domain's services and its task module need not
    import each other."""
    row = JobOutbox(task=task_name, args=list(args), kwargs=kwargs)
    session.add(row)
    session.info.setdefault(_PENDING_KEY, []).append((row, task_name, list(args), kwargs))


def task_by_name(name: str) -> Task:
    """The registered task called ``name``; task modules are imported on first need."""
    if name not in celery_app.tasks:
        celery_app.loader.import_default_modules()
    return celery_app.tasks[name]


def _publish(rows: list[tuple[int, str, list[Any], dict[str, Any]]], engine: Engine) -> None:
    """Publish outbox rows, then delete those that went out. A row whose publication failed
    stays for the relay; one published but not deleted is published again later, which is
    harmless because jobs are idempotent."""
    published = []
    for row_id, task_name, args, kwargs in rows:
        try:
            dispatch(task_by_name(task_name), *args, **kwargs)
        except Exception:
            # The data is committed; a broker outage must not turn the request into an error.
            log.exception("could not publish job %s (outbox %s); the relay will retry", task_name, row_id)
        else:
            published.append(row_id)
    if published:
        try:
            with engine.begin() as connection:
                connection.execute(sa.delete(JobOutbox).where(col(JobOutbox.id).in_(published)))
        except Exception:
            log.exception("could not clear published outbox rows %s", published)


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING_KEY, [])
    if rows:
        # Nothing may be loaded through the session here: the values were kept at enqueue
        # time, and the id (assigned by the flush) is read from the identity map's key.
        pending = [(inspect(row).identity[0], name, args, kwargs) for row, name, args, kwargs in rows]
        _publish(pending, session.get_bind())  # type: ignore[arg-type]


@event.listens_for(Session, "after_transaction_end")
def _drop_unpublished(session: Session, transaction: SessionTransaction) -> None:
    # After a commit the list is already empty; what is left belonged to a rolled-back
    # (or abandoned) transaction, whose outbox rows are gone with it.
    if transaction.parent is None:
        session.info.pop(_PENDING_KEY, None)


# A row is normally deleted milliseconds after its commit; one older than this was missed.
RELAY_GRACE = timedelta(seconds=60)


@celery_app.task(name="choso.relay_outbox")
def relay_outbox(grace_seconds: float = RELAY_GRACE.total_seconds(), batch: int = 500) -> int:
    """Publish outbox rows left behind (broker down at commit, process died). Idempotent."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    with session_scope() as session:
        rows = session.exec(
            select(JobOutbox)
            .where(JobOutbox.created_at <= cutoff)
            .order_by(col(JobOutbox.id))
            .limit(batch)
            .with_for_update(skip_locked=True)  # two relays never take the same rows (PostgreSQL)
        ).all()
        pending = [(row.id or 0, row.task, row.args, row.kwargs) for row in rows]
        session.rollback()  # release the rows' locks before publishing
    _publish(pending, get_engine())
    return len(pending)


class EmbeddedScheduler:
    """Runs the beat schedule inside the app process (embedded mode)."""

    def __init__(self, schedule: dict[str, dict[str, Any]], tick_seconds: float = 5.0) -> None:
        self._entries = {
            name: maybe_schedule(entry["schedule"], app=celery_app) for name, entry in schedule.items()
        }
        self._tasks = {name: entry["task"] for name, entry in schedule.items()}
        now = celery_app.now()
        self._last_run = dict.fromkeys(schedule, now)
        self._tick = tick_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="choso-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def run_due(self) -> list[str]:
        ran = []
        for name, entry in self._entries.items():
            due, _next = entry.is_due(self._last_run[name])
            if due:
                self._last_run[name] = celery_app.now()
                dispatch(task_by_name(self._tasks[name]))
                ran.append(name)
        return ran

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.run_due()
            except Exception:
                log.exception("embedded scheduler tick failed")


def run_worker(argv: list[str]) -> None:
    celery_app.worker_main(["worker", *argv])


def run_beat(argv: list[str]) -> None:
    celery_app.start(["beat", *argv])
