"""The ``choso`` command: the kernel's serve, worker, beat, db and demo, plus each domain's
command groups (declared in its ``domain.py``, see choso.domains)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

app = typer.Typer(help="Chợ Số: the cashless marketplace of Thanh Hóa.", no_args_is_help=True)


@app.callback()
def _configure_logging(
    log_level: Annotated[str, typer.Option(help="Log level of Choso's own messages.")] = "INFO",
) -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (Redis mode only).")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Run the web app. Without CHOSO_REDIS_URL it also runs jobs and the schedule in process.

    X-Forwarded-For/-Proto are believed only from CHOSO_TRUSTED_PROXIES (none by default)."""
    import uvicorn

    from choso.settings import LOOPBACK_HOSTS, get_settings

    settings = get_settings()
    if settings.embedded_jobs and workers != 1:
        raise typer.BadParameter("embedded mode runs jobs in process: use one worker, or set CHOSO_REDIS_URL")
    if host not in LOOPBACK_HOSTS and settings.cookies_secure_by_default is None:
        logging.getLogger(__name__).warning(
            "serving on %s with CHOSO_PUBLIC_URL=%s: cookies are Secure only on HTTPS requests; "
            "set CHOSO_PUBLIC_URL to the https:// address people use",
            host,
            settings.public_url,
        )
    trusted = settings.trusted_proxies.strip()
    from choso.domains import run_serve_hooks

    run_serve_hooks(app_host=host, app_port=port)  # e.g. sandbox without a Stripe key: cards on localstripe
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        server_header=False,  # no "server: uvicorn" advertised
    )


def _require_redis() -> None:
    from choso.settings import get_settings

    if get_settings().embedded_jobs:
        typer.echo("CHOSO_REDIS_URL is not set: embedded mode runs jobs inside `choso serve`.", err=True)
        raise typer.Exit(2)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker on the Redis broker (extra arguments go to Celery)."""
    _require_redis()
    from choso.jobs import run_worker
    from choso.settings import get_settings

    queue = get_settings().task_queue
    run_worker([f"--concurrency={concurrency}", f"--loglevel={loglevel}", f"--queues={queue}", *ctx.args])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(
    ctx: typer.Context,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run Celery beat, which publishes the periodic jobs (extra arguments go to Celery)."""
    _require_redis()
    from choso.jobs import run_beat
    from choso.settings import get_settings

    schedule_file = get_settings().data_dir / "celerybeat-schedule"
    schedule_file.parent.mkdir(parents=True, exist_ok=True)
    run_beat([f"--loglevel={loglevel}", f"--schedule={schedule_file}", *ctx.args])


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION."""
    from choso import migrate

    migrate.upgrade(revision=revision)
    typer.echo(f"database at revision {migrate.current_revision()}")


@db_app.command("current")
def db_current() -> None:
    """Print the database's revision."""
    from choso import migrate

    typer.echo(migrate.current_revision() or "empty")


@app.command()
def demo() -> None:
    """Load Thanh Hóa demo data (producers, agencies, buyers, products…); safe to run twice."""
    from choso import migrate
    from choso.domains import all_domains, resolve
    from choso.jobs import embedded_runner
    from choso.settings import get_settings

    migrate.upgrade()
    lines: list[str] = []
    for domain in all_domains():
        if domain.demo:
            lines += resolve(domain.demo)()
    if get_settings().embedded_jobs:
        embedded_runner().drain()  # the jobs the demo caused, before the process exits
    typer.echo("\n".join(lines) if lines else "demo data already present")


def _register_domain_commands() -> None:
    from choso.domains import all_domains, resolve

    for domain in all_domains():
        for name, reference in domain.cli:
            app.add_typer(resolve(reference), name=name)


_register_domain_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
