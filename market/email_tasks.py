"""Background jobs of account e-mail (see market.account_email). Each is idempotent."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from market import account_email

_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


@celery_app.task(name=account_email.SEND_TASK, **_RETRY)
def send_email(*, email_id: int) -> str:
    """Send one queued e-mail; a server that does not take it is tried again by retry_emails."""
    with session_scope() as session:
        return account_email.send_email(session, email_id)


@celery_app.task(name="market.retry_emails", **_RETRY)
def retry_emails() -> int:
    """Try again the e-mails whose wait is over; purge old tokens and e-mails. Idempotent."""
    sent = 0
    with session_scope() as session:
        for email_id in account_email.due_emails(session):
            sent += account_email.send_email(session, email_id) in ("sent", "logged")
        account_email.purge(session)
    return sent
