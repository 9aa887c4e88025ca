"""CSV in, CSV and XLSX out, pure: decoding uploads, and exports that no spreadsheet executes.

Uploads come from Excel and from older office software: UTF-8 with or without a BOM, UTF-16
(Excel's "Unicode text"), or Windows-1258, the Vietnamese code page, which writes tone marks as
combining characters. Decoding tries the BOMs, then UTF-16 without BOM (NUL bytes), then strict
UTF-8, then Windows-1258; the text is NFC-normalised after decoding, so every name is stored
with precomposed letters whatever the file used.

Exports neutralise formula injection (OWASP "CSV injection"): a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, in every CSV
and XLSX this domain writes, so a payer named ``=HYPERLINK(…)`` stays text. Numbers stay numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook

from choso.i18n import N_

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 2000


class UnreadableFile(ValueError):
    """The upload is not a CSV we can read; the message is a message id."""


def decode(data: bytes) -> tuple[str, str]:
    """(NFC text, encoding name) of an uploaded file."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return _decoded(data, encoding)
    if len(data) >= 4 and data[1:4:2] == b"\0\0" and data[0:4:2] != b"\0\0":
        return _decoded(data, "utf-16-le")
    if len(data) >= 4 and data[0:4:2] == b"\0\0" and data[1:4:2] != b"\0\0":
        return _decoded(data, "utf-16-be")
    try:
        return _decoded(data, "utf-8")
    except UnreadableFile:
        return _decoded(data, "cp1258")


def _decoded(data: bytes, encoding: str) -> tuple[str, str]:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise UnreadableFile(N_("The file is not text in UTF-8, UTF-16 or Windows-1258.")) from None
    if "\0" in text:
        raise UnreadableFile(N_("The file is not text in UTF-8, UTF-16 or Windows-1258."))
    return unicodedata.normalize("NFC", text), encoding


def read_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows; the delimiter (comma, semicolon or tab) is detected."""
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error:
        raise UnreadableFile(N_("The file is not valid CSV.")) from None
    if not rows:
        raise UnreadableFile(N_("The file has no rows."))
    if len(rows) - 1 > MAX_ROWS:
        raise UnreadableFile(N_("The file has too many rows (at most 2000 per upload)."))
    return [cell.strip() for cell in rows[0]], rows[1:]


def neutralise(value: Any) -> Any:
    """A cell value that no spreadsheet reads as a formula (text only; numbers pass)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM (so Excel reads the Vietnamese letters), every cell neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(cell) for cell in header])
    for row in rows:
        writer.writerow([neutralise("" if cell is None else cell) for cell in row])
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


def to_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """A workbook with one sheet per (title, header, rows); text cells neutralised."""
    workbook = Workbook()
    workbook.remove(workbook.active)  # type: ignore[arg-type]
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.append([neutralise(cell) for cell in header])
        for row in rows:
            sheet.append([neutralise(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
