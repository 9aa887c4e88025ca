"""Request locale and the Jinja2 environment (gettext, VND and date formatting)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from choso.i18n import (
    N_,
    current_locale,
    format_local_datetime,
    format_number,
    format_vnd,
    gettext_,
    ngettext_,
)
from choso.settings import get_settings

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
LOCALE_COOKIE = "choso_lang"
LOCALE_COOKIE_SECONDS = 365 * 24 * 3600

ROLE_LABELS = {
    "buyer": N_("Buyer"),
    "producer": N_("Producer"),
    "agency_officer": N_("Agency officer"),
    "operator": N_("Operator"),
}
KIND_LABELS = {"producer": N_("Producer business"), "agency": N_("Government agency")}


def _build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(gettext_, ngettext_, newstyle=True)  # type: ignore[attr-defined]
    env.filters["vnd"] = format_vnd
    env.filters["number"] = format_number
    env.filters["datetime"] = format_local_datetime
    env.globals["current_locale"] = current_locale.get
    env.globals["role_labels"] = ROLE_LABELS
    env.globals["kind_labels"] = KIND_LABELS
    env.globals["sandbox_mode"] = lambda: get_settings().sandbox  # the banner of every page
    return env


templates = Jinja2Templates(env=_build_environment())
