"""Statements as tables: the generic CSV, Vietnamese banks' CSV/XLSX exports, custom mappings.

A :class:`Layout` names, for each field, the column headers it may have (compared after folding
diacritics and case, and as whole words, so ``Số tiền ghi có/Credit`` is found by ``SO TIEN GHI
CO`` or ``CREDIT``). The header row is searched among the first rows, because bank exports start
with a preamble (bank name, ``Số tài khoản``, period, ``Số dư đầu kỳ``); the account number and
the opening and closing balances are read from those label rows wherever they are. Rows without
a date that are totals or balances (``Tổng cộng``, ``Số dư cuối kỳ``) are skipped; any other row
that cannot be read stops the import with its line number.

Amounts are one signed column or separate debit and credit columns (both positive). Vietcombank
exports put the transaction number under the date in the same cell (``31/10/2023\\n5243.65937``).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from itertools import chain, islice, repeat
from operator import itemgetter, sub
from typing import Any

from payments.recon.errors import StatementError
from payments.recon.model import Statement, StatementLine
from payments.recon.text import detect_encoding, fold_upper, nfc, parse_amount, parse_date

FIELDS = ("date", "time", "amount", "credit", "debit", "memo", "bank_reference", "counterparty_name",
          "counterparty_account", "account")  # fmt: skip


@dataclass(frozen=True)
class Layout:
    name: str
    columns: dict[str, tuple[str, ...]]  # field -> header aliases (folded, upper case)
    reference_in_date_cell: bool = False
    markers: tuple[str, ...] = ()  # preamble words that identify the bank (for auto-detection)

    @classmethod
    def from_mapping(cls, mapping: dict[str, str], *, base: Layout | None = None) -> Layout:
        """A layout from ``{"date": "Posting date", "amount": "Value", ...}`` (overrides ``base``)."""
        unknown = set(mapping) - set(FIELDS)
        if unknown:
            raise ValueError(
                f"unknown column field(s): {', '.join(sorted(unknown))}; known: {', '.join(FIELDS)}"
            )
        columns = dict(base.columns) if base else {}
        columns.update({name: (_header_key(header),) for name, header in mapping.items()})
        return replace(base, columns=columns) if base else cls("custom", columns)


GENERIC = Layout(
    "csv",
    {
        "date": ("DATE", "BOOKED ON", "BOOKING DATE", "NGAY", "NGAY GIAO DICH"),
        "time": ("TIME", "GIO"),
        "amount": ("AMOUNT", "AMOUNT VND", "SO TIEN"),
        "credit": ("CREDIT",),
        "debit": ("DEBIT",),
        "memo": ("DESCRIPTION", "MEMO", "NOI DUNG", "DIEN GIAI", "REMITTANCE INFORMATION"),
        "bank_reference": ("BANK REFERENCE", "BANK REF", "TRANSACTION ID", "SO THAM CHIEU"),
        "counterparty_name": ("COUNTERPARTY NAME", "COUNTERPARTY", "PAYER", "TEN DOI UNG"),
        "counterparty_account": ("COUNTERPARTY ACCOUNT", "TAI KHOAN DOI UNG"),
        "account": ("ACCOUNT", "SO TAI KHOAN"),
    },
)

VIETCOMBANK = Layout(
    "vietcombank",
    {
        "date": ("NGAY GIAO DICH", "TRANSACTION DATE", "NGAY HIEU LUC", "EFFECTIVE DATE"),
        "bank_reference": ("SO THAM CHIEU", "REFERENCE NO", "SO CT", "DOC NO"),
        "debit": ("SO TIEN GHI NO", "DEBIT"),
        "credit": ("SO TIEN GHI CO", "CREDIT"),
        "memo": ("NOI DUNG CHI TIET", "TRANSACTIONS IN DETAIL", "MO TA", "DESCRIPTION"),
    },
    reference_in_date_cell=True,
    markers=("VIETCOMBANK", "NGOAI THUONG", "BFTVVNVX"),
)

BIDV = Layout(
    "bidv",
    {
        "date": ("NGAY GIAO DICH", "NGAY HIEU LUC", "TRANSACTION DATE"),
        "bank_reference": ("SO BUT TOAN", "SO GIAO DICH", "MA GIAO DICH", "SO CT", "SO THAM CHIEU"),
        "debit": ("GHI NO", "PHAT SINH NO", "DEBIT"),
        "credit": ("GHI CO", "PHAT SINH CO", "CREDIT"),
        "memo": ("DIEN GIAI", "MO TA", "NOI DUNG GIAO DICH", "DESCRIPTION"),
        "counterparty_name": ("TEN TAI KHOAN DOI UNG", "TEN DOI UNG", "TEN NGUOI CHUYEN"),
        "counterparty_account": ("TAI KHOAN DOI UNG", "SO TAI KHOAN DOI UNG"),
    },
    markers=("BIDV", "DAU TU VA PHAT TRIEN", "BIDVVNVX"),
)

LAYOUTS = {layout.name: layout for layout in (VIETCOMBANK, BIDV, GENERIC)}

_NON_WORD = re.compile(r"[^0-9A-Z]+")
_HEADER_SEARCH_ROWS = 40
_DATE_START = re.compile(r"\s*(?:\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}|\d{8}\b)")
_CHUNK_ROWS = 500  # rows read column by column at a time (small: their cells are still in the CPU cache)
_SUMMARY_WORDS = ("TONG", "TOTAL", "SO DU", "CONG PHAT SINH", "BALANCE", "OPENING", "CLOSING")


def _header_key(text: object) -> str:
    """``'Số tiền ghi có/Credit'`` → ``'SO TIEN GHI CO CREDIT'``."""
    return " ".join(_NON_WORD.sub(" ", fold_upper(nfc(str(text or "")))).split())


def _alias_hits(alias: str, cell: str) -> int:
    """2 for an exact header, 1 for the alias as whole words inside it, 0 otherwise."""
    if cell == alias:
        return 2
    return 1 if f" {alias} " in f" {cell} " else 0


def _resolve(layout: Layout, header: Sequence[str]) -> dict[str, int] | None:
    """Column index per field, or None when the row is not this layout's header."""
    found: dict[str, int] = {}
    taken: set[int] = set()
    for name in FIELDS:
        best: tuple[int, int, int] | None = None  # (strength, -alias rank, column)
        for rank, alias in enumerate(layout.columns.get(name, ())):
            for column, cell in enumerate(header):
                strength = _alias_hits(alias, cell)
                if strength and column not in taken and (best is None or (strength, -rank) > best[:2]):
                    best = (strength, -rank, column)
        if best is not None:
            found[name] = best[2]
            taken.add(best[2])
    has_amount = "amount" in found or "credit" in found or "debit" in found
    if "date" not in found or "memo" not in found or not has_amount:
        return None
    if "credit" in found or "debit" in found:
        found.pop("amount", None)  # separate columns win over an ambiguous "Số tiền"
    return found


@dataclass
class _Table:
    """Rows of cells (str, numbers, dates) with the physical line or row number of each."""

    rows: list[tuple[int, Sequence[Any]]]
    format_hint: str = ""
    preamble_text: list[str] = field(default_factory=list)


def read_table(
    table_rows: Iterable[tuple[int, Sequence[Any]]], layout: Layout | None, *, source: str
) -> Statement:
    """A statement from rows; ``layout`` None tries the known bank layouts, then the generic one.

    Rows are consumed as a stream after the header, so a million-line file is never held twice.
    """
    rows = iter(table_rows)
    head = list(islice(rows, _HEADER_SEARCH_ROWS))
    keys = [[_header_key(cell) for cell in cells] for _, cells in head]
    candidates = [layout] if layout else _auto_layouts(keys)
    for candidate in candidates:
        for index, header in enumerate(keys):
            columns = _resolve(candidate, header)
            if columns is not None:
                return _read_rows(head[:index], chain(head[index + 1 :], rows), columns, candidate, source)
    raise StatementError("no header row with a date, an amount and a description column", line=1)


def _auto_layouts(keys: list[list[str]]) -> list[Layout]:
    text = " ".join(" ".join(row) for row in keys)
    marked = [layout for layout in LAYOUTS.values() if any(marker in text for marker in layout.markers)]
    return marked + [layout for layout in LAYOUTS.values() if layout not in marked]


def _read_rows(
    preamble: list[tuple[int, Sequence[Any]]],
    rows: Iterable[tuple[int, Sequence[Any]]],
    columns: dict[str, int],
    layout: Layout,
    source: str,
) -> Statement:
    statement = Statement(format=layout.name, lines=[])
    _read_preamble(statement, preamble)
    reader = _RowReader(columns, layout, statement)
    date_column, is_date = columns["date"], _DATE_START.match
    lines = statement.lines
    append = lines.append
    rows = iter(rows)
    while chunk := list(islice(rows, _CHUNK_ROWS)):
        # The usual chunk is read column by column; any other one row by row, which also names
        # the first row that cannot be read.
        at_once = reader.lines_at_once(len(lines) + 1, chunk)
        if at_once is not None:
            lines.extend(at_once)
            continue
        for line_number, cells in chunk:
            day = cells[date_column] if date_column < len(cells) else None
            # The usual row has a date text; anything else may be blank, a total or a balance.
            if not (type(day) is str and is_date(day)):
                if not any(cells):
                    continue
                if reader.is_summary(cells):
                    _read_label_row(statement, cells)
                    continue
            try:
                append(reader.line(len(lines) + 1, cells))
            except (ValueError, IndexError) as error:
                raise StatementError(f"{source}: {error}", line=line_number) from None
    if not statement.account and statement.lines:
        statement.account = statement.lines[0].account
    return statement


class _RowReader:
    """Turns one data row into a StatementLine; caches repeated amount and date texts (speed)."""

    def __init__(self, columns: dict[str, int], layout: Layout, statement: Statement) -> None:
        self.columns = columns
        self.layout = layout
        self.statement = statement
        self.amounts: dict[str, int] = {}
        self.dates: dict[str, tuple[date, str | None]] = {}
        self.indexes = tuple(columns.get(name, -1) for name in FIELDS)
        self.signed = "amount" in columns
        self.dates_cacheable = not layout.reference_in_date_cell
        self.repeated: dict[str, str] = {}  # one object for texts on every line (account, times)

    def is_summary(self, cells: Sequence[Any]) -> bool:
        """A totals or balance row (no date in the date column, a summary label somewhere)."""
        value = cells[self.columns["date"]] if self.columns["date"] < len(cells) else None
        if isinstance(value, (date, datetime)) or (isinstance(value, str) and _DATE_START.match(value)):
            return False
        text = _header_key(" ".join(str(cell) for cell in cells if cell not in (None, "")))
        return any(word in text for word in _SUMMARY_WORDS) or not text

    def amount(self, value: Any) -> int:
        if value is None or value == "":
            return 0
        if isinstance(value, bool):
            raise ValueError(f"amount {value!r} is not a number")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"amount {value!r} has a fraction of a đồng")
            return int(value)
        cached = self.amounts.get(value)
        if cached is None:
            cached = self.amounts[value] = parse_amount(value)
            if len(self.amounts) > 200_000:
                self.amounts.clear()
        return cached

    def booked(self, value: Any) -> tuple[date, str | None, str | None]:
        if isinstance(value, datetime):
            return (
                value.date(),
                value.strftime("%H:%M:%S") if value.time() != datetime.min.time() else None,
                None,
            )
        if isinstance(value, date):
            return value, None, None
        text = str(value or "").strip()
        extra = None
        if self.layout.reference_in_date_cell and "\n" in text:
            text, _, extra = text.partition("\n")
            extra = extra.strip() or None
        cached = self.dates.get(text)
        if cached is None:
            cached = self.dates[text] = parse_date(text)
        return cached[0], cached[1], extra

    def lines_at_once(
        self, position: int, chunk: list[tuple[int, Sequence[Any]]]
    ) -> list[StatementLine] | None:
        """What ``line`` makes of each row of ``chunk`` (numbered from ``position``), computed a
        column at a time: each distinct date, amount, account and time text is read once and the
        rest are C loops (``map``). None unless every row is the plain case: all cells text, as
        many as the header's columns, a readable date text in the date column (so no blank,
        total or balance rows) and readable amounts; the caller then reads the chunk row by row."""
        if not self.dates_cacheable:
            return None
        table = list(map(itemgetter(1), chunk))
        widths = set(map(len, table))
        if len(widths) != 1 or max(self.indexes) >= widths.pop():
            return None
        columns = list(zip(*table, strict=True))
        if any(set(map(type, column)) != {str} for column in columns):
            return None
        count = len(table)
        day_index, time_index, amount_index, credit_index, debit_index, *texts, account_index = self.indexes
        try:
            days = {text: self._day(text) for text in set(columns[day_index])}
            if self.signed:
                amounts = list(
                    map(
                        {text: self.amount(text) for text in set(columns[amount_index])}.__getitem__,
                        columns[amount_index],
                    )
                )
            else:
                credits, debits = (
                    self._amount_column(credit_index, columns),
                    self._amount_column(debit_index, columns),
                )
                amounts = list(map(sub, map(abs, credits), map(abs, debits)))
        except ValueError:
            return None
        booked = list(map(days.__getitem__, columns[day_index]))
        memo, reference, name, account_of_other = [
            self._text_column(columns, index, count) for index in texts
        ]
        repeated, own_account = self.repeated, self.statement.account
        accounts = self._text_column(columns, account_index, count)
        accounts = list(
            map(
                {text: repeated.setdefault(text, text) or own_account for text in set(accounts)}.__getitem__,
                accounts,
            )
        )
        times = self._text_column(columns, time_index, count)
        times = list(map({text: repeated.setdefault(text, text) for text in set(times)}.__getitem__, times))
        if "" in times:
            times = [time or day[1] for time, day in zip(times, booked, strict=True)]
        return list(
            map(
                StatementLine,
                range(position, position + count),
                map(itemgetter(0), booked),
                amounts,
                memo,
                [text or None for text in reference],
                name,
                account_of_other,
                accounts,
                times,
            )
        )

    def _day(self, text: str) -> tuple[date, str | None]:
        if not _DATE_START.match(text):
            raise ValueError(text)  # not a date: a blank, total or balance row, for the caller
        cached = self.dates.get(text)
        if cached is None:
            cached = self.booked(text)[:2]
        return cached

    def _amount_column(self, index: int, columns: list[tuple[str, ...]]) -> list[int]:
        if index < 0:
            return [0] * len(columns[0])
        return list(
            map({text: self.amount(text) for text in set(columns[index])}.__getitem__, columns[index])
        )

    @staticmethod
    def _text_column(columns: list[tuple[str, ...]], index: int, count: int) -> list[str]:
        if index < 0:
            return [""] * count
        return list(map(unicodedata.normalize, repeat("NFC"), map(str.strip, columns[index])))

    def line(self, position: int, cells: Sequence[Any]) -> StatementLine:
        width = len(cells)
        day, time, amount, credit, debit, memo, reference, name, account_of_other, account = [
            cells[column] if -1 < column < width else None for column in self.indexes
        ]
        cached_day = self.dates.get(day) if self.dates_cacheable and type(day) is str else None
        if cached_day is None:
            booked_on, booked_time, reference_in_date = self.booked(day)
        else:
            (booked_on, booked_time), reference_in_date = cached_day, None
        if self.signed:
            amount_vnd = self.amounts.get(amount) if type(amount) is str else None
            if amount_vnd is None:
                amount_vnd = self.amount(amount)
        else:
            amount_vnd = abs(self.amount(credit)) - abs(self.amount(debit))
        # Text cells stripped; only non-ASCII text goes through the NFC normaliser (inlined: speed).
        memo, reference, name, account_of_other, account, time = [
            ""
            if value is None
            else _clean(value)
            if type(value) is not str or not value.isascii()
            else value.strip()
            for value in (memo, reference, name, account_of_other, account, time)
        ]
        repeated = self.repeated
        return StatementLine(
            position,
            booked_on,
            amount_vnd,
            memo,
            reference or reference_in_date or None,
            name,
            account_of_other,
            repeated.setdefault(account, account) or self.statement.account,
            repeated.setdefault(time, time) or booked_time,
        )


def _clean(value: Any) -> str:
    """A cell as text: stripped and NFC-normalised (ASCII, the usual case, skips the normaliser)."""
    if value is None:
        return ""
    text = value.strip() if type(value) is str else str(value).strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_ACCOUNT_LABELS = ("SO TAI KHOAN", "ACCOUNT NUMBER", "ACCOUNT NO")
_OPENING_LABELS = ("SO DU DAU KY", "OPENING BALANCE")
_CLOSING_LABELS = ("SO DU CUOI KY", "CLOSING BALANCE")
_ACCOUNT_NUMBER = re.compile(r"\b\d{6,20}\b")


def _read_preamble(statement: Statement, rows: list[tuple[int, Sequence[Any]]]) -> None:
    for _, cells in rows:
        _read_label_row(statement, cells)


def _read_label_row(statement: Statement, cells: Sequence[Any]) -> None:
    """Account number and balances from rows like ``Số tài khoản: | 0011004455667``."""
    values = [cell for cell in cells if cell not in (None, "")]
    text = _header_key(" ".join(str(value) for value in values))
    if any(label in text for label in _ACCOUNT_LABELS) and not statement.account:
        match = _ACCOUNT_NUMBER.search(" ".join(str(value) for value in values))
        if match:
            statement.account = match.group()
    for labels, attribute in (
        (_OPENING_LABELS, "opening_balance_vnd"),
        (_CLOSING_LABELS, "closing_balance_vnd"),
    ):
        if any(label in text for label in labels):
            amount = _last_amount(values)
            if amount is not None:
                setattr(statement, attribute, amount)


def _last_amount(values: list[Any]) -> int | None:
    for value in reversed(values):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
        candidate = str(value).rpartition(":")[2].strip()
        try:
            return parse_amount(candidate)
        except ValueError:
            continue
    return None


# --- CSV and XLSX sources ---------------------------------------------------------------------------


def csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Rows of a delimited text file (``,``, ``;`` or tab, sniffed), with physical line numbers.

    Decoded as a stream (fields are NFC-normalised by the row reader), so a large file is not
    copied as one string.
    """
    encoding, bom = detect_encoding(data)
    buffer = io.BytesIO(data)
    buffer.seek(bom)
    stream = io.TextIOWrapper(buffer, encoding=encoding, newline="")
    sample = data[bom : bom + 20_000].decode(encoding, "replace")
    delimiter = max((",", ";", "\t"), key=sample.count)
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        raise StatementError(f"not a readable CSV file: {error}", line=reader.line_num) from None
    except UnicodeDecodeError as error:
        raise StatementError(
            f"not readable as {encoding}: {error.reason}", line=reader.line_num + 1
        ) from None


def xlsx_rows(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Rows of the first worksheet of an XLSX workbook (values, not formulas)."""
    from openpyxl import load_workbook  # imported here: only XLSX imports pay for it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise StatementError(f"not a readable XLSX workbook: {error}") from None
    try:
        sheet = workbook.worksheets[0]
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    finally:
        workbook.close()
