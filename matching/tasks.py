"""Background jobs of the matching market: the scheduled clearing round and proposal expiry.

Both are idempotent: a scheduled round clears its slot once (however often the job is
delivered), and expiry only closes what is still live and past its deadline.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from matching import proposals, rounds


@celery_app.task(
    name="matching.run_scheduled_round", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def run_scheduled_round() -> int | None:
    with session_scope() as session:
        record = rounds.run_scheduled_round(session)
        return record.id if record else None


@celery_app.task(
    name="matching.expire_proposals", autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def expire_proposals() -> int:
    with session_scope() as session:
        return proposals.expire_due(session)
