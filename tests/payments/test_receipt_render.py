"""Receipt rendering: amounts in Vietnamese words; a PDF whose Vietnamese text and QR come back exactly."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pypdfium2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from choso.money import MAX_AMOUNT_VND
from payments.receipt_render import amount_in_words, render_receipt_pdf

# --- amount in words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (0, "Không đồng"),
        (1, "Một đồng"),
        (10, "Mười đồng"),
        (15, "Mười lăm đồng"),
        (21, "Hai mươi mốt đồng"),
        (25, "Hai mươi lăm đồng"),
        (105, "Một trăm linh năm đồng"),
        (110, "Một trăm mười đồng"),
        (1001, "Một nghìn không trăm linh một đồng"),
        (1010, "Một nghìn không trăm mười đồng"),
        (1015, "Một nghìn không trăm mười lăm đồng"),
        (21000, "Hai mươi mốt nghìn đồng"),
        (100005, "Một trăm nghìn không trăm linh năm đồng"),
        (105000, "Một trăm linh năm nghìn đồng"),
        (150000, "Một trăm năm mươi nghìn đồng"),
        (1000000, "Một triệu đồng"),
        (1000001, "Một triệu không trăm linh một đồng"),
        (1005000, "Một triệu không trăm linh năm nghìn đồng"),
        (1250000, "Một triệu hai trăm năm mươi nghìn đồng"),
        (2000000000, "Hai tỷ đồng"),
        (12000050000, "Mười hai tỷ không trăm năm mươi nghìn đồng"),
        (MAX_AMOUNT_VND, "Một nghìn tỷ đồng"),
        (
            999_999_999_999,
            "Chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn"
            " chín trăm chín mươi chín đồng",
        ),
    ],
)
def test_amounts_read_as_on_vietnamese_financial_documents(amount: int, words: str) -> None:
    assert amount_in_words(amount) == words


@pytest.mark.parametrize("amount", [-1, MAX_AMOUNT_VND + 1, True, 150000.0, "150000"])
def test_amount_in_words_refuses_what_is_not_an_amount(amount: Any) -> None:
    with pytest.raises(ValueError):
        amount_in_words(amount)


DIGITS = {"không": 0, "một": 1, "mốt": 1, "hai": 2, "ba": 3, "bốn": 4, "tư": 4, "năm": 5, "lăm": 5}
DIGITS |= {"sáu": 6, "bảy": 7, "tám": 8, "chín": 9}


def _group_value(words: list[str]) -> int:
    """An independent reading of 'x trăm [linh] y mươi z' (the test's own parser)."""
    value, index = 0, 0
    if len(words) >= 2 and words[1] == "trăm":
        value, index = DIGITS[words[0]] * 100, 2
    if index < len(words) and words[index] == "linh":
        assert len(words) == index + 2 and words[index + 1] not in ("mốt", "lăm"), words
        return value + DIGITS[words[index + 1]]
    if index < len(words) and words[index] == "mười":
        value, index = value + 10, index + 1
    elif index + 1 < len(words) and words[index + 1] == "mươi":
        assert words[index] not in ("không", "một"), words
        value, index = value + DIGITS[words[index]] * 10, index + 2
    if index < len(words):
        assert len(words) == index + 1, words
        unit, previous = words[index], words[index - 1] if index else ""
        # 1 is "mốt" after "mươi" (not after "mười"); 5 is "lăm" after "mười"/"mươi".
        assert (unit == "mốt") == (previous == "mươi" and DIGITS[unit] == 1), words
        assert (unit == "lăm") == (previous in ("mười", "mươi") and DIGITS[unit] == 5), words
        value += DIGITS[unit]
    return value


def parse_vietnamese(words: list[str]) -> int:
    for scale, size in (("tỷ", 10**9), ("triệu", 10**6), ("nghìn", 10**3)):
        if scale in words:
            at = len(words) - 1 - words[::-1].index(scale)
            high = parse_vietnamese(words[:at])
            return high * size + (parse_vietnamese(words[at + 1 :]) if words[at + 1 :] else 0)
    return _group_value(words)


def assert_reads_back(amount: int) -> None:
    text = amount_in_words(amount)
    assert text[0].isupper() and text.endswith(" đồng")
    assert unicodedata.normalize("NFC", text) == text
    words = text[0].lower() + text[1:]
    tokens = words.removesuffix(" đồng").split(" ")
    assert "lẻ" not in tokens and "ngàn" not in tokens
    assert parse_vietnamese(tokens) == amount


@settings(max_examples=500)
@given(st.integers(0, MAX_AMOUNT_VND))
def test_words_read_back_to_the_amount(amount: int) -> None:
    assert_reads_back(amount)


def test_every_group_in_every_position_reads_back() -> None:
    """Each three-digit group alone and behind a leading one, as units, thousands, millions, billions."""
    for group in range(1000):
        for scale in (1, 10**3, 10**6, 10**9):
            assert_reads_back(group * scale)
            assert_reads_back(10**9 + group * scale)


# --- PDF --------------------------------------------------------------------------------------


def receipt_content(**changes: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "title": "BIÊN LAI THU TIỀN",
        "kind": "receipt",
        "series": "CS/2026",
        "number": 12,
        "number_text": "0000012",
        "issued_at_local": "26/11/2026 14:05",
        "payee": {
            "name": "Hợp tác xã Nông nghiệp Thọ Xuân",
            "tax_code": "2801234567",
            "address": "Thôn Đông Hưng, xã Xuân Lập, tỉnh Thanh Hóa",
        },
        "payer": {"name": "Nguyễn Thị Ánh Tuyết"},
        "items": [
            {
                "description": "Gạo tám thơm, bao 10 kg",
                "quantity": 2,
                "unit_price_vnd": 60000,
                "amount_vnd": 120000,
            },
            {"description": "Phí giao hàng", "quantity": 1, "unit_price_vnd": 30000, "amount_vnd": 30000},
        ],
        "amount_vnd": 150000,
        "amount_in_words": amount_in_words(150000),
        "channel": "vietqr",
        "reference_code": "CS7K2M9QX4X",
        "verification_url": "https://cho.so.example/receipts/verify/Q2hvU29SZWNlaXB0MTI",
    }
    content.update(changes)
    return content


def pdf_text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    """Lines joined with single spaces: a long address may wrap anywhere."""
    return " ".join(text.split())


def test_pdf_text_comes_back_with_exact_vietnamese_diacritics() -> None:
    pdf = render_receipt_pdf(receipt_content())
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Số tiền bằng chữ: Một trăm năm mươi nghìn đồng" in text.splitlines()
    for expected in (
        "BIÊN LAI THU TIỀN",
        "Biên lai số: 0000012",
        "Ký hiệu: CS/2026",
        "Hợp tác xã Nông nghiệp Thọ Xuân",
        "Mã số thuế: 2801234567",
        "Địa chỉ: Thôn Đông Hưng, xã Xuân Lập, tỉnh Thanh Hóa",
        "Ngày lập: 26/11/2026 14:05",
        "Người nộp tiền: Nguyễn Thị Ánh Tuyết",
        "Hình thức thanh toán: Chuyển khoản ngân hàng (VietQR)",
        "Mã thanh toán: CS7K2M9QX4X",
        "1 Gạo tám thơm, bao 10 kg 2 60.000 ₫ 120.000 ₫",
        "Tổng cộng: 150.000 ₫",
        "Số tiền bằng chữ: Một trăm năm mươi nghìn đồng",
        "https://cho.so.example/receipts/verify/Q2hvU29SZWNlaXB0MTI",
    ):
        assert expected in flat(text)


def test_pdf_is_a5_with_the_font_embedded_and_metadata() -> None:
    reader = PdfReader(io.BytesIO(render_receipt_pdf(receipt_content())))
    [page] = reader.pages
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (
        420,
        595,
    )  # 148 × 210 mm
    fonts = [font.get_object() for font in page["/Resources"]["/Font"].values()]
    assert fonts and all("BeVietnamPro" in str(font["/BaseFont"]) for font in fonts)
    descriptors = [font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object() for font in fonts]
    assert all("/FontFile2" in descriptor for descriptor in descriptors)  # embedded, not referenced
    assert reader.metadata is not None
    assert reader.metadata.title == "BIÊN LAI THU TIỀN CS/2026 0000012"
    assert reader.metadata.author == "Hợp tác xã Nông nghiệp Thọ Xuân"


def test_the_same_content_gives_the_same_bytes() -> None:
    first = render_receipt_pdf(receipt_content())
    assert render_receipt_pdf(receipt_content()) == first
    assert render_receipt_pdf(receipt_content(number_text="0000013")) != first


def test_credit_note_and_card_channel() -> None:
    content = receipt_content(
        title="PHIẾU HOÀN TIỀN", kind="credit_note", channel="card", number_text="0000003", amount_vnd=30000
    )
    lines = pdf_text(render_receipt_pdf(content)).splitlines()
    assert "PHIẾU HOÀN TIỀN" in lines
    assert "Phiếu hoàn tiền số: 0000003" in lines
    assert "Hình thức thanh toán: Thẻ thanh toán" in lines
    assert "Người nhận hoàn tiền: Nguyễn Thị Ánh Tuyết" in lines
    assert "Tổng cộng: 30.000 ₫" in lines


def test_hostile_content_renders_without_control_characters_over_several_pages() -> None:
    items = [
        {
            "description": f"Mặt hàng {index} " + "rất dài " * 40,
            "quantity": 1,
            "unit_price_vnd": 10**9,
            "amount_vnd": 10**9,
        }
        for index in range(1, 31)
    ]
    content = receipt_content(
        payer={"name": "Trần\x00Văn\tBình\r\n\x1b[31m"},
        payee={"name": "Công ty " + "Thương mại " * 30, "tax_code": "0101234567-001", "address": "😀 " * 50},
        items=items,
        amount_vnd=MAX_AMOUNT_VND,
        amount_in_words=amount_in_words(MAX_AMOUNT_VND),
        verification_url="https://cho.so.example/receipts/verify/" + "A" * 400,
    )
    pdf = render_receipt_pdf(content)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = pdf_text(pdf)
    assert "Người nộp tiền: TrầnVăn Bình [31m" in flat(text)
    assert "\x00" not in text and "\x1b" not in text
    assert "Số tiền bằng chữ: Một nghìn tỷ đồng" in flat(text)
    assert "Mặt hàng 30" in text


def test_missing_content_is_named() -> None:
    content = receipt_content()
    del content["verification_url"], content["payer"]
    with pytest.raises(ValueError, match="payer, verification_url"):
        render_receipt_pdf(content)


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (Debian zbar-tools) is not installed")
def test_rendered_page_shows_a_qr_code_of_the_verification_url(tmp_path: Path) -> None:
    content = receipt_content()
    document = pypdfium2.PdfDocument(render_receipt_pdf(content))
    image = document[0].render(scale=200 / 72).to_pil()
    png = tmp_path / "receipt.png"
    image.save(png)
    scanned = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    )
    assert scanned.stdout.strip() == content["verification_url"]
