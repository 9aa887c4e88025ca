"""Domain packages plug into the kernel here; the kernel imports no domain by name.

Each domain (``market``, ``payments``, ``matching``…) declares a :class:`Domain` in its own
``domain.py`` and lists it under the ``choso.domains`` entry-point group in pyproject.toml.
The kernel asks this module for every domain's tables, job modules, periodic jobs, command
groups and demo data, so adding a domain never means editing the kernel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "choso.domains"

# (schedule name, task name, seconds between runs); the kernel turns these into beat entries.
PeriodicJob = tuple[str, str, float]


@dataclass(frozen=True)
class Domain:
    name: str
    # Modules whose import defines the domain's tables (for metadata and migrations).
    models: tuple[str, ...] = ()
    # Modules that define Celery tasks (imported by workers and the embedded runner).
    tasks: tuple[str, ...] = ()
    # Periodic jobs; a callable so that intervals can come from settings.
    periodic: Callable[[Any], list[PeriodicJob]] | None = None
    # Command groups: (name, "module:typer_app").
    cli: tuple[tuple[str, str], ...] = ()
    # "module:function" loading demo data; returns lines to print (empty if nothing new).
    demo: str | None = None
    # Demo data of lower ranks loads first (parties before the payments that need them).
    demo_rank: int = 100
    # "module:function(app_host, app_port)" run by `choso serve` before it starts serving
    # (e.g. the sandbox's local card processor).
    serve_hooks: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def resolve(reference: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attribute = reference.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


@cache
def all_domains() -> tuple[Domain, ...]:
    found = [entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)]
    if not found:
        raise RuntimeError(
            f"no Choso domain is installed (entry points {ENTRY_POINT_GROUP!r}); run `pip install -e .`"
        )
    return tuple(sorted(found, key=lambda domain: (domain.demo_rank, domain.name)))


def import_models() -> None:
    for domain in all_domains():
        for module in domain.models:
            importlib.import_module(module)


def task_modules() -> list[str]:
    return [module for domain in all_domains() for module in domain.tasks]


def periodic_jobs(settings: Any) -> list[PeriodicJob]:
    return [job for domain in all_domains() if domain.periodic for job in domain.periodic(settings)]


def run_serve_hooks(*, app_host: str, app_port: int) -> None:
    for domain in all_domains():
        for hook in domain.serve_hooks:
            resolve(hook)(app_host=app_host, app_port=app_port)
