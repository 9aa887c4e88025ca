"""Pure logic: passwords and tokens, tax codes, places, locale and money formatting, settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from choso.db import UTCDateTime
from choso.errors import InvalidInput
from choso.i18n import format_vnd, negotiate_locale
from choso.settings import Settings
from market import security
from market.places import THANH_HOA, describe, resolve_place, wards_of
from market.taxcode import format_tax_code, normalize_tax_code


def test_password_hash_is_argon2id_and_verifies() -> None:
    hashed = security.hash_password("Đồng-lúa-2026")
    assert hashed.startswith("$argon2id$")
    assert security.verify_password(hashed, "Đồng-lúa-2026")
    assert not security.verify_password(hashed, "đồng-lúa-2026")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not-a-hash", "anything")


def test_tokens_are_random_and_stored_as_digests() -> None:
    first, second = security.new_token("chs"), security.new_token("chs")
    assert first != second and first.startswith("chs_")
    assert len(security.token_digest(first)) == 64
    assert security.token_digest(first) != security.token_digest(second)


def test_signatures() -> None:
    signature = security.sign("key", "value")
    assert security.signature_matches("key", "value", signature)
    assert not security.signature_matches("other-key", "value", signature)
    assert not security.signature_matches("key", "value2", signature)


@pytest.mark.parametrize(
    ("raw", "compact"),
    [("0100233583", "0100233583"), ("0100233583-001", "0100233583001"), (" 0100233583 ", "0100233583")],
)
def test_valid_tax_codes(raw: str, compact: str) -> None:
    assert normalize_tax_code(raw) == compact


@pytest.mark.parametrize("raw", ["0100233584", "123", "abcdefghij", "", "0100233583-01", "01002335830011"])
def test_invalid_tax_codes(raw: str) -> None:
    with pytest.raises(InvalidInput) as error:
        normalize_tax_code(raw)
    assert error.value.field == "tax_code"


def test_tax_code_display_form() -> None:
    assert format_tax_code("0100233583001") == "0100233583-001"


def test_thanh_hoa_has_166_wards() -> None:
    wards = wards_of(THANH_HOA)
    assert len(wards) == 166
    assert "Phường Hạc Thành" in {w.name for w in wards}


def test_places_resolve_and_refuse_mismatches() -> None:
    place = resolve_place(38, 14797)
    assert (place.province_name, place.ward_name) == ("Thanh Hóa", "Phường Hạc Thành")
    with pytest.raises(InvalidInput):
        resolve_place(38, 70)  # a Hà Nội ward
    with pytest.raises(InvalidInput):
        resolve_place(99, 14797)
    with pytest.raises(InvalidInput):
        resolve_place(38, 10**12)
    assert describe(None, None) == ""
    assert wards_of(12345) == ()


def test_vnd_formatting() -> None:
    assert format_vnd(1_250_000, "vi") == "1.250.000\xa0₫"
    assert format_vnd(1_250_000, "en") == "₫1,250,000"
    assert format_vnd(0, "vi") == "0\xa0₫"
    with pytest.raises(TypeError):
        format_vnd(12.5, "vi")  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**13))
def test_vnd_formatting_keeps_every_dong(amount: int) -> None:
    digits = format_vnd(amount, "vi").replace(".", "").replace("\xa0₫", "")
    assert int(digits) == amount


def test_locale_negotiation() -> None:
    assert negotiate_locale(None, None, None) == "vi"
    assert negotiate_locale("en", "vi") == "en"
    assert negotiate_locale(None, "fr", "en-GB,en;q=0.8") == "en"
    assert negotiate_locale("xx", None, "de") == "vi"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHOSO_DATABASE_URL", "postgresql://choso@db:5432/choso")
    monkeypatch.setenv("CHOSO_REDIS_URL", "redis://redis:6379/0")
    monkeypatch.setenv("CHOSO_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.effective_database_url == "postgresql+psycopg://choso@db:5432/choso"
    assert not settings.embedded_jobs


def test_embedded_defaults_keep_a_generated_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CHOSO_DATABASE_URL", "CHOSO_REDIS_URL", "CHOSO_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHOSO_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.embedded_jobs
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'choso.sqlite3'}"
    key = settings.effective_secret_key
    assert len(key) >= 32
    assert Settings().effective_secret_key == key  # survives a restart
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_utc_datetime_column_refuses_naive_and_normalises() -> None:
    column = UTCDateTime()

    class Dialect:
        name = "sqlite"

    with pytest.raises(ValueError):
        column.process_bind_param(datetime(2026, 1, 1), Dialect())  # type: ignore[arg-type]
    hanoi = timezone(timedelta(hours=7))
    stored = column.process_bind_param(datetime(2026, 1, 1, 7, tzinfo=hanoi), Dialect())  # type: ignore[arg-type]
    assert stored == datetime(2026, 1, 1, 0, 0)
    loaded = column.process_result_value(stored, Dialect())  # type: ignore[arg-type]
    assert loaded == datetime(2026, 1, 1, tzinfo=UTC)


def test_the_tests_tax_codes_are_valid() -> None:
    from tests.support import VALID_TAX_CODES

    assert all(normalize_tax_code(code) == code for code in VALID_TAX_CODES)


def test_kernel_imports_no_domain_package() -> None:
    """The kernel (choso/) reaches domains only through choso.domains' entry points."""
    import ast
    from pathlib import Path

    domains = {"market", "payments", "matching", "web"}
    for path in Path("choso").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in domains, f"{path} imports {name}"
