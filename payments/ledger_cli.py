"""``choso ledger``: check the ledger's invariants."""

from __future__ import annotations

import typer

app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Verify every invariant; exit 1 naming each one that is broken."""
    from choso.db import new_session
    from payments import ledger

    session = new_session(read_only=True)
    try:
        problems = ledger.check(session)
    finally:
        session.close()
    if problems:
        for problem in problems:
            typer.echo(problem)
        typer.echo(f"ledger check FAILED: {len(problems)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo("ledger ok: every transaction balances, balances match postings, trial balance is zero")
