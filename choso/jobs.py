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

Outbox rows are claimed by whoever publishes them (see choso.outbox) and the claim holds until
the row is deleted: with Redis once the broker has the job, in embedded mode once the job has
finished. An embedded process that dies mid-job therefore leaves its rows behind, and the next
start runs them again (:func:`recover_embedded_jobs`): embedded mode loses no job either.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from celery import Celery, Task
from celery.schedules import maybe_schedule
from celery.signals import worker_process_init
from sqlalchemy import event, inspect, or_
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import col

from choso import domains, observability
from choso.db import dispose_engine, get_engine, utcnow
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
    """Runs published jobs on threads of the app process (embedded mode). A job that came
    from the outbox keeps its row until it has finished (see recover_embedded_jobs)."""

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="choso-job")
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(
        self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], outbox_id: int | None = None
    ) -> None:
        future = self._executor.submit(self._run, task, args, kwargs, outbox_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    @staticmethod
    def _run(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any], outbox_id: int | None) -> None:
        result = task.apply(args=args, kwargs=kwargs)
        if result.failed():
            # Finished all the same, as a Celery worker acks a failed job: retries are the job's own.
            log.error("job %s failed: %s\n%s", task.name, result.result, result.traceback)
        if outbox_id is not None:
            _delete_outbox_rows([outbox_id], get_engine())

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


# The outbox row being published, if any: the embedded runner deletes it when the job is done.
_publishing_row: ContextVar[int | None] = ContextVar("choso_publishing_outbox_row", default=None)


def dispatch(task: Task, *args: Any, **kwargs: Any) -> None:
    """Publish a job now: to Redis, or to the embedded runner."""
    settings = get_settings()
    if settings.embedded_jobs:
        embedded_runner().submit(task, args, kwargs, outbox_id=_publishing_row.get())
    else:
        kwargs, headers = observability.message_parts(kwargs)  # the request id travels as a header
        # Nobody reads an outbox job's result: storing it would cost the worker a Redis write
        # and a publish per job, and the publisher a subscription to the result's channel.
        task.apply_async(
            args=args, kwargs=kwargs, queue=settings.task_queue, headers=headers, ignore_result=True
        )


_PENDING_KEY = "choso_pending_jobs"


def enqueue_after_commit(session: Session, task_name: str, *args: Any, **kwargs: Any) -> None:
    """Make the job named ``task_name`` part of the session's transaction: it is published once
    the transaction commits, and never if it rolls back (its outbox row rolls back with it).

    Jobs are named, not imported, so that a domain's services and its task module need not
    import each other."""
    # Claimed for the publication right after the commit; the relay takes it only if that
    # never happens (an embedded runner holds it while the job waits and runs).
    settings = get_settings()
    hold = timedelta(seconds=settings.outbox_lease_seconds) if settings.embedded_jobs else RELAY_GRACE
    now = utcnow()
    kwargs = observability.carry(kwargs)  # the request id, restored in the job's logs
    row = JobOutbox(task=task_name, args=list(args), kwargs=kwargs, created_at=now, claimed_until=now + hold)
    session.add(row)
    session.info.setdefault(_PENDING_KEY, []).append((row, task_name, list(args), kwargs))


def task_by_name(name: str) -> Task:
    """The registered task called ``name``; task modules are imported on first need."""
    if name not in celery_app.tasks:
        celery_app.loader.import_default_modules()
    return celery_app.tasks[name]


def _publish(rows: list[tuple[int, str, list[Any], dict[str, Any]]], engine: Engine) -> None:
    """Publish claimed outbox rows. A row the broker took is deleted (an embedded runner
    deletes it when the job has finished); one whose publication failed is released for the
    relay. One published but not deleted is published again later, harmless because jobs are
    idempotent."""
    published, failed = [], []
    for row_id, task_name, args, kwargs in rows:
        token = _publishing_row.set(row_id)
        try:
            dispatch(task_by_name(task_name), *args, **kwargs)
        except Exception:
            # The data is committed; a broker outage must not turn the request into an error.
            log.exception("could not publish job %s (outbox %s); the relay will retry", task_name, row_id)
            failed.append(row_id)
        else:
            published.append(row_id)
        finally:
            _publishing_row.reset(token)
    if published and not get_settings().embedded_jobs:
        _delete_outbox_rows(published, engine)
    if failed:
        _release_claims(failed, engine)


def _delete_outbox_rows(row_ids: list[int], engine: Engine) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(sa.delete(JobOutbox).where(col(JobOutbox.id).in_(row_ids)))
    except Exception:
        log.exception("could not clear outbox rows %s (their jobs will run again)", row_ids)


def _release_claims(row_ids: list[int], engine: Engine) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(JobOutbox).where(col(JobOutbox.id).in_(row_ids)).values(claimed_until=None)
            )
    except Exception:
        log.exception("could not release outbox rows %s (their claim will lapse)", row_ids)


_COMMITTED_KEY = "choso_committed_jobs"


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    outer = session.get_transaction()
    if outer is not None and outer.is_active:
        # SQLAlchemy also calls after_commit when a SAVEPOINT is released; the jobs belong
        # to the outer transaction, which is still open (and may yet roll back).
        return
    rows = session.info.pop(_PENDING_KEY, [])
    if rows:
        # Nothing may be loaded through the session here: the values were kept at enqueue
        # time, and the id (assigned by the flush) is read from the identity map's key.
        pending = [(inspect(row).identity[0], name, args, kwargs) for row, name, args, kwargs in rows]
        session.info.setdefault(_COMMITTED_KEY, []).extend(pending)


@event.listens_for(Session, "after_transaction_end")
def _publish_committed(session: Session, transaction: SessionTransaction) -> None:
    """Publish what the transaction committed, once it has ended: SQLAlchemy calls this after
    the session gave its connection back to the pool (after_commit comes before), so clearing
    or releasing the outbox rows never makes one unit of work hold two connections at once (a
    pool of N connections could otherwise stall with N sessions each waiting for a second).
    What is left pending belonged to a rolled-back (or abandoned) transaction, whose outbox rows
    are gone with it."""
    if transaction.parent is not None:
        return
    session.info.pop(_PENDING_KEY, None)
    committed = session.info.pop(_COMMITTED_KEY, None)
    if committed:
        _publish(committed, session.get_bind())  # type: ignore[arg-type]


# A row is normally published milliseconds after its commit; one older than this was missed.
RELAY_GRACE = timedelta(seconds=60)


def _claim_left_behind(cutoff: datetime, batch: int) -> list[tuple[int, str, list[Any], dict[str, Any]]]:
    """Claim up to ``batch`` unclaimed (or lapsed) rows created before ``cutoff``, in a
    transaction of its own: once it commits, no other relay takes them until the lease lapses.
    On PostgreSQL, concurrent relays skip each other's rows instead of waiting for them."""
    now = utcnow()
    unclaimed = or_(col(JobOutbox.claimed_until).is_(None), col(JobOutbox.claimed_until) <= now)
    candidates = (
        sa.select(JobOutbox.id)
        .where(col(JobOutbox.created_at) <= cutoff, unclaimed)
        .order_by(col(JobOutbox.id))
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    lease = timedelta(seconds=get_settings().outbox_lease_seconds)
    with get_engine().begin() as connection:
        claimed = connection.execute(
            sa.update(JobOutbox)
            .where(col(JobOutbox.id).in_(candidates.scalar_subquery()), unclaimed)
            .values(claimed_until=now + lease)
            .returning(JobOutbox.id, JobOutbox.task, JobOutbox.args, JobOutbox.kwargs)
        ).all()
    return sorted((row.id, row.task, row.args, row.kwargs) for row in claimed)


@celery_app.task(name="choso.relay_outbox")
def relay_outbox(grace_seconds: float = RELAY_GRACE.total_seconds(), batch: int = 500) -> int:
    """Publish outbox rows left behind (broker down at commit, process died). The claim holds
    until each row is published, so two relays never publish the same row. Idempotent."""
    pending = _claim_left_behind(utcnow() - timedelta(seconds=grace_seconds), batch)
    _publish(pending, get_engine())
    return len(pending)


def recover_embedded_jobs() -> int:
    """At the start of an embedded process: run again every job left in the outbox. It was
    published before the last process stopped but had not finished (or never published);
    jobs are idempotent, so one that did finish but was not yet cleared runs harmlessly."""
    with get_engine().begin() as connection:
        connection.execute(sa.update(JobOutbox).values(claimed_until=None))
    total = 0
    while count := relay_outbox(grace_seconds=0):
        total += count
    if total:
        log.warning("re-running %d job(s) that had not finished before the last stop", total)
    return total


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
