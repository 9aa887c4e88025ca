"""Translations and locale-aware formatting (babel), shared by pages, API errors and jobs.

Message ids are English; ``web/translations/vi`` carries the Vietnamese catalogue, which
is the default locale. The ``.po`` files are compiled in memory on first use, so there is
no build step and no compiled file to forget.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

SUPPORTED_LOCALES = ("vi", "en")
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "web" / "translations"
LOCALE_TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")

current_locale: ContextVar[str] = ContextVar("current_locale", default="vi")


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@cache
def translations_for(locale: str) -> gettext.NullTranslations:
    po_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def negotiate_locale(*candidates: str | None) -> str:
    """The first supported locale among the candidates (cookie, query, Accept-Language)."""
    for candidate in candidates:
        if not candidate:
            continue
        for part in candidate.split(","):
            tag = part.split(";")[0].strip().lower().replace("_", "-")
            base = tag.split("-")[0]
            if base in SUPPORTED_LOCALES:
                return base
    return "vi"


def gettext_(message: str) -> str:
    return translations_for(current_locale.get()).gettext(message)


def ngettext_(singular: str, plural: str, n: int) -> str:
    return translations_for(current_locale.get()).ngettext(singular, plural, n)


def _babel_locale(locale: str | None = None) -> Locale:
    return Locale.parse("vi_VN" if (locale or current_locale.get()) == "vi" else "en_US")


def format_vnd(amount: int, locale: str | None = None) -> str:
    """``1250000`` → ``1.250.000 ₫`` (vi) or ``₫1,250,000`` (en). VND has no minor unit."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("VND amounts are whole đồng (int)")
    return format_currency(amount, "VND", locale=_babel_locale(locale), currency_digits=True)


def format_number(value: int | float, locale: str | None = None) -> str:
    return format_decimal(value, locale=_babel_locale(locale))


def format_local_datetime(value: datetime, locale: str | None = None) -> str:
    return format_datetime(value, format="medium", tzinfo=LOCALE_TIMEZONE, locale=_babel_locale(locale))
