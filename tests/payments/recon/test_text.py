"""Bank text: encodings, Vietnamese folding, memo boilerplate, amounts and dates."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.recon.errors import StatementError
from payments.recon.text import (
    decode,
    encode_windows_1258,
    fold,
    fold_upper,
    normalise_memo,
    parse_amount,
    parse_date,
)

VIETNAMESE = "Nguyễn Văn Đức chuyển khoản học phí tháng 3 — Trần Thị Ánh Tuyết, Hồ Quỳnh Hương"


@pytest.mark.parametrize(
    "data",
    [
        VIETNAMESE.encode("utf-8"),
        b"\xef\xbb\xbf" + VIETNAMESE.encode("utf-8"),
        VIETNAMESE.encode("utf-16"),  # with BOM
        VIETNAMESE.encode("utf-16-le"),  # without BOM
        VIETNAMESE.encode("utf-16-be"),
        encode_windows_1258(VIETNAMESE),
        unicodedata.normalize("NFD", VIETNAMESE).encode("utf-8"),  # decomposed (macOS)
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-le", "utf-16-be", "windows-1258", "utf-8-nfd"],
)
def test_every_encoding_decodes_to_the_same_composed_text(data: bytes) -> None:
    assert decode(data) == VIETNAMESE


def test_windows_1258_writes_tones_as_combining_marks() -> None:
    encoded = encode_windows_1258("ễ")
    assert len(encoded) == 2  # ê + combining tilde
    assert encoded.decode("cp1258") != "ễ" and decode(encoded) == "ễ"


def test_undecodable_bytes_name_their_line() -> None:
    with pytest.raises(StatementError) as raised:
        decode(b"\xef\xbb\xbfline one\nline two \xff\xfe\n")
    assert raised.value.line == 2


@given(
    st.text(
        alphabet="aăâbcdđeêghiklmnoôơpqrstuưvxyáàảãạắằẳẵặấầẩẫậéèẻẽẹếềểễệíìỉĩịóòỏõọốồổỗộớờởỡợúùủũụứừửữựýỳỷỹỵ "
    )
)
def test_windows_1258_round_trips_every_vietnamese_letter(text: str) -> None:
    assert decode(encode_windows_1258(text)) == text
    assert decode(encode_windows_1258(text.upper())) == text.upper()


def test_folding() -> None:
    assert fold("Nguyễn Văn Đức, đường Lê Lợi") == "Nguyen Van Duc, duong Le Loi"
    assert fold_upper("Hồ Quỳnh Hương") == "HO QUYNH HUONG"
    assert fold(unicodedata.normalize("NFD", "Ấn Độ")) == "An Do"


def test_memo_boilerplate_is_stripped() -> None:
    memo = "MBVCB.3278907687.482915.CS7K2M9QX4X.Nguyễn Văn An chuyển khoản; ND: thanh toán IBFT CK"
    assert normalise_memo(memo) == "CS7K2M9QX4X NGUYEN VAN AN"
    assert normalise_memo("QR - Tiền hàng\nnem chua") == "TIEN HANG NEM CHUA"


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("150000", 150_000),
        ("1.250.000", 1_250_000),
        ("1,250,000", 1_250_000),
        ("1 250 000", 1_250_000),
        ("150000.00", 150_000),
        ("150.000,00", 150_000),
        ("1,250,000.00", 1_250_000),
        ("-50.000", -50_000),
        ("(50,000)", -50_000),
        ("+2.000", 2_000),
        ("1.500", 1_500),
        ("150.000 VND", 150_000),
        ("150.000đ", 150_000),
    ],
)
def test_amounts(text: str, amount: int) -> None:
    assert parse_amount(text) == amount


@pytest.mark.parametrize("text", ["12,5", "1.250.000,50", "abc", "", "1.2.3", "1,250.000,00", "12.5x"])
def test_bad_amounts(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@pytest.mark.parametrize(
    ("text", "day", "time"),
    [
        ("2025-03-05", date(2025, 3, 5), None),
        ("05/03/2025", date(2025, 3, 5), None),
        ("5/3/2025 08:15:02", date(2025, 3, 5), "08:15:02"),
        ("2025-03-05T08:15:02+07:00", date(2025, 3, 5), "08:15:02"),
        ("20250305", date(2025, 3, 5), None),
        ("05-03-2025 8:15", date(2025, 3, 5), "8:15"),
    ],
)
def test_dates(text: str, day: date, time: str | None) -> None:
    assert parse_date(text) == (day, time)


@pytest.mark.parametrize("text", ["", "yesterday", "31/02/2025", "2025-13-01"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)
