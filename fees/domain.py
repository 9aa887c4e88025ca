"""The fees domain as the kernel sees it: tables, jobs, periodic jobs and demo data."""

from __future__ import annotations

from typing import Any

from choso.domains import Domain, PeriodicJob


def _periodic(_settings: Any) -> list[PeriodicJob]:
    return [
        ("issue-recurring-fee-notices", "fees.issue_recurring_notices", 3600.0),
        ("remind-fee-notices", "fees.record_reminders", 3600.0),
    ]


DOMAIN = Domain(
    name="fees",
    models=("fees.models",),
    tasks=("fees.tasks",),
    periodic=_periodic,
    demo="fees.demo:load_demo",
    demo_rank=40,
    # payments imports it when it first meets a fee notice's request (it registers the handler).
    extra={"payment_causes": ("fees.notices",)},
)
