"""The market's commands: accounts that cannot register themselves."""

from __future__ import annotations

from typing import Annotated

import typer

user_app = typer.Typer(help="Accounts that cannot register themselves.", no_args_is_help=True)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    full_name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[
        str, typer.Option(help="operator (others register, or an operator creates them).")
    ] = "operator",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create an operator account."""
    from choso.db import session_scope
    from choso.errors import DomainError
    from market import parties

    if role != "operator":
        raise typer.BadParameter("only operator accounts are created here", param_hint="--role")
    with session_scope() as session:
        try:
            user = parties.create_operator(session, email=email, full_name=full_name, password=password)
        except DomainError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"operator {user.email} created (id {user.id})")
