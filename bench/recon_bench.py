"""Reconciliation benchmark: `choso recon match` on a generated statement, against the truth.

Generates (once per data folder) a messy statement of --lines lines with as many expected
payments (`choso recon generate`), runs `choso recon match` on its CSV form as a separate
process and reports wall time, lines per second, peak memory (the child's max RSS) and
precision/recall against the ground truth. In the same run, a pandas exact merge (memo equals
reference) is the baseline, for time and recall; then the CAMT.053 form of a smaller statement
(--camt-lines) is matched the same way. A calibration loop shows how fast this machine's core
is, since shared machines vary a lot.

    .venv/bin/python bench/recon_bench.py [--lines 1000000] [--camt-lines 100000] [--seed 2026]
                                          [--data DIR]

Precision: of the lines assigned to a reference by a code (matched/underpaid/overpaid), the
share assigned to the reference the payer meant. Recall: of the lines carrying a recoverable
code (exactly one complete code, however split or cased; not a repeat of an earlier line), the
share assigned to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULE_ONE = {"matched", "underpaid", "overpaid"}


def choso(*args: str) -> list[str]:
    return [sys.executable, "-m", "choso.cli", "--log-level", "WARNING", "recon", *args]


def measured(command: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS (MB) and standard output of a child process.

    CPU time is reported beside wall time because on a shared machine the child may get only a
    fraction of a core."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{' '.join(command)} failed: {err.read().decode()}")
        return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode()


def generate(folder: Path, lines: int, seed: int, *, camt: bool) -> Path:
    if not (folder / "truth.jsonl").exists():
        flags = [] if camt else ["--no-camt"]
        command = choso(
            "generate", "--lines", str(lines), "--seed", str(seed), "--out-dir", str(folder), *flags
        )
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder


def read_truth(folder: Path) -> list[dict]:
    with (folder / "truth.jsonl").open(encoding="utf-8") as stream:
        return [row for row in map(json.loads, stream) if "line" in row]


def score(output: Path, truth: list[dict]) -> dict[str, float]:
    assigned = correct = suggested = suggested_right = same_category = found = 0
    recoverable = sum(1 for row in truth if row["recoverable"])
    with output.open(encoding="utf-8") as stream:
        for row, true in zip(map(json.loads, stream), truth, strict=False):
            same_category += row["category"] == true["category"]
            if row["category"] in RULE_ONE:
                assigned += 1
                right = true["recoverable"] and row["reference"] == true["reference"]
                correct += right
                found += right
            elif row["category"] == "suggested":
                suggested += 1
                suggested_right += row["reference"] == true["reference"]
    return {
        "precision": correct / assigned if assigned else 1.0,
        "recall": found / recoverable if recoverable else 1.0,
        "recoverable": recoverable,
        "agreement": same_category / len(truth),
        "suggested": suggested,
        "suggested_right": suggested_right / suggested if suggested else 1.0,
    }


def pandas_baseline(folder: Path) -> None:
    """Run in a child process: exact merge of memo and reference; prints its figures as JSON."""
    import pandas as pd

    started = time.perf_counter()
    statement = pd.read_csv(folder / "statement.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    expected = pd.read_csv(folder / "expected.csv", dtype=str, keep_default_na=False)
    statement["line"] = range(1, len(statement) + 1)
    statement["memo"] = statement["description"].str.strip()
    merged = statement.merge(expected[["reference"]], left_on="memo", right_on="reference", how="inner")
    elapsed = time.perf_counter() - started
    truth = pd.DataFrame(read_truth(folder))
    joined = merged[["line", "reference"]].merge(truth, on="line", suffixes=("", "_true"))
    right = joined[(joined["reference"] == joined["reference_true"]) & joined["recoverable"]]
    recoverable = int(truth["recoverable"].sum())
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "recall": len(right) / recoverable,
                "precision": len(right) / len(merged) if len(merged) else 1.0,
            }
        )
    )


def calibration() -> float:
    started = time.process_time()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.process_time() - started


def match(folder: Path, statement: str) -> tuple[Path, float, float, float]:
    out = folder / f"out-{statement}.jsonl"
    command = choso(
        "match", str(folder / statement), "--expected", str(folder / "expected.csv"), "--out", str(out)
    )
    return out, *measured(command)[:3]


def report(label: str, lines: int, run: tuple[Path, float, float, float], folder: Path) -> None:
    out, seconds, cpu, rss = run
    figures = score(out, read_truth(folder))
    print(
        f"{label}: {seconds:.1f} s wall ({lines / seconds:,.0f} lines/s), {cpu:.1f} s CPU "
        f"({lines / cpu:,.0f} lines/s of one core), peak RSS {rss:,.0f} MB"
    )
    print(
        f"    precision {figures['precision']:.4%}, recall {figures['recall']:.4%} of "
        f"{figures['recoverable']:,} lines with a recoverable code; categories as the truth "
        f"{figures['agreement']:.2%}; suggestions right {figures['suggested_right']:.2%} "
        f"of {figures['suggested']:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--camt-lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--data", type=Path, help="keep generated statements here (reused when present)")
    parser.add_argument("--pandas-baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pandas_baseline:
        pandas_baseline(args.pandas_baseline)
        return
    data = args.data or Path(tempfile.mkdtemp(prefix="recon-bench-"))
    csv_folder = generate(data / f"csv-{args.lines}-{args.seed}", args.lines, args.seed, camt=False)
    camt_folder = generate(
        data / f"camt-{args.camt_lines}-{args.seed}", args.camt_lines, args.seed, camt=True
    )
    # Every child runs before this process loads any truth: a child's peak RSS counts the memory
    # of the process it was forked from.
    loop = calibration()
    csv_run = match(csv_folder, "statement.csv")
    _, _, rss, printed = measured([sys.executable, __file__, "--pandas-baseline", str(csv_folder)])
    camt_run = match(camt_folder, "statement.camt053.xml")
    print(
        f"recon benchmark: {args.lines:,} statement lines, {args.lines:,} expected payments, seed {args.seed}"
    )
    print(f"machine: a 10,000,000-step Python loop takes {loop:.2f} s of CPU on this core")
    report("choso recon match, CSV", args.lines, csv_run, csv_folder)
    baseline = json.loads(printed)
    print(
        f"pandas exact merge (memo == reference), baseline: {baseline['seconds']:.1f} s for read + merge, "
        f"recall {baseline['recall']:.2%}, precision {baseline['precision']:.2%}, peak RSS {rss:,.0f} MB"
    )
    report(f"choso recon match, CAMT.053 ({args.camt_lines:,} lines)", args.camt_lines, camt_run, camt_folder)


if __name__ == "__main__":
    main()
