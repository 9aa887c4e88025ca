"""``choso recon``: match a bank statement against expected payments; generate test statements.

``choso recon match STATEMENT --expected EXPECTED.csv [--format ...] [--out FILE]`` prints JSON
Lines (see payments.recon.output) and exits 0; a statement or expected file that cannot be read
exits 2 with the line and the reason on stderr. ``choso recon generate`` writes a realistic
messy statement (generic CSV and CAMT.053), its EXPECTED.csv and the truth. ``choso recon
import STATEMENT --account ID`` stores a bank account's statement and imports it into the
database now (payments.statement_import): exit 0 imported, 2 unreadable (reason on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from payments.recon.tabular import Layout

app = typer.Typer(help="Bank statement reconciliation (pure matching; no database).", no_args_is_help=True)


def _fail(path: Path, error: Exception) -> typer.Exit:
    typer.echo(f"error: {path}: {error}", err=True)
    return typer.Exit(2)


def _layout(format: str, columns: list[str]) -> Layout | None:
    from payments.recon.tabular import GENERIC, LAYOUTS, Layout

    if not columns:
        return None
    mapping = dict(column.split("=", 1) for column in columns if "=" in column)
    if len(mapping) != len(columns):
        raise typer.BadParameter("--column takes FIELD=Header", param_hint="--column")
    try:
        return Layout.from_mapping(mapping, base=LAYOUTS.get(format, GENERIC))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--column") from None


def _is_csv(statement: Path, format: str) -> bool:
    """Whether the statement will be read as CSV (by the rule of ``detect_format``)."""
    from payments.recon.formats import detect_format

    try:
        with statement.open("rb") as stream:
            head = stream.read(8192)
    except OSError:
        return False
    return format in ("auto", "csv", "vietcombank", "bidv") and detect_format(head) == "table"


@app.command()
def match(
    statement: Annotated[Path, typer.Argument(help="Bank statement: CAMT.053, MT940, CSV or XLSX.")],
    expected: Annotated[Path, typer.Option(help="CSV: reference,amount_vnd,payer_name,due_date.")],
    format: Annotated[str, typer.Option(help="auto, camt053, mt940, csv, vietcombank or bidv.")] = "auto",
    out: Annotated[Path | None, typer.Option(help="Write the JSON Lines here instead of stdout.")] = None,
    column: Annotated[
        list[str] | None, typer.Option(help="Column mapping for tables, FIELD=Header (repeatable).")
    ] = None,
) -> None:
    """Categorise every statement line and list the expected references that received nothing."""
    import gc

    from payments.recon.errors import StatementError
    from payments.recon.formats import FORMATS, read_expected, read_statement_file
    from payments.recon.matcher import ExpectedBook, reconcile
    from payments.recon.output import write_jsonl

    if format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    layout = _layout(format, column or [])
    # Millions of long-lived records: the cycle collector would rescan them again and again and
    # find nothing. Frozen once loaded; collections stop while reading CSV (which makes no cyclic
    # garbage), are made rare while parsing other formats (lxml's streaming parser leaves cyclic
    # garbage, so they cannot stop), and stop during matching and writing.
    gc.set_threshold(100_000, 50, 100)
    gc.disable()
    try:
        book = ExpectedBook(read_expected(expected.read_bytes()), validated=True)
    except (OSError, StatementError, ValueError) as error:
        raise _fail(expected, error) from None
    gc.freeze()
    if not _is_csv(statement, format):
        gc.enable()
    try:
        parsed = read_statement_file(statement, format, layout=layout)
    except StatementError as error:
        raise _fail(statement, error) from None
    gc.freeze()
    gc.disable()
    result = reconcile(parsed.lines, book)
    if out is None:
        write_jsonl(result, sys.stdout)
        return
    with out.open("w", encoding="utf-8", newline="\n") as stream:
        write_jsonl(result, stream)


@app.command()
def generate(
    lines: Annotated[int, typer.Option(min=1, help="Statement lines.")],
    seed: Annotated[int, typer.Option(help="Same seed, same files.")],
    out_dir: Annotated[Path, typer.Option(help="Folder for the files (created if needed).")],
    expected_count: Annotated[
        int | None, typer.Option("--expected", help="Expected payments (default: as many as lines).")
    ] = None,
    camt: Annotated[bool, typer.Option(help="Also write the CAMT.053 form.")] = True,
) -> None:
    """Write statement.csv, statement.camt053.xml, expected.csv and truth.jsonl into OUT_DIR."""
    from payments.recon.generate import (
        generate as make,
    )
    from payments.recon.generate import (
        write_camt053,
        write_csv,
        write_expected,
        write_truth,
    )

    generated = make(lines, seed, expected_count=expected_count)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "statement.csv").write_bytes(write_csv(generated.lines))
    if camt:
        (out_dir / "statement.camt053.xml").write_bytes(write_camt053(generated.lines))
    (out_dir / "expected.csv").write_bytes(write_expected(generated.expected))
    (out_dir / "truth.jsonl").write_bytes(write_truth(generated))
    typer.echo(f"{lines} lines, {len(generated.expected)} expected payments → {out_dir}")


@app.command("import")
def import_statement(
    statement: Annotated[Path, typer.Argument(help="Bank statement: CAMT.053, MT940, CSV or XLSX.")],
    account: Annotated[int, typer.Option(min=1, help="The bank account's id in Chợ Số.")],
    format: Annotated[str, typer.Option(help="auto, camt053, mt940, csv, vietcombank or bidv.")] = "auto",
) -> None:
    """Store a bank account's statement and import it now (database): lines decided, credits
    settled, balance compared. Prints the result as JSON; exit 2 if the file cannot be read."""
    import json

    from choso.db import session_scope
    from choso.errors import DomainError
    from payments import statement_import, statements
    from payments.recon.errors import StatementError
    from payments.recon.formats import FORMATS, read_statement
    from payments.statement_models import BankStatement

    if format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    try:
        data = statement.read_bytes()
        read_statement(data, format)
    except OSError as error:
        raise _fail(statement, OSError(error.strerror)) from None
    except (StatementError, ValueError) as error:
        raise _fail(statement, error) from None
    with session_scope() as session:
        try:
            stored, new = statements.submit(
                session, None, account, data, filename=statement.name, format=format, source="cli",
                queue=False,
            )  # fmt: skip
        except DomainError as error:
            typer.echo(f"error: {error.message}", err=True)
            raise typer.Exit(2 if error.status_code == 422 else 1) from None
    statement_import.run_import(stored.id or 0)  # the job's own code, in this process
    with session_scope() as session:
        stored = session.get_one(BankStatement, stored.id)
    summary = {
        "statement": stored.id,
        "new": new,
        "status": stored.status,
        "counts": stored.counts,
        "closing_balance_vnd": stored.closing_balance_vnd,
        "ledger_balance_vnd": stored.ledger_balance_vnd,
        "balance_difference_vnd": stored.balance_difference_vnd,
    }
    typer.echo(json.dumps(summary, ensure_ascii=False))
    if stored.status == "failed":
        typer.echo(f"error: {statement}: {stored.error}", err=True)
        raise typer.Exit(2)
