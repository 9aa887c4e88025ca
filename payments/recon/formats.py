"""Reading statements and expected payments from bytes: format detection and dispatch.

Formats: ``camt053`` (ISO 20022 XML), ``mt940`` (SWIFT), ``csv`` (the generic layout, or a
custom column mapping), and Vietnamese bank exports by name (``vietcombank``, ``bidv``), each as
CSV or XLSX. ``auto`` looks at the bytes: a ZIP container is XLSX, XML with ``BkToCstmrStmt`` is
camt.053, lines starting with ``:20:`` and ``:25:``/``:61:`` are MT940, anything else is a table
whose header row decides the layout. Expected payments are a CSV ``reference,amount_vnd,payer_name,due_date``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from datetime import date
from itertools import repeat
from pathlib import Path

from payments.recon.camt import read_camt053
from payments.recon.errors import StatementError
from payments.recon.model import ExpectedPayment, Statement
from payments.recon.swift import read_mt940
from payments.recon.tabular import LAYOUTS, Layout, csv_rows, read_table, xlsx_rows
from payments.recon.text import decode, detect_encoding, nfc
from payments.reference import all_valid_references, is_valid_reference, normalise_reference

FORMATS = ("auto", "camt053", "mt940", *LAYOUTS)


_MT940_TAG20 = re.compile(r"^:20:", re.MULTILINE)
_MT940_TAG25_61 = re.compile(r"^:(?:25|61):", re.MULTILINE)


def detect_format(data: bytes) -> str:
    """``xlsx``, ``camt053``, ``mt940`` or ``table`` (a CSV whose layout the header decides)."""
    if data.startswith(b"PK\x03\x04"):
        return "xlsx"
    encoding, bom = detect_encoding(data[:4096])
    head = data[bom : bom + 4096].decode(encoding, "replace").lstrip()
    if head.startswith("<") and ("BkToCstmrStmt" in head or "camt.053" in head):
        return "camt053"
    if head.startswith("{1:") or (_MT940_TAG20.search(head) and _MT940_TAG25_61.search(head)):
        return "mt940"
    return "table"


def read_statement(data: bytes, format: str = "auto", *, layout: Layout | None = None) -> Statement:
    """A statement from its bytes. ``layout`` (a custom column mapping) applies to tables."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    kind = detect_format(data)
    if format == "camt053" or (format == "auto" and kind == "camt053"):
        return read_camt053(data)
    if format == "mt940" or (format == "auto" and kind == "mt940"):
        return read_mt940(decode(data))
    if format != "auto":
        layout = layout or LAYOUTS[format]
    rows = xlsx_rows(data) if kind == "xlsx" else csv_rows(data)
    return read_table(rows, layout, source=format if format != "auto" else kind)


def read_statement_file(path: Path, format: str = "auto", *, layout: Layout | None = None) -> Statement:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StatementError(f"cannot read {path}: {error.strerror}") from None
    return read_statement(data, format, layout=layout)


EXPECTED_HEADER = ("reference", "amount_vnd", "payer_name", "due_date")


def read_expected(data: bytes) -> list[ExpectedPayment]:
    """Expected payments from ``reference,amount_vnd,payer_name,due_date`` (the last two may be empty)."""
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(reader, [])]
    if header[:2] != ["reference", "amount_vnd"]:
        raise StatementError(f"expected payments need the header {','.join(EXPECTED_HEADER)}", line=1)
    column = {name: header.index(name) for name in EXPECTED_HEADER if name in header}
    try:
        rows = list(reader)
    except csv.Error:
        rows = None
    payments_at_once = _expected_columns(rows, column, len(header)) if rows is not None else None
    if payments_at_once is not None:
        return payments_at_once
    # Something in the file is not the plain case (a blank or short row, a code to normalise, an
    # error to report): row by row, from the start, so the first bad row is the one named.
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    dates: dict[str, date | None] = {"": None}
    payments: list[ExpectedPayment] = []
    seen: set[str] = set()
    for row in reader:
        if not any(row):
            continue
        try:
            payment = _expected_row(row, column, dates)
        except (ValueError, IndexError) as error:
            raise StatementError(str(error), line=reader.line_num) from None
        if payment.reference in seen:
            raise StatementError(f"reference {payment.reference} appears twice", line=reader.line_num)
        seen.add(payment.reference)
        payments.append(payment)
    return payments


def _expected_columns(
    rows: list[list[str]], column: dict[str, int], width: int
) -> list[ExpectedPayment] | None:
    """All rows checked and converted column by column (C loops, numpy for the check symbols), or
    None when any row is not the plain case: every row as wide as the header, canonical codes
    appearing once, amounts of digits only above 0, ISO due dates. The result is what
    ``_expected_row`` makes of each row. Decoded text is NFC already; names are normalised again
    (a no-op, as ``_expected_row`` does) after stripping. Rows are converted 1,000 at a time, so
    that their cells are still in the CPU cache."""
    if not rows or set(map(len, rows)) != {width}:
        return None
    payments: list[ExpectedPayment] = []
    references: list[str] = []
    dates: dict[str, date | None] = {"": None}
    for start in range(0, len(rows), _EXPECTED_BLOCK):
        block = _expected_block(rows[start : start + _EXPECTED_BLOCK], column, dates)
        if block is None:
            return None
        payments.extend(block[0])
        references.extend(block[1])
    if len(set(references)) != len(references) or not all_valid_references(references):
        return None
    return payments


_EXPECTED_BLOCK = 1_000


def _expected_block(
    rows: list[list[str]], column: dict[str, int], dates: dict[str, date | None]
) -> tuple[list[ExpectedPayment], tuple[str, ...]] | None:
    columns = list(zip(*rows, strict=True))
    references = columns[column["reference"]]
    amount_texts = columns[column["amount_vnd"]]
    if not "".join(amount_texts).isdecimal():
        return None
    try:
        amounts = list(map(int, amount_texts))
    except ValueError:  # an empty cell, or too many digits
        return None
    if min(amounts) <= 0:
        return None
    names: Iterable[str] = repeat("")
    if "payer_name" in column:
        names = map(unicodedata.normalize, repeat("NFC"), map(str.strip, columns[column["payer_name"]]))
    due_dates: Iterable[date | None] = repeat(None)
    if "due_date" in column:
        due_texts = list(map(str.strip, columns[column["due_date"]]))
        try:
            for text in set(due_texts).difference(dates):
                dates[text] = date.fromisoformat(text)
        except ValueError:
            return None
        due_dates = map(dates.__getitem__, due_texts)
    return list(map(ExpectedPayment, references, amounts, names, due_dates)), references


def _expected_row(row: list[str], column: dict[str, int], dates: dict[str, date | None]) -> ExpectedPayment:
    raw = row[column["reference"]].strip()
    reference = raw if is_valid_reference(raw) else normalise_reference(raw)
    if reference is None:
        raise ValueError(f"reference {raw!r} is not a valid code")
    amount_text = row[column["amount_vnd"]].strip()
    if not amount_text.isdecimal() or int(amount_text) <= 0:
        raise ValueError(f"amount_vnd {amount_text!r} must be a whole number of đồng above 0")
    name = (
        row[column["payer_name"]].strip()
        if "payer_name" in column and column["payer_name"] < len(row)
        else ""
    )
    due_text = (
        row[column["due_date"]].strip() if "due_date" in column and column["due_date"] < len(row) else ""
    )
    if due_text not in dates:
        dates[due_text] = date.fromisoformat(due_text)
    return ExpectedPayment(reference, int(amount_text), nfc(name), dates[due_text])
