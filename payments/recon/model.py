"""The plain values of reconciliation: statement lines in, one result per line out.

Nothing here does I/O. The parsers produce :class:`Statement`; the application (or the CLI)
builds :class:`ExpectedPayment` rows from what is owed and calls ``reconcile``; the results are
:class:`LineResult` rows plus the references for which nothing arrived. Amounts are whole đồng,
signed on statement lines (negative = money out).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cached_property


class Category(StrEnum):
    MATCHED = "matched"
    UNDERPAID = "underpaid"
    OVERPAID = "overpaid"
    SUGGESTED = "suggested"
    DUPLICATE = "duplicate"
    UNMATCHED = "unmatched"
    OUTGOING = "outgoing"
    MISSING = "missing"


class Rule(StrEnum):
    """Why a line got its category (the ``rule`` field of the output)."""

    REFERENCE = "reference"  # rule 1: a known reference code in the memo
    NAME_AMOUNT_DATE = "name_amount_date"  # rule 2: exact amount + similar name + date window
    NO_MATCH = "none"  # rule 3: nothing usable
    UNKNOWN_REFERENCE = "unknown_reference"  # valid code(s), none of them expected
    AMBIGUOUS = "ambiguous"  # two or more equally good candidates: assign none
    BANK_REFERENCE = "bank_reference"  # duplicate: same bank transaction reference
    FINGERPRINT = "fingerprint"  # duplicate: same account + amount + time + memo
    DEBIT = "debit"  # money out


@dataclass(slots=True)
class StatementLine:
    """One booked transaction as the bank reports it."""

    position: int  # 1-based, in the statement (or in the sequence of statements reconciled)
    booked_on: date
    amount_vnd: int  # negative for debits
    memo: str
    bank_reference: str | None = None
    counterparty_name: str = ""
    counterparty_account: str = ""
    account: str = ""  # the statement's own account
    booked_time: str | None = None  # "HH:MM[:SS]" when the bank gives a time

    def dedup_key(self) -> str:
        """Identity of the bank transaction, as text a database can keep in a unique column.

        The bank's reference (with account and amount) when there is one; otherwise a digest of
        account + amount + booking date and time + memo (upper-cased, single-spaced).
        """
        if self.bank_reference:
            return f"{self.account}|{self.bank_reference}|{self.amount_vnd}"
        memo = " ".join(self.memo.split()).upper()
        fields = (
            f"{self.account}|{self.amount_vnd}|{self.booked_on.isoformat()}|{self.booked_time or ''}|{memo}"
        )
        return "#" + hashlib.sha256(fields.encode()).hexdigest()[:40]


@dataclass(slots=True)
class Statement:
    format: str
    lines: list[StatementLine]
    account: str = ""
    currency: str = "VND"
    opening_balance_vnd: int | None = None
    closing_balance_vnd: int | None = None


@dataclass(slots=True)
class ExpectedPayment:
    """Something owed: a payment request's reference code and what is still due on it."""

    reference: str
    amount_vnd: int
    payer_name: str = ""
    due_date: date | None = None


@dataclass(slots=True)
class LineResult:
    line: int
    bank_reference: str | None
    booked_on: date
    amount_vnd: int
    category: Category
    reference: str | None
    rule: Rule
    confidence: float
    # The references a person should look at: the codes found when none could be assigned.
    candidates: tuple[str, ...] = ()
    duplicate_of: int | None = None  # position of the first occurrence (None: a previous import)


# What the matcher decided for one line, in LineResult's order after the line's own fields:
# (category, reference, rule, confidence, candidates, duplicate_of).
Outcome = tuple[Category, "str | None", Rule, float, tuple[str, ...], "int | None"]


class Reconciliation:
    """The result: one LineResult per statement line (in order), the references that received
    nothing, and what each reference received by rule 1.

    ``lines`` is built on first use; ``decisions()`` walks the same results without building a
    million objects, for writers of very large statements.
    """

    def __init__(
        self,
        statement_lines: list[StatementLine],
        outcomes: list[Outcome],
        missing: list[str],
        received_vnd: dict[str, int],
    ) -> None:
        self._statement_lines = statement_lines
        self._outcomes = outcomes
        self.missing = missing
        self.received_vnd = received_vnd

    def decisions(self) -> Iterator[tuple[StatementLine, Outcome]]:
        return zip(self._statement_lines, self._outcomes, strict=True)

    @cached_property
    def lines(self) -> list[LineResult]:
        return [
            LineResult(line.position, line.bank_reference, line.booked_on, line.amount_vnd, *outcome)
            for line, outcome in self.decisions()
        ]
