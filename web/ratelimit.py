"""Per-client-address rate limits for public, anonymous endpoints (the open-data API).

Counts live in Redis when CHOSO_REDIS_URL is set, so every web process shares them; in
embedded mode (one process) they live in memory. Safe requests never write to the database
(a rule of this app), which is why these counters are not in the ``rate_limit`` table. If
Redis cannot be reached the request is let through: open data is not worth an outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import lru_cache

from fastapi import Request
from limits import RateLimitItemPerMinute, storage, strategies

from choso.errors import RateLimited
from choso.i18n import N_
from choso.settings import get_settings
from web.deps import client_ip

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _limiter(redis_url: str | None) -> strategies.MovingWindowRateLimiter:
    store = storage.storage_from_string(redis_url) if redis_url else storage.MemoryStorage()
    return strategies.MovingWindowRateLimiter(store)


def per_minute(scope: str, limit: Callable[[], int]) -> Callable[[Request], None]:
    """A dependency allowing ``limit()`` requests per client address per minute to ``scope``."""

    def dependency(request: Request) -> None:
        settings = get_settings()
        item = RateLimitItemPerMinute(limit())
        keys = (settings.task_queue, scope, client_ip(request))
        limiter = _limiter(settings.redis_url)
        try:
            allowed = limiter.hit(item, *keys)
            reset = limiter.get_window_stats(item, *keys).reset_time if not allowed else 0.0
        except Exception:
            log.exception("rate limit store unreachable; letting the request through")
            return
        if not allowed:
            retry = max(1, math.ceil(reset - time.time()))
            raise RateLimited(N_("Too many requests. Try again later."), headers={"Retry-After": str(retry)})

    return dependency
