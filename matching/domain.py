"""The matching domain as the kernel sees it: tables, jobs, periodic jobs, commands, demo data."""

from __future__ import annotations

from choso.domains import Domain

DOMAIN = Domain(
    name="matching",
    cli=(("match", "matching.cli:app"),),
    demo_rank=30,
)
