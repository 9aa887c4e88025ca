"""Whole-install sandbox mode (``CHOSO_SANDBOX=true``): simulated bank transfers, test cards, demo
data, and a banner on every page saying so (web/templates/base.html).

Rule: a sandbox never holds live card keys. With ``CHOSO_SANDBOX`` on, a Stripe secret or
publishable key that starts with ``sk_live_``, ``rk_live_`` or ``pk_live_`` stops the web app
and the job worker from starting: real cards must never be charged by a system whose bank
transfers are simulated.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_init

from choso.settings import Settings, get_settings

LIVE_PREFIXES = ("sk_live_", "rk_live_", "pk_live_")


class LiveKeysInSandbox(RuntimeError):
    """Sandbox mode with live Stripe keys: refused at start."""


def refuse_live_keys(settings: Settings) -> None:
    if not settings.sandbox:
        return
    live = [
        name
        for name, value in (
            ("CHOSO_STRIPE_SECRET_KEY", settings.stripe_secret_key),
            ("CHOSO_STRIPE_PUBLISHABLE_KEY", settings.stripe_publishable_key),
        )
        if value.strip().startswith(LIVE_PREFIXES)
    ]
    if live:
        raise LiveKeysInSandbox(
            f"CHOSO_SANDBOX is on but {' and '.join(live)} hold live Stripe keys: refusing to start. "
            "Use test keys (sk_test_/pk_test_) in a sandbox, or turn CHOSO_SANDBOX off."
        )


def _check_worker(**_: Any) -> None:
    refuse_live_keys(get_settings())


worker_init.connect(_check_worker, weak=False)
