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
from collections.abc import Sequence

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIX = "CS"
RANDOM_LENGTH = 8
LENGTH = len(PREFIX) + RANDOM_LENGTH + 1
_N = len(ALPHABET)
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}

# What banks insert between characters of a memo (dropped), and Crockford decoding of look-alike
# letters (I, L read as 1, O as 0; "U" is not a symbol and stays invalid). The prefix "CS" holds
# none of these characters, so one table canonicalises a whole memo. Bytes because
# bytes.translate is ten times faster than str.translate with deletions; non-ASCII characters
# become "?", which joins nothing.
_SEPARATORS = b" \t\r\n.-_/,:;+|"
_ALIASES = bytes.maketrans(b"ILO", b"110")
_WINDOW = re.compile(rb"CS[%b]{%d}" % (ALPHABET.encode(), RANDOM_LENGTH + 1))


# Luhn mod N, read from the right: the check symbol counts once, the symbol before it twice
# (digit sum in base N), and so on. In an 11-character code that makes even indices single and
# odd indices doubled, for the code and for its 10-character payload alike.
_SINGLE = dict(_VALUE)
_DOUBLED = {symbol: (2 * value) // _N + (2 * value) % _N for symbol, value in _VALUE.items()}


def _luhn_sum(text: str) -> int:
    """Raises KeyError for a character outside the alphabet."""
    return sum(map(_SINGLE.__getitem__, text[0::2])) + sum(map(_DOUBLED.__getitem__, text[1::2]))


def check_symbol(payload: str) -> str:
    """The check symbol of the 10-character payload (``CS`` + 8 symbols)."""
    return ALPHABET[(_N - _luhn_sum(payload) % _N) % _N]


def new_reference_code() -> str:
    """A fresh random code from the operating system's CSPRNG (40 random bits)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    payload = PREFIX + body
    return payload + check_symbol(payload)


def is_valid_reference(code: str) -> bool:
    """Whether ``code`` is a canonical code (upper case, no separators) with a correct check symbol."""
    if len(code) != LENGTH or not code.startswith(PREFIX):
        return False
    try:
        return _luhn_sum(code) % _N == 0
    except KeyError:
        return False


def _canonical(raw: str) -> bytes:
    """Upper-case ASCII without separators, with Crockford aliases decoded."""
    return raw.upper().encode("ascii", "replace").translate(_ALIASES, _SEPARATORS)


def normalise_reference(text: str) -> str | None:
    """The canonical code a person or a bank wrote as ``text`` (``cs 7k2m-9qx4 x``), or None."""
    code = _canonical(text).decode()
    return code if is_valid_reference(code) else None


# For callers that inline the scan for speed: search CODE_WINDOW in
# memo.upper().encode("ascii", "replace").translate(CODE_ALIASES, CODE_SEPARATORS).
CODE_WINDOW, CODE_ALIASES, CODE_SEPARATORS = _WINDOW, _ALIASES, _SEPARATORS


def candidate_codes(memo: str) -> list[str]:
    """Canonical 11-character windows that could be codes, not yet checked (for fast lookups).

    The memo is upper-cased and stripped of separators first, so codes split by banks join up;
    every start is tried (the search resumes one character after each window), so a false start
    such as ``CSCS…`` or two codes written back to back hide nothing. A caller holding a table of
    known codes looks each window up first and runs the check symbol only on the rest;
    ``find_references`` is the checked version.
    """
    text = _canonical(memo)
    windows = []
    search = _WINDOW.search
    match = search(text)
    while match is not None:
        windows.append(match.group().decode())
        match = search(text, match.start() + 1)
    return windows


def find_references(memo: str) -> list[str]:
    """Every valid code in a memo, in order of appearance, each once."""
    found: list[str] = []
    for code in candidate_codes(memo):
        if code not in found and is_valid_reference(code):
            found.append(code)
    return found


def all_valid_references(codes: Sequence[str]) -> bool:
    """Whether every one of ``codes`` is canonical with a correct check symbol (``is_valid_reference``
    of each), checked on all of them at once with numpy: for columns of a million codes."""
    if not codes:
        return True
    if set(map(len, codes)) != {LENGTH}:
        return False
    joined = "".join(codes)
    if not joined.isascii():
        return False
    import numpy as np  # imported here: only bulk readers pay for it

    symbols = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, LENGTH)
    if not (symbols[:, :2] == np.frombuffer(PREFIX.encode(), dtype=np.uint8)).all():
        return False
    known, single, doubled = (np.zeros(256, dtype=np.uint8) for _ in range(3))
    for symbol in _VALUE:
        known[ord(symbol)] = 1
        single[ord(symbol)] = _SINGLE[symbol]
        doubled[ord(symbol)] = _DOUBLED[symbol]
    if not known[symbols].all():
        return False
    sums = single[symbols[:, 0::2]].sum(axis=1, dtype=np.int32) + doubled[symbols[:, 1::2]].sum(
        axis=1, dtype=np.int32
    )
    return bool((sums % _N == 0).all())
