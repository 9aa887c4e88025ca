"""The Vietnamese catalogue covers every message of the code and templates, and is used at runtime.

Extraction follows babel.cfg (the same mapping and keywords as ``pybabel extract``), so a string
added to a template or marked with ``N_`` / ``gettext_`` and left untranslated fails here.
No database is needed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

from choso.i18n import current_locale, format_vnd, gettext_
from web.i18n import templates

ROOT = Path(__file__).resolve().parent.parent
MAPPING_FILE = ROOT / "babel.cfg"
VI_PO = ROOT / "web" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
# The input directories of `pybabel extract` (see babel.cfg); its patterns are relative to each.
SOURCE_DIRS = ("choso", "market", "payments", "fees", "matching", "operations", "web")

# Python %-format conversions: %(name)s, %(count)d, %(ratio).2f, positional %s; "%%" is a literal "%".
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def _mapping() -> tuple[list[tuple[str, str]], dict[str, dict[str, Any]], dict[str, Any]]:
    """babel.cfg's method map, options map, and Babel's default keywords plus those of babel.cfg."""
    with MAPPING_FILE.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config, filename=str(MAPPING_FILE))
    keywords: dict[str, Any] = dict(DEFAULT_KEYWORDS)
    for options in options_map.values():
        section_keywords = options.get("keywords")
        if isinstance(section_keywords, str):  # Babel < 2.18 leaves the option unparsed
            section_keywords = parse_keywords(section_keywords.split())
        keywords.update(section_keywords or {})
    return method_map, options_map, keywords


@cache
def extracted_messages() -> dict[tuple[str, str | None], list[str]]:
    """(msgid, context) → the places (``path:line``) it occurs, as ``pybabel extract`` finds them."""
    method_map, options_map, keywords = _mapping()
    found: dict[tuple[str, str | None], list[str]] = {}
    for source_dir in SOURCE_DIRS:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / source_dir, method_map, options_map, keywords=keywords
        ):
            msgid = message[0] if isinstance(message, (list, tuple)) else message
            found.setdefault((msgid, context), []).append(f"{source_dir}/{filename}:{lineno}")
    return found


@cache
def vi_catalog() -> Catalog:
    with VI_PO.open("rb") as po_file:
        return read_po(po_file, locale="vi")


def placeholders(text: str) -> Counter[str]:
    """The placeholders of a message: the name of each named one, the conversion of a positional one."""
    return Counter(match[1] or match[0] for match in PLACEHOLDER.finditer(text) if match[0] != "%%")


@contextmanager
def locale(code: str) -> Iterator[None]:
    token = current_locale.set(code)
    try:
        yield
    finally:
        current_locale.reset(token)


def test_extraction_finds_code_and_template_messages() -> None:
    """Guards the checks below against passing on an empty extraction (a broken babel.cfg)."""
    sources = {place.split(":")[0] for places in extracted_messages().values() for place in places}
    assert any(source.startswith("web/templates/") and source.endswith(".html") for source in sources)
    for package in ("market/", "payments/", "web/"):
        assert any(source.startswith(package) and source.endswith(".py") for source in sources), package


def test_vi_catalogue_has_plural_forms_for_vietnamese() -> None:
    catalog = vi_catalog()
    assert str(catalog.locale) == "vi"
    assert catalog.plural_forms == "nplurals=1; plural=0;"


def test_every_message_has_a_vietnamese_translation() -> None:
    catalog = vi_catalog()
    missing = []
    for (msgid, context), places in sorted(extracted_messages().items(), key=lambda item: item[0][0]):
        entry = catalog.get(msgid, context=context)
        strings = () if entry is None else entry.string
        strings = (strings,) if isinstance(strings, str) else strings
        if entry is None or entry.fuzzy or not strings or not all(s.strip() for s in strings):
            state = "missing" if entry is None else "fuzzy" if entry.fuzzy else "empty"
            missing.append(f"{msgid!r} ({state}; {', '.join(places)})")
    assert not missing, (
        f"{len(missing)} message(s) without a Vietnamese translation in {VI_PO.relative_to(ROOT)}:\n"
        + "\n".join(missing)
    )


def test_translations_keep_the_placeholders() -> None:
    mismatched = []
    for entry in vi_catalog():
        if not entry.id or not entry.string:
            continue
        ids = (entry.id,) if isinstance(entry.id, str) else entry.id
        strings = (entry.string,) if isinstance(entry.string, str) else entry.string
        expected = placeholders(ids[-1])
        for string in strings:
            if placeholders(string) != expected:
                mismatched.append(f"{ids[0]!r} → {string!r}")
                continue
            # Templates use newstyle gettext, which always %-formats: the text must survive that.
            try:
                string % dict.fromkeys(expected, 1)
            except (KeyError, TypeError, ValueError) as error:
                mismatched.append(f"{ids[0]!r} → {string!r} ({error})")
    assert not mismatched, "translations whose %(name)s placeholders differ from the msgid:\n" + "\n".join(
        mismatched
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [("vi", "Đăng nhập"), ("en", "Log in")],
)
def test_gettext_follows_the_current_locale(code: str, expected: str) -> None:
    with locale(code):
        assert gettext_("Log in") == expected


def test_placeholders_are_filled_after_translation() -> None:
    with locale("vi"):
        message = gettext_("Too many failed logins from your address. Try again in %(minutes)s min.") % {
            "minutes": 5
        }
    assert message == "Đăng nhập sai quá nhiều lần từ địa chỉ của bạn. Vui lòng thử lại sau 5 phút."


def test_templates_render_in_the_current_locale() -> None:
    template = templates.env.from_string('{{ _("Page %(page)s of %(pages)s", page=2, pages=5) }}')
    with locale("vi"):
        assert template.render() == "Trang 2/5"
    with locale("en"):
        assert template.render() == "Page 2 of 5"


def test_vnd_formatting() -> None:
    # Babel's vi_VN pattern puts a no-break space (U+00A0) between the amount and the sign.
    assert format_vnd(1250000, "vi") == "1.250.000\xa0₫"
    assert format_vnd(1250000, "en") == "₫1,250,000"


def test_counts_use_plural_forms() -> None:
    template = templates.env.from_string(
        '{{ ngettext("%(count)s product", "%(count)s products", n, count=n|number) }}'
    )
    with locale("en"):
        assert template.render(n=1) == "1 product"
        assert template.render(n=1250) == "1,250 products"
    with locale("vi"):
        assert template.render(n=1250) == "1.250 sản phẩm"
