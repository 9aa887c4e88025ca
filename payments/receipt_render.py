"""Receipt rendering: the amount in Vietnamese words, and the PDF of a receipt or credit note.

Pure: it takes the frozen ``content`` dict stored on the receipt row and returns bytes; the same
content always gives the same PDF, byte for byte (its dates come from the content, not the clock).

Amounts in words follow the reading used on Vietnamese financial documents: groups of three
digits read in full after the first ("một nghìn không trăm linh năm"), "linh" for a zero tens
digit (the northern usage of Thanh Hóa), "nghìn", "tỷ", a capital first letter and "đồng" at the
end. num2words (``lang="vi"``) reads each group; the grouping rules are ours, because num2words
drops the "không trăm" of inner groups ("một nghìn lẻ mười" for 1010).

The PDF embeds Be Vietnam Pro (SIL Open Font License 1.1, from the ``fontpkg-be-vietnam-pro``
package), a typeface drawn for Vietnamese, so every diacritic has its own precomposed glyph.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fontpkg_be_vietnam_pro
import qrcode
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from num2words import num2words

from choso.money import MAX_AMOUNT_VND

FONT_FAMILY = "BeVietnamPro"
FONT_DIR = fontpkg_be_vietnam_pro.ROOT / "files"
FONT_FILES = {"": FONT_DIR / "BeVietnamPro-Regular.ttf", "B": FONT_DIR / "BeVietnamPro-Bold.ttf"}
LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")
A5_MM = (148, 210)
_SEAM = 0.02  # mm

KIND_LABELS = {"receipt": "Biên lai", "credit_note": "Phiếu hoàn tiền"}
CHANNEL_LABELS = {"vietqr": "Chuyển khoản ngân hàng (VietQR)", "card": "Thẻ thanh toán"}
REQUIRED_KEYS = (
    "title",
    "kind",
    "series",
    "number_text",
    "issued_at_local",
    "payee",
    "payer",
    "items",
    "amount_vnd",
    "amount_in_words",
    "channel",
    "reference_code",
    "verification_url",
)

_BILLION = 10**9
_GROUPS = ((10**6, "triệu"), (10**3, "nghìn"), (1, ""))


# --- amount in words --------------------------------------------------------------------------


def amount_in_words(amount_vnd: int) -> str:
    """``150000`` → ``"Một trăm năm mươi nghìn đồng"``; 0 ≤ amount ≤ MAX_AMOUNT_VND."""
    if type(amount_vnd) is not int or not 0 <= amount_vnd <= MAX_AMOUNT_VND:
        raise ValueError(f"an amount of whole đồng between 0 and {MAX_AMOUNT_VND} is expected")
    words = _number_words(amount_vnd, said_before=False) if amount_vnd else "không"
    return f"{words[0].upper()}{words[1:]} đồng"


def _number_words(number: int, *, said_before: bool) -> str:
    """Words for 0 < number; billions are read as a number of "tỷ" ("một nghìn tỷ")."""
    billions, rest = divmod(number, _BILLION)
    parts = []
    if billions:
        parts.append(_number_words(billions, said_before=said_before) + " tỷ")
        said_before = True
    for size, scale in _GROUPS:
        group, rest = divmod(rest, size)
        if group:
            parts.append(f"{_group_words(group, full=said_before)} {scale}".strip())
            said_before = True
    return " ".join(parts)


def _group_words(group: int, *, full: bool) -> str:
    """A group of three digits (1-999); ``full`` reads its hundreds even when zero."""
    if full and group < 10:
        return f"không trăm linh {num2words(group, lang='vi')}"
    if full and group < 100:
        return f"không trăm {num2words(group, lang='vi')}"
    return num2words(group, lang="vi").replace(" lẻ ", " linh ")


# --- PDF --------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """One line of printable text: NFC (one glyph per Vietnamese letter), no control characters."""
    text = unicodedata.normalize("NFC", str(value))
    return " ".join("".join(ch if ch.isprintable() else " " if ch.isspace() else "" for ch in text).split())


def _vnd(amount_vnd: int) -> str:
    """``1.250.000 ₫``: Vietnamese grouping with ordinary spaces (text copied from the PDF stays plain)."""
    return f"{amount_vnd:,}".replace(",", ".") + " ₫"


def _issued_at(content: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.strptime(str(content["issued_at_local"]), "%d/%m/%Y %H:%M").replace(tzinfo=LOCAL_TIME)
    except ValueError:
        return None


class _ReceiptPdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="portrait", unit="mm", format=A5_MM)
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(auto=True, margin=14)
        for style, path in FONT_FILES.items():
            self.add_font(FONT_FAMILY, style, str(Path(path)))
        self.set_font(FONT_FAMILY, size=9)

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT_FAMILY, size=7)
        self.cell(0, 4, f"Trang {self.page_no()}/{{nb}}", align="R")

    def line_text(
        self, text: str, *, size: float = 9, bold: bool = False, align: str = "L", height: float = 5
    ) -> None:
        self.set_font(FONT_FAMILY, "B" if bold else "", size)
        self.multi_cell(0, height, _text(text), align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def labelled(self, label: str, value: Any) -> None:
        """``Label: value`` with the label in bold, wrapping like running text."""
        self.set_font(FONT_FAMILY, "B", 9)
        self.write(5, f"{_text(label)}: ")
        self.set_font(FONT_FAMILY, "", 9)
        self.write(5, _text(value))
        self.ln(5)


def render_receipt_pdf(content: Mapping[str, Any]) -> bytes:
    """The A5 PDF of a receipt or credit note, from the content frozen on the receipt row."""
    missing = [key for key in REQUIRED_KEYS if key not in content]
    if missing:
        raise ValueError(f"receipt content lacks {', '.join(missing)}")
    pdf = _ReceiptPdf()
    kind = KIND_LABELS.get(str(content["kind"]), KIND_LABELS["receipt"])
    pdf.set_title(_text(f"{content['title']} {content['series']} {content['number_text']}"))
    pdf.set_author(_text(content["payee"].get("name", "")))
    pdf.set_creator("Chợ Số")
    pdf.set_lang("vi-VN")
    issued = _issued_at(content)
    if issued is not None:
        pdf.set_creation_date(issued)
    pdf.add_page()
    _header(pdf, content, kind)
    _parties(pdf, content)
    _items(pdf, content["items"])
    _totals(pdf, content)
    _verification(pdf, content, kind)
    return bytes(pdf.output())


def _header(pdf: _ReceiptPdf, content: Mapping[str, Any], kind: str) -> None:
    payee = content["payee"]
    top = pdf.get_y()
    pdf.set_right_margin(62)  # the payee block on the left, the numbering on the right
    pdf.line_text(payee.get("name", ""), size=10, bold=True)
    pdf.line_text(f"Mã số thuế: {payee.get('tax_code', '')}", size=8, height=4)
    pdf.line_text(f"Địa chỉ: {payee.get('address', '')}", size=8, height=4)
    bottom = pdf.get_y()
    pdf.set_right_margin(12)
    pdf.set_xy(pdf.w - 12 - 48, top)
    pdf.set_font(FONT_FAMILY, "", 8)
    for line in (f"Ký hiệu: {content['series']}", f"{kind} số: {content['number_text']}"):
        pdf.cell(48, 4.5, _text(line), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(bottom, pdf.get_y()) + 4)
    pdf.line_text(content["title"], size=15, bold=True, align="C", height=8)
    pdf.line_text(f"Ngày lập: {content['issued_at_local']}", size=8, align="C", height=4.5)
    pdf.ln(3)


def _parties(pdf: _ReceiptPdf, content: Mapping[str, Any]) -> None:
    # On a credit note the payer is the one the money goes back to.
    payer_label = "Người nhận hoàn tiền" if content["kind"] == "credit_note" else "Người nộp tiền"
    pdf.labelled(payer_label, content["payer"].get("name", ""))
    pdf.labelled("Hình thức thanh toán", CHANNEL_LABELS.get(str(content["channel"]), content["channel"]))
    pdf.labelled("Mã thanh toán", content["reference_code"])
    if content.get("notice_number"):  # a fee receipt names the notice it pays, and its dossier
        pdf.labelled("Thông báo nộp phí số", content["notice_number"])
    if content.get("dossier_number"):
        pdf.labelled("Mã hồ sơ", content["dossier_number"])
    pdf.ln(2)


def _items(pdf: _ReceiptPdf, items: Sequence[Mapping[str, Any]]) -> None:
    pdf.set_font(FONT_FAMILY, "", 8)
    with pdf.table(
        col_widths=(8, 48, 10, 29, 29),
        text_align=("CENTER", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=4.5,
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
    ) as table:
        heading = table.row()
        for title in ("STT", "Nội dung", "SL", "Đơn giá", "Thành tiền"):
            heading.cell(title)
        for index, item in enumerate(items, start=1):
            row = table.row()
            row.cell(str(index))
            row.cell(_text(item.get("description", "")))
            row.cell(_text(item.get("quantity", "")))
            row.cell(_vnd(int(item.get("unit_price_vnd", 0))))
            row.cell(_vnd(int(item.get("amount_vnd", 0))))
    pdf.ln(2)


def _totals(pdf: _ReceiptPdf, content: Mapping[str, Any]) -> None:
    pdf.set_font(FONT_FAMILY, "B", 10)
    pdf.cell(
        0,
        6,
        f"Tổng cộng: {_vnd(int(content['amount_vnd']))}",
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.labelled("Số tiền bằng chữ", content["amount_in_words"])
    pdf.ln(3)


def _verification(pdf: _ReceiptPdf, content: Mapping[str, Any], kind: str) -> None:
    size = 28.0
    if pdf.get_y() + size > pdf.h - 16:
        pdf.add_page()
    top = pdf.get_y()
    _draw_qr(pdf, str(content["verification_url"]), x=pdf.l_margin, y=top, size=size)
    pdf.set_xy(pdf.l_margin + size + 4, top + 2)
    pdf.set_left_margin(pdf.l_margin + size + 4)
    pdf.line_text(f"Quét mã QR hoặc mở địa chỉ dưới đây để kiểm tra {kind.lower()} này:", size=8, height=4)
    pdf.line_text(content["verification_url"], size=7, height=3.5)
    pdf.ln(1)
    pdf.line_text(f"{kind} điện tử lập trên Chợ Số.", size=7, height=3.5)
    pdf.set_left_margin(12)
    pdf.set_y(max(pdf.get_y(), top + size) + 2)


def _draw_qr(pdf: FPDF, data: str, *, x: float, y: float, size: float) -> None:
    """The QR code as vector squares (sharp at any zoom, no image to embed)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for row, modules in enumerate(matrix):
        start = None
        for column, dark in enumerate([*modules, False]):  # runs of dark modules as one rectangle
            if dark and start is None:
                start = column
            elif not dark and start is not None:
                # A hair taller than a module, so that viewers draw no seam between rows.
                top = y + row * module
                pdf.rect(x + start * module, top, (column - start) * module, module + _SEAM, style="F")
                start = None
