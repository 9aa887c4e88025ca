"""Background jobs of reconciliation. Each is idempotent and retries on transient database errors."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from payments import statement_import, statement_inbox, statements

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 8}


@celery_app.task(name=statements.IMPORT_TASK, **_RETRY)
def import_statement(*, statement_id: int) -> str:
    return statement_import.run_import(statement_id)


@celery_app.task(name="payments.scan_statement_inbox", **_RETRY)
def scan_statement_inbox() -> dict[str, int]:
    with session_scope() as session:
        result = statement_inbox.scan(session)
    return {"queued": result.queued, "already_known": result.already_known, "rejected": result.rejected}


@celery_app.task(name="payments.requeue_stale_statements", **_RETRY)
def requeue_stale_statements() -> int:
    """Queue again the imports that stopped (a worker killed mid-way, a job lost by the broker).
    Harmless for one merely slow: every phase skips what is done and locks what it does."""
    with session_scope() as session:
        return statement_import.requeue_stale(session)


@celery_app.task(name="payments.reconcile_previous_day", **_RETRY)
def reconcile_previous_day() -> int:
    from payments import recon_reports

    with session_scope() as session:
        return recon_reports.reconcile_previous_day(session)
