"""The NAPAS bank list: which acquirer BIN (VietQR tag 38.01.00) belongs to which bank.

The list ships as data (``payments/data/napas_banks.json``, its source named in the file).
Rule: a BIN is not a unique key. When banks merge or rename, the old name keeps its BIN beside
the new one (DongA Bank and Vikki share 970406), so a lookup by BIN answers every bank that
uses it, the current one first; an entry with ``current`` false names its successor.
Reading the packaged file is the only I/O, once per process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any, TypeGuard

DATA_FILE = "data/napas_banks.json"


class UnknownBin(ValueError):
    """A BIN that is not six digits or that no bank on the NAPAS list uses."""


@dataclass(frozen=True, slots=True)
class Bank:
    bin: str
    code: str  # the bank code used by VietQR.io and bank-transaction services (VCB, MB…)
    short_name: str
    name: str
    current: bool = True
    succeeded_by: str | None = None  # for a former name: the short name that replaced it


@dataclass(frozen=True)
class BankList:
    banks: tuple[Bank, ...]
    by_bin: MappingProxyType[str, tuple[Bank, ...]]
    source: str


@cache
def bank_list() -> BankList:
    """The shipped list, loaded once."""
    document = json.loads(files("payments").joinpath(DATA_FILE).read_text(encoding="utf-8"))
    return build_bank_list(document)


def build_bank_list(document: dict[str, Any]) -> BankList:
    """A :class:`BankList` from the JSON document (checked: six-digit BINs, no duplicate row,
    at most one current bank per BIN and code)."""
    banks = tuple(Bank(**row) for row in document["banks"])
    by_bin: dict[str, list[Bank]] = {}
    for bank in banks:
        if not is_bin_shaped(bank.bin):
            raise ValueError(f"bank list: {bank.short_name} has an invalid BIN {bank.bin!r}")
        by_bin.setdefault(bank.bin, []).append(bank)
    for bin, sharing in by_bin.items():
        if sum(bank.current for bank in sharing) != 1:
            raise ValueError(f"bank list: BIN {bin} needs exactly one current bank, has {len(sharing)} rows")
    ordered = {bin: tuple(sorted(rows, key=lambda bank: not bank.current)) for bin, rows in by_bin.items()}
    return BankList(banks=banks, by_bin=MappingProxyType(ordered), source=document["source"])


def is_bin_shaped(bin: object) -> TypeGuard[str]:
    return type(bin) is str and len(bin) == 6 and bin.isascii() and bin.isdigit()


def banks_for_bin(bin: str) -> tuple[Bank, ...]:
    """Every bank that uses ``bin``, the current one first; empty if none does."""
    return bank_list().by_bin.get(bin, ())


def find_bank(bin: str) -> Bank | None:
    """The bank that uses ``bin`` today, or None."""
    sharing = banks_for_bin(bin)
    return sharing[0] if sharing else None


def get_bank(bin: str) -> Bank:
    """The bank that uses ``bin`` today; :class:`UnknownBin` if none does."""
    bank = find_bank(validate_bin(bin))
    if bank is None:
        raise UnknownBin(f"no bank on the NAPAS list uses BIN {bin}")
    return bank


def validate_bin(bin: object) -> str:
    """``bin`` if it is six digits and on the NAPAS list; :class:`UnknownBin` otherwise."""
    if not is_bin_shaped(bin):
        raise UnknownBin(f"a BIN is 6 digits, got {bin!r}")
    if bin not in bank_list().by_bin:
        raise UnknownBin(f"no bank on the NAPAS list uses BIN {bin}")
    return bin


def is_known_bin(bin: object) -> bool:
    return is_bin_shaped(bin) and bin in bank_list().by_bin


def current_banks() -> tuple[Bank, ...]:
    """One bank per BIN, as a payer or payee would pick it today, sorted by short name."""
    return tuple(
        sorted((rows[0] for rows in bank_list().by_bin.values()), key=lambda b: b.short_name.lower())
    )


def find_by_name(name: str) -> tuple[Bank, ...]:
    """Banks whose code or short name is ``name``, ignoring case and spaces (how
    bank-transaction services name the bank: "Vietcombank", "MBBank", "VCB")."""
    wanted = _squash(name)
    return tuple(
        bank for bank in bank_list().banks if wanted in (_squash(bank.code), _squash(bank.short_name))
    )


def _squash(text: str) -> str:
    return "".join(text.split()).casefold()
