"""Compile the solver's numba kernels ahead of the first real round.

The kernels are cached on disk (``cache=True``), but a fresh install has no cache: the first
round would compile them inside an operator's request (about 10 s on one core, more on a busy
machine). ``make install``, the Docker image and the browser tests run this once instead, so a
round only ever loads compiled code. A kernel whose source changed is compiled again here.
"""

from __future__ import annotations

import time

from matching.generate import generate
from matching.solver import solve_with_stats

# Big enough that every kernel runs (pairs are found and a flow is priced), small enough to be
# instant once compiled.
WARM_UP_SIZE = 60
WARM_UP_SEED = 20261126


def warm_up() -> float:
    """Solve a small generated round; the seconds it took (compiling included, if it had to)."""
    started = time.perf_counter()
    _result, stats = solve_with_stats(generate(WARM_UP_SIZE, WARM_UP_SIZE, WARM_UP_SEED))
    if not stats.pairs:
        raise RuntimeError("the warm-up round found no compatible pairs; the kernels were not all run")
    return time.perf_counter() - started
