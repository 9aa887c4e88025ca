"""``choso match``: clear a round from JSON files, check a result, generate test instances.

Exit codes: 0 success; 1 a result that fails the check (the first violation on stderr);
2 an unreadable or invalid instance (the post and field on stderr).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Matching engine: clear supply and demand posts optimally.", no_args_is_help=True)


def _fail(code: int, message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _read_json(path: Path, what: str, code: int) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(code, f"{what}: cannot read {path}: {error}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        raise _fail(code, f"{what}: {path} is not valid JSON: {error}") from None


def _load_instance(path: Path):  # type: ignore[no-untyped-def]
    from matching.instance import InstanceError, parse_instance

    raw = _read_json(path, "instance", 2)
    try:
        return parse_instance(raw)
    except InstanceError as error:
        raise _fail(2, f"invalid instance: {error}") from None


def _write(document: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(document, ensure_ascii=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")


@app.command()
def solve(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    out: Annotated[Path | None, typer.Option(help="Write the result here instead of stdout.")] = None,
    stats: Annotated[bool, typer.Option(help="Print solver statistics on stderr.")] = False,
) -> None:
    """Clear a round: optimal matches and equilibrium prices, as result JSON."""
    from matching.result import result_json
    from matching.solver import TooLarge, solve_with_stats

    try:
        result, figures = solve_with_stats(_load_instance(instance))
    except TooLarge as error:
        raise _fail(2, f"instance too large: {error}") from None
    _write(result_json(result), out)
    if stats:
        typer.echo(f"{figures}", err=True)


@app.command()
def check(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    result: Annotated[Path, typer.Argument(help="Result JSON file.")],
) -> None:
    """Verify conditions 1–5 of a result; print its welfare (đồng) or the first violation."""
    from matching.check import check as check_result
    from matching.result import ResultFormatError, parse_result

    parsed = _load_instance(instance)
    raw = _read_json(result, "result", 1)
    try:
        claimed = parse_result(raw)
    except ResultFormatError as error:
        raise _fail(1, f"malformed result: {error}") from None
    verdict = check_result(parsed, claimed)
    if not verdict.ok:
        label = f"condition {verdict.condition}" if verdict.condition else "result"
        raise _fail(1, f"{label} violated: {verdict.message}")
    typer.echo(str(verdict.welfare_vnd))


@app.command()
def generate(
    supply: Annotated[int, typer.Option(min=1, max=1_000_000, help="Number of supply posts.")],
    demand: Annotated[int, typer.Option(min=1, max=1_000_000, help="Number of demand posts.")],
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same instance.")],
    start: Annotated[
        str | None, typer.Option(help="First day of the windows (YYYY-MM-DD); default 2026-01-05.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the instance here instead of stdout.")] = None,
) -> None:
    """Write a realistic Thanh Hóa instance (the benchmark's defaults)."""
    from matching.generate import DEFAULT_START
    from matching.generate import generate as make
    from matching.instance import instance_json

    try:
        first = date.fromisoformat(start) if start else DEFAULT_START
    except ValueError:
        raise typer.BadParameter(f"not a date: {start}", param_hint="--start") from None
    _write(instance_json(make(supply, demand, seed, first)), out)


@app.command()
def explain(
    instance: Annotated[Path, typer.Argument(help="Instance JSON file.")],
    result: Annotated[Path, typer.Argument(help="Result JSON file of that instance.")],
) -> None:
    """Explain every unmatched or short post (JSON lines: post, reason, limit, message)."""
    from dataclasses import asdict

    from matching.explain import explain as explain_round
    from matching.result import ResultFormatError, parse_result

    parsed = _load_instance(instance)
    try:
        claimed = parse_result(_read_json(result, "result", 1))
    except ResultFormatError as error:
        raise _fail(1, f"malformed result: {error}") from None
    try:
        items = explain_round(parsed, claimed)
    except ValueError as error:
        raise _fail(1, f"result does not fit the instance: {error}") from None
    for item in items:
        sys.stdout.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")


@app.command("warm-up")
def warm_up() -> None:
    """Compile the solver's kernels into the on-disk cache, so that no round waits for it."""
    from matching.warm import warm_up as compile_kernels

    typer.echo(f"solver kernels ready in {compile_kernels():.1f} s")
