"""Background jobs of fees. Each is idempotent and retries on transient database errors."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

import fees.notices  # noqa: F401 - registers the fee_notice cause handler in every worker
from choso.db import session_scope
from choso.jobs import celery_app
from fees import recurring

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 8}


@celery_app.task(name="fees.issue_recurring_notices", **_RETRY)
def issue_recurring_notices() -> int:
    with session_scope() as session:
        return recurring.issue_due(session)


@celery_app.task(name="fees.record_reminders", **_RETRY)
def record_reminders() -> int:
    with session_scope() as session:
        return recurring.record_reminders(session)
