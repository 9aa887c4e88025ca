"""The card processor of the payments tests: a real localstripe server process, one per run.

Its address and the Stripe settings are in the environment before any job worker starts (the
PostgreSQL run's Celery worker inherits them), and the process itself starts on first use. Its
state survives a stop and a start (payments.localstripe), which is how the "Stripe
unreachable" tests take it away and bring it back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from choso.db import session_scope
from choso.settings import reset_settings
from payments import ledger
from payments.localstripe import LocalStripe, free_port
from tests.conftest import wait_for_jobs

STRIPE_PORT = free_port()
STRIPE_WEBHOOK_SECRET = "whsec_test_choso_cards"
os.environ.update(
    {
        "CHOSO_STRIPE_SECRET_KEY": "sk_test_choso_cards",
        "CHOSO_STRIPE_PUBLISHABLE_KEY": "pk_test_choso_cards",
        "CHOSO_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "CHOSO_STRIPE_API_BASE": f"http://127.0.0.1:{STRIPE_PORT}",
        "CHOSO_REFUND_RETRY_SECONDS": "30",
    }
)
reset_settings()


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    server = LocalStripe(port=STRIPE_PORT).start()
    yield server
    server.stop()


@pytest.fixture
def ledger_clean() -> Iterator[None]:
    """After the test (and the jobs it caused), before the database is emptied: the ledger's
    invariants hold (what ``choso ledger check`` verifies)."""
    yield
    wait_for_jobs()
    with session_scope() as session:
        assert ledger.check(session) == []
