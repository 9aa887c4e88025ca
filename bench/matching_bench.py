"""Benchmark of the matching engine on generated Thanh Hóa rounds, beside two baselines.

For each size (default 10,000 × 10,000 and 100,000 × 100,000, seed 1) a fresh process
generates the instance and measures: the solver's wall and CPU time, its peak memory (maxrss
of that process), the number of compatible pairs, the welfare, and whether the result passes
``check``; then, on the same pairs, (i) a greedy baseline (best value first, as much as both
posts allow) and (ii) scipy's HiGHS LP where the pairs fit (``--highs-max-pairs``). Ratios
are printed against the solver: welfare ratio (baseline / optimal) and time ratio.

    .venv/bin/python bench/matching_bench.py [--sizes 10000 100000] [--seed 1]

The machine is shared: the load average is printed before and after each size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def greedy(pairs: Any, n_s: int, q_s: Any, q_d: Any) -> int:
    """Best-value pairs first, each taking what both posts still have."""
    import numpy as np
    from numba import njit

    @njit(cache=False)
    def allocate(order, demand_of, supply, value, left_s, left_d):  # type: ignore[no-untyped-def]
        welfare = 0
        for p in order:
            s, d = supply[p], demand_of[p]
            q = min(left_s[s], left_d[d])
            if q > 0:
                left_s[s] -= q
                left_d[d] -= q
                welfare += q * value[p]
        return welfare

    demand_of = np.repeat(np.arange(len(pairs.indptr) - 1, dtype=np.int32), np.diff(pairs.indptr))
    order = np.argsort(-pairs.value, kind="stable")
    return int(allocate(order, demand_of, pairs.supply, pairs.value.astype(np.int64), q_s.copy(), q_d.copy()))


def highs(pairs: Any, q_s: Any, q_d: Any) -> int:
    import numpy as np
    import scipy.sparse as sp
    from scipy.optimize import linprog

    m = len(pairs.value)
    demand_of = np.repeat(np.arange(len(q_d)), np.diff(pairs.indptr))
    columns = np.arange(m)
    a = sp.vstack(
        [
            sp.csr_matrix((np.ones(m), (pairs.supply, columns)), shape=(len(q_s), m)),
            sp.csr_matrix((np.ones(m), (demand_of, columns)), shape=(len(q_d), m)),
        ]
    ).tocsc()
    bounds = np.concatenate([q_s, q_d]).astype(float)
    solved = linprog(-pairs.value.astype(float), A_ub=a, b_ub=bounds, method="highs")
    if solved.status != 0:
        raise RuntimeError(f"HiGHS: {solved.message}")
    return round(-solved.fun)


def one(size: int, seed: int, highs_max_pairs: int) -> dict[str, Any]:
    """Everything for one size, in this (fresh) process."""
    from matching.check import check
    from matching.columns import columns
    from matching.generate import generate
    from matching.solver import compatible_pairs, solve_with_stats

    figures: dict[str, Any] = {"size": size, "seed": seed, "load_before": os.getloadavg()[0]}
    # A long-running server has the compiled kernels loaded: load them on a tiny round first.
    started = time.perf_counter()
    solve_with_stats(generate(50, 50, seed))
    figures["warmup_s"] = time.perf_counter() - started
    started = time.perf_counter()
    instance = generate(size, size, seed)
    figures["generate_s"] = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    result, stats = solve_with_stats(instance)
    figures["solve_s"] = time.perf_counter() - started
    figures["solve_cpu_s"] = time.process_time() - cpu
    figures["solve_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.update(pairs=stats.pairs, arcs=stats.arcs, flow_solves=stats.flow_solves, pivots=stats.pivots)
    figures["steps_s"] = {step: round(seconds, 2) for step, seconds in stats.seconds.items()}
    figures["welfare_vnd"] = result.welfare_vnd
    figures["matches"] = len(result.matches)
    started = time.perf_counter()
    verdict = check(instance, result)
    figures["check_s"] = time.perf_counter() - started
    figures["check"] = "pass" if verdict.ok and verdict.welfare_vnd == result.welfare_vnd else verdict.message

    cols = columns(instance)
    pairs = compatible_pairs(cols)
    started = time.perf_counter()
    figures["greedy_vnd"] = greedy(pairs, len(cols.supply), cols.supply.qty, cols.demand.qty)
    figures["greedy_s"] = time.perf_counter() - started
    if len(pairs) <= highs_max_pairs:
        started = time.perf_counter()
        figures["highs_vnd"] = highs(pairs, cols.supply.qty, cols.demand.qty)
        figures["highs_s"] = time.perf_counter() - started
    else:
        figures["highs_vnd"] = None
        figures["highs_s"] = f"skipped: {len(pairs):,} pairs > --highs-max-pairs {highs_max_pairs:,}"
    figures["peak_mb_with_baselines"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["load_after"] = os.getloadavg()[0]
    return figures


def report(f: dict[str, Any]) -> None:
    optimum = f["welfare_vnd"]
    size = f"{f['size']:,}"
    print(f"\n== {size} supply × {size} demand posts (seed {f['seed']}), load {f['load_before']:.1f}")
    print(
        f"solver : {f['solve_s']:.2f} s wall, {f['solve_cpu_s']:.2f} s cpu, "
        f"peak {f['solve_peak_mb']:.0f} MB (warm-up {f['warmup_s']:.2f} s); "
        f"{f['pairs']:,} compatible pairs, {f['arcs']:,} in the restricted problem, "
        f"{f['flow_solves']} flow solves, {f['pivots']:,} pivots; welfare {optimum:,} đ; "
        f"{f['matches']:,} matches; check: {f['check']} ({f['check_s']:.2f} s)"
    )
    print(f"         steps: {f['steps_s']}")
    greedy_ratio = f["greedy_vnd"] / optimum if optimum else 1.0
    print(
        f"greedy : welfare {f['greedy_vnd']:,} đ = {greedy_ratio:.4f} of optimal, {f['greedy_s']:.2f} s "
        f"(time ratio {f['greedy_s'] / f['solve_s']:.2f})"
    )
    if f["highs_vnd"] is None:
        print(f"HiGHS  : {f['highs_s']}")
    else:
        ratio = f["highs_vnd"] / optimum if optimum else 1.0
        print(
            f"HiGHS  : welfare {f['highs_vnd']:,} đ = {ratio:.6f} of the solver's, {f['highs_s']:.2f} s "
            f"(time ratio {f['highs_s'] / f['solve_s']:.2f})"
        )
    print(
        f"peak memory with baselines {f['peak_mb_with_baselines']:.0f} MB; load after {f['load_after']:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--highs-max-pairs", type=int, default=2_000_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.highs_max_pairs)))
        return
    print(f"matching benchmark: {os.cpu_count()} cpus, load {os.getloadavg()}")
    ok = True
    for size in args.sizes:
        command = [sys.executable, __file__, "--one", str(size), "--seed", str(args.seed)]
        command += ["--highs-max-pairs", str(args.highs_max_pairs)]
        completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        if completed.returncode:
            print(completed.stderr, file=sys.stderr)
            raise SystemExit(f"size {size} failed")
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
        report(figures)
        ok = ok and figures["check"] == "pass"
    if not ok:
        raise SystemExit("a result failed the check")


if __name__ == "__main__":
    main()
