"""Background jobs of orders. Importing this module also registers the checkout's payment
cause, so that a worker settling a bank transfer for a checkout knows what it pays for."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from choso.db import session_scope
from choso.jobs import celery_app
from market import checkout, orders  # noqa: F401 - checkout registers the payment cause

COMPLETE_TASK = "market.complete_delivered_orders"


@celery_app.task(name=COMPLETE_TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def complete_delivered_orders() -> int:
    """Complete the orders delivered CHOSO_ORDER_AUTOCOMPLETE_DAYS ago (idempotent)."""
    with session_scope() as session:
        return orders.complete_due(session)
