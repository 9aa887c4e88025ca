"""Payment reference codes: what a payer copies into a bank transfer memo.

A code is ``CS`` + 8 random Crockford base32 symbols + 1 check symbol, 11 characters, letters and
digits only (banks strip everything else). The check symbol is Luhn mod N over the same 32-symbol
alphabet, computed over the 10 characters before it. It catches every single-symbol substitution
and every swap of two neighbouring symbols except ``0``↔``Z`` (the one pair whose Luhn
contributions coincide for N = 32).

Reading is forgiving the way Crockford base32 intends: case-insensitive, ``I``/``L`` read as ``1``
and ``O`` as ``0``, and spaces, dashes, dots and line breaks that banks insert are ignored.
``find_references`` scans a whole memo, also when two codes are run together.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "CS"
RANDOM_LENGTH = 8
LENGTH = len(PREFIX) + RANDOM_LENGTH + 1
_N = len(ALPHABET)
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}

# Crockford decoding of look-alike letters; "U" is not a symbol and stays invalid.
_CROCKFORD_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})
# What banks insert between characters of a memo.
_SEPARATORS = " \t\r\n.-_/,:;+"
_DROP_SEPARATORS = str.maketrans("", "", _SEPARATORS)
_SEP = r"[\s.\-_/,:;+]{0,3}"
# Symbols of the code body as they may appear in upper-cased text (aliases included, "U" not).
_BODY = "[0-9A-TV-Z]"
_CANDIDATE = re.compile(rf"(?=(C{_SEP}S(?:{_SEP}{_BODY}){{{RANDOM_LENGTH + 1}}}))")
_CANONICAL = re.compile(rf"CS[{ALPHABET}]{{{RANDOM_LENGTH + 1}}}")


def _luhn_sum(values: list[int], double_first: bool) -> int:
    """Luhn mod N sum over values read right to left, doubling every other one."""
    total = 0
    double = double_first
    for value in reversed(values):
        if double:
            value *= 2
            value = value // _N + value % _N
        total += value
        double = not double
    return total


def check_symbol(payload: str) -> str:
    """The check symbol of the 10-character payload (``CS`` + 8 symbols)."""
    total = _luhn_sum([_VALUE[symbol] for symbol in payload], double_first=True)
    return ALPHABET[(_N - total % _N) % _N]


def new_reference_code() -> str:
    """A fresh random code from the operating system's CSPRNG (40 random bits)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    payload = PREFIX + body
    return payload + check_symbol(payload)


def is_valid_reference(code: str) -> bool:
    """Whether ``code`` is a canonical code (upper case, no separators) with a correct check symbol."""
    if _CANONICAL.fullmatch(code) is None:
        return False
    return _luhn_sum([_VALUE[symbol] for symbol in code], double_first=False) % _N == 0


def _canonical(raw: str) -> str:
    """Upper-case text without separators, with Crockford aliases decoded after the prefix."""
    compact = raw.upper().translate(_DROP_SEPARATORS)
    return compact[:2] + compact[2:].translate(_CROCKFORD_ALIASES)


def normalise_reference(text: str) -> str | None:
    """The canonical code a person or a bank wrote as ``text`` (``cs 7k2m-9qx4 x``), or None."""
    code = _canonical(text)
    return code if is_valid_reference(code) else None


def find_references(memo: str) -> list[str]:
    """Every valid code in a memo, in order of appearance, each once.

    Every position is tried (a lookahead), so a false start such as ``CSCS…`` or two codes
    written back to back do not hide a real code.
    """
    found: list[str] = []
    for match in _CANDIDATE.finditer(memo.upper()):
        code = _canonical(match.group(1))
        if code not in found and is_valid_reference(code):
            found.append(code)
    return found
