"""The CLI's commands, and that docker-compose.yml runs exactly those commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from choso.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def check_argv(argv: list[str]) -> None:
    """Parse argv as the CLI would, stopping at ``--help`` before anything runs: an unknown
    command or option fails the parse (exit code 2)."""
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, f"choso {' '.join(argv)}: {result.output}"
    assert "Usage:" in result.output


def test_compose_has_the_whole_stack() -> None:
    assert {"web", "worker", "beat", "postgres", "redis"} <= set(COMPOSE["services"])
    for name in ("web", "worker", "postgres", "redis"):
        assert "healthcheck" in COMPOSE["services"][name], name


@pytest.mark.parametrize("service", ["web", "worker", "beat", "migrate"])
def test_compose_commands_are_real_cli_commands(service: str) -> None:
    argv = COMPOSE["services"][service]["command"]
    assert argv[0] == "choso"
    check_argv(argv[1:])


def test_compose_wires_database_and_broker_into_every_app_service() -> None:
    for service in ("web", "worker", "beat", "migrate"):
        environment = COMPOSE["services"][service]["environment"]
        assert environment["CHOSO_DATABASE_URL"].startswith("postgresql://")
        assert environment["CHOSO_REDIS_URL"].startswith("redis://redis:")
    web_url = COMPOSE["services"]["web"]["environment"]["CHOSO_DATABASE_URL"]
    postgres = COMPOSE["services"]["postgres"]["environment"]
    assert (
        f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/{postgres['POSTGRES_DB']}"
        in web_url
    )


def test_the_check_rejects_what_the_cli_rejects() -> None:
    for argv in (["serv"], ["serve", "--no-such-option"], ["db", "downgrade"]):
        with pytest.raises(AssertionError):
            check_argv(argv)


def test_cli_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "worker", "beat", "db", "demo", "user"):
        assert command in result.output


def test_worker_refuses_to_start_without_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    from choso.settings import get_settings

    monkeypatch.setattr(get_settings(), "redis_url", None)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "CHOSO_REDIS_URL" in result.output


def test_db_upgrade_command_reports_head() -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output


def test_user_create_makes_an_operator() -> None:
    args = [
        "user",
        "create",
        "--email",
        "ops@example.vn",
        "--full-name",
        "Vận hành",
        "--password",
        "Đồng-lúa-2026",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 1


def test_console_script_entry_point_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "choso.cli", "db", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0
    assert "upgrade" in completed.stdout
