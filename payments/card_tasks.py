"""Background jobs of card refunds. Each is idempotent and retries on transient database errors;
waiting for the card processor is the refund's own business (payments.refunds)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from payments import refunds

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 8}


@celery_app.task(name=refunds.SUBMIT_TASK, **_RETRY)
def submit_card_refund(*, refund_id: int) -> str:
    with session_scope() as session:
        return refunds.submit_card_refund(session, refund_id)


@celery_app.task(name="payments.retry_card_refunds", **_RETRY)
def retry_card_refunds() -> int:
    with session_scope() as session:
        return refunds.retry_due_card_refunds(session)


@celery_app.task(name=refunds.SYNC_TASK, **_RETRY)
def sync_card_refunds() -> int:
    with session_scope() as session:
        return refunds.sync_card_refunds(session)
