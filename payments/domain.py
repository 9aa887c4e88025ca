"""The payments domain as the kernel sees it: tables, jobs, periodic jobs, commands, demo data."""

from __future__ import annotations

from typing import Any

from choso.domains import Domain, PeriodicJob


def _periodic(_settings: Any) -> list[PeriodicJob]:
    return [
        ("expire-payment-requests", "payments.expire_payment_requests", 60.0),
        ("requeue-stale-webhook-events", "payments.requeue_stale_webhook_events", 60.0),
        ("retry-card-refunds", "payments.retry_card_refunds", 15.0),
        ("sync-card-refunds", "payments.sync_card_refunds", 60.0),
        ("scan-statement-inbox", "payments.scan_statement_inbox", 60.0),
        ("requeue-stale-statements", "payments.requeue_stale_statements", 120.0),
        ("reconcile-previous-day", "payments.reconcile_previous_day", 3600.0),
    ]


DOMAIN = Domain(
    name="payments",
    models=("payments.models", "payments.statement_models"),
    tasks=("payments.tasks", "payments.card_tasks", "payments.recon_tasks"),
    periodic=_periodic,
    cli=(
        ("ledger", "payments.ledger_cli:app"),
        ("vietqr", "payments.vietqr_cli:app"),
        ("recon", "payments.recon.cli:app"),
    ),
    demo_rank=20,
    serve_hooks=("payments.localstripe:start_sandbox_stripe",),
)
