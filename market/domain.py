"""The market domain as the kernel sees it: tables, jobs, periodic jobs, demo data."""

from __future__ import annotations

from typing import Any

from choso.domains import Domain, PeriodicJob


def _periodic(_settings: Any) -> list[PeriodicJob]:
    return [
        ("purge-expired-credentials", "market.purge_expired_credentials", 3600.0),
        ("complete-delivered-orders", "market.complete_delivered_orders", 3600.0),
        ("retry-emails", "market.retry_emails", 15.0),
    ]


DOMAIN = Domain(
    name="market",
    models=("market.models", "market.totp_models", "market.account_models"),
    tasks=("market.tasks", "market.order_tasks", "market.email_tasks"),
    periodic=_periodic,
    cli=(("user", "market.cli:user_app"),),
    demo="market.demo:load_demo",
    demo_rank=10,
)
