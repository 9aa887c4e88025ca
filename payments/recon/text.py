"""Bank text as reconciliation reads it: bytes to text, Vietnamese folding, amounts, dates.

Rules:
- Encodings: a BOM decides (UTF-8, UTF-16 LE/BE); without one, NUL-rich bytes are UTF-16,
  valid UTF-8 is UTF-8, anything else is Windows-1258. Windows-1258 writes most tone marks as
  combining characters, so text is NFC-normalised after decoding.
- Folding removes diacritics (``đ`` → ``d`` included) so ``Nguyễn Văn Ân`` and ``NGUYEN VAN AN``
  compare equal once upper-cased.
- Amounts are whole đồng: ``1.250.000``, ``1,250,000``, ``1 250 000``, ``150000.00`` and
  ``150.000,00`` are all read; a non-zero fraction is an error, never rounded.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from payments.recon.errors import StatementError


def _build_fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord("đ"): "d", ord("Đ"): "D"}
    for codepoint in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        char = chr(codepoint)
        base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
        if base != char and base.isascii() and base:
            table[codepoint] = base
    for codepoint in range(0x300, 0x370):  # stray combining marks (NFD input)
        table[codepoint] = None
    return table


_FOLD = _build_fold_table()


def fold(text: str) -> str:
    """``Nguyễn Văn Đức`` → ``Nguyen Van Duc``."""
    return text.translate(_FOLD)


def fold_upper(text: str) -> str:
    return text.translate(_FOLD).upper()


def nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


# Prefixes and transfer boilerplate of Vietnamese banks, on folded upper-case text.
_BOILERPLATE = re.compile(
    r"\bMBVCB\.\d+(?:\.\d+)?\.?"
    r"|\bIBFT\b|\bFT\d{5,}\b|\bTRACE\s*\d+\b|\bREF\s*[:.]?\s*\d+\b"
    r"|\bCHUYEN\s+KHOAN\b|\bCHUYEN\s+TIEN\b|\bTHANH\s+TOAN\b|\bNOI\s+DUNG\b"
    r"|\bND\s*:|\bCK\b|\bCT\b|\bGD\b|\bTT\b|\bQR\s*-?\s*"
)
_SEPARATORS = re.compile(r"[\s.,;:_/\\|+\-]+")


def normalise_memo(memo: str) -> str:
    """Folded, upper-case memo without bank prefixes and transfer boilerplate, single-spaced."""
    text = _BOILERPLATE.sub(" ", fold_upper(nfc(memo)))
    return " ".join(_SEPARATORS.sub(" ", text).split())


def detect_encoding(data: bytes) -> tuple[str, int]:
    """The encoding of statement bytes and the length of its BOM (see the module rule)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if data.startswith(b"\xff\xfe"):
        return "utf-16-le", 2
    if data.startswith(b"\xfe\xff"):
        return "utf-16-be", 2
    head = data[:400]
    if head.count(0) > len(head) // 4:
        return ("utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"), 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        before = data[: error.start]
        if error.reason == "unexpected end of data" and not before.isascii():
            return "utf-8", 0  # UTF-8 cut in the middle of its last character: report it there
        return "cp1258", 0
    return "utf-8", 0


def decode(data: bytes) -> str:
    """Statement bytes as NFC text."""
    encoding, bom = detect_encoding(data)
    try:
        text = data[bom:].decode(encoding)
    except UnicodeDecodeError as error:
        newline = "\n".encode(encoding)
        line = data[bom : bom + error.start].count(newline) + 1
        raise StatementError(f"not readable as {encoding}: {error.reason}", line=line) from None
    return unicodedata.normalize("NFC", text)


_AMOUNT = re.compile(r"[+-]?\d{1,3}(?:([.,' ])\d{3})*(?:([.,])(\d{1,2}))?|[+-]?\d+(?:([.,])(\d{1,2}))?")


def parse_amount(text: str) -> int:
    """Whole đồng from bank text; raises ValueError for anything else."""
    cleaned = text.strip().replace("\u00a0", " ").removesuffix("VND").removesuffix("đ").strip()
    if cleaned.startswith("(") and cleaned.endswith(")"):
        cleaned = "-" + cleaned[1:-1]
    try:
        return int(cleaned)
    except ValueError:
        pass
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        raise ValueError(f"amount {text!r} is not a number")
    thousands, decimal_sep, fraction = match.group(1), match.group(2), match.group(3)
    if decimal_sep is None and match.group(4):
        decimal_sep, fraction = match.group(4), match.group(5)
    whole_part = cleaned[: match.start(2)] if match.group(2) else cleaned
    if (thousands and decimal_sep == thousands) or len(set(re.findall(r"[.,' ]", whole_part))) > 1:
        raise ValueError(f"amount {text!r} mixes up separators")
    if fraction and int(fraction):
        raise ValueError(f"amount {text!r} has a fraction of a đồng")
    whole = cleaned[: match.start(2) if match.group(2) else match.start(4) if match.group(4) else None]
    return int(re.sub(r"[.,' ]", "", whole))


_DATE_FORMATS = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
)
_TIME = re.compile(r"(\d{1,2}:\d{2}(?::\d{2})?)")


def parse_date(text: str) -> tuple[date, str | None]:
    """A booking date and, when present, its time: ISO, ``dd/mm/yyyy`` (Vietnamese) or ``yyyymmdd``."""
    stripped = text.strip()
    for pattern in _DATE_FORMATS:
        match = pattern.match(stripped)
        if match:
            booked = date(int(match["y"]), int(match["m"]), int(match["d"]))
            rest = stripped[match.end() :]
            time = _TIME.search(rest)
            return booked, time.group(1) if time else None
    raise ValueError(f"date {text!r} is not a date")


_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def encode_windows_1258(text: str) -> bytes:
    """Text as Vietnamese Windows software writes it: base letters precomposed, tones combining."""
    out = []
    for char in text:
        try:
            out.append(char.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in parts if c in _TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONE_MARKS))
        out.append((base + tones).encode("cp1258"))
    return b"".join(out)
