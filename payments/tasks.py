"""Background jobs of payments. Each is idempotent and retries on transient database errors."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from payments import requests, webhooks

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 8}


@celery_app.task(name=webhooks.PROCESS_TASK, **_RETRY)
def process_webhook_event(*, event_id: int) -> str:
    with session_scope() as session:
        return webhooks.process_event(session, event_id)


@celery_app.task(name="payments.expire_payment_requests", **_RETRY)
def expire_payment_requests() -> int:
    with session_scope() as session:
        return requests.expire_due_requests(session)


@celery_app.task(name="payments.requeue_stale_webhook_events", **_RETRY)
def requeue_stale_webhook_events() -> int:
    with session_scope() as session:
        return webhooks.requeue_stale_events(session)
