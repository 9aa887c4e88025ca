"""The matching domain as the kernel sees it: tables, jobs, periodic jobs, commands, demo data."""

from __future__ import annotations

from typing import Any

from choso.domains import Domain, PeriodicJob


def _periodic(settings: Any) -> list[PeriodicJob]:
    return [
        ("matching-round", "matching.run_scheduled_round", settings.matching_round_minutes * 60.0),
        ("matching-expire-proposals", "matching.expire_proposals", 300.0),
    ]


DOMAIN = Domain(
    name="matching",
    models=("matching.models",),
    tasks=("matching.tasks",),
    periodic=_periodic,
    cli=(("match", "matching.cli:app"),),
    demo="matching.demo:load_demo",
    demo_rank=30,
)
