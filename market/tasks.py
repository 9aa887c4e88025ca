"""Background jobs of the market. Each is idempotent (see choso.jobs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from market import notifications, parties


@celery_app.task(
    name="market.deliver_notification",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def deliver_notification(*, user_id: int, kind: str, params: dict[str, Any], dedupe_key: str) -> bool:
    with session_scope() as session:
        return notifications.deliver(
            session, user_id=user_id, kind=kind, params=params, dedupe_key=dedupe_key
        )


@celery_app.task(name="market.purge_expired_credentials")
def purge_expired_credentials() -> int:
    with session_scope() as session:
        return parties.purge_expired_credentials(session)


@celery_app.task(
    name="market.notify_organisation",
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def notify_organisation(*, organisation_id: int, kind: str, params: dict[str, Any], dedupe_key: str) -> int:
    with session_scope() as session:
        return notifications.deliver_to_organisation(
            session, organisation_id=organisation_id, kind=kind, params=params, dedupe_key=dedupe_key
        )
