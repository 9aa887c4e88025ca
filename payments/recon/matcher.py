"""Matching statement lines to expected payments: the pure core of reconciliation.

Every line gets exactly one category, decided in this order:

0. A bank transaction already seen (same bank reference, else same account + amount + time +
   memo; in this run or in ``seen`` from earlier imports) is a ``duplicate``, counted once.
   Money out is ``outgoing``.
1. Exactly one known reference code in the memo: the line belongs to that reference. All lines
   of a reference add up, and each of them is ``matched``, ``underpaid`` or ``overpaid`` by what
   the reference received in total against what is due (confidence 1).
2. No known code: if exactly one expected payment that received nothing by rule 1 has the exact
   amount, a payer name similar to the memo or the counterparty name (diacritics folded,
   rapidfuzz) and a due date within the window, the line is ``suggested`` for it (confidence
   below 1, for a person to confirm).
3. Anything else is ``unmatched``, with the reason in ``rule``.

A wrong match is worse than no match: two known codes in one memo, two expected payments that
fit a line equally, or two lines that would be suggested for one payment all assign nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from rapidfuzz import fuzz

from payments.recon.model import (
    Category,
    ExpectedPayment,
    LineResult,
    Reconciliation,
    Rule,
    StatementLine,
)
from payments.recon.text import fold_upper, nfc
from payments.reference import candidate_codes, is_valid_reference


@dataclass(frozen=True, slots=True)
class Policy:
    name_threshold: float = 90.0  # rapidfuzz score (0-100) a payer name needs for rule 2
    # Rule 2 candidates scoring within this many points of the best are "equally good".
    tie_margin: float = 2.0
    days_before_due: int = 60  # a payment may arrive this long before its due date
    days_after_due: int = 30  # ... or this long after it
    fingerprint_confidence: float = 0.9  # duplicates found without a bank reference


class ExpectedBook:
    """The expected payments by reference, checked once: valid codes, positive amounts, no repeats."""

    def __init__(self, expected: Iterable[ExpectedPayment], *, validated: bool = False) -> None:
        self.by_reference: dict[str, ExpectedPayment] = {}
        if validated:  # read_expected has checked every row already
            self.by_reference = {payment.reference: payment for payment in expected}
            return
        for payment in expected:
            if not is_valid_reference(payment.reference):
                raise ValueError(f"expected reference {payment.reference!r} is not a valid code")
            if payment.amount_vnd <= 0:
                raise ValueError(f"expected amount of {payment.reference} must be positive")
            if payment.reference in self.by_reference:
                raise ValueError(f"expected reference {payment.reference} appears twice")
            self.by_reference[payment.reference] = payment


@dataclass(slots=True)
class _Outcome:
    category: Category
    rule: Rule
    confidence: float
    reference: str | None = None
    candidates: tuple[str, ...] = ()
    duplicate_of: int | None = None


def reconcile(
    lines: Iterable[StatementLine],
    expected: Iterable[ExpectedPayment] | ExpectedBook,
    *,
    seen: Collection[object] = (),
    policy: Policy | None = None,
) -> Reconciliation:
    """Categorise every line (see the module rule); ``seen`` holds ``dedup_key()``s of earlier imports."""
    policy = policy or Policy()
    book = expected if isinstance(expected, ExpectedBook) else ExpectedBook(expected)
    lines = list(lines)
    outcomes, received, open_lines = _first_pass(lines, book.by_reference, seen, policy)
    _settle_references(outcomes, received, book.by_reference)
    _suggest(lines, open_lines, outcomes, book.by_reference, received, policy)
    results = [
        LineResult(
            line.position,
            line.bank_reference,
            line.booked_on,
            line.amount_vnd,
            outcome.category,
            outcome.reference,
            outcome.rule,
            outcome.confidence,
            outcome.candidates,
            outcome.duplicate_of,
        )
        for line, outcome in zip(lines, outcomes, strict=True)
    ]
    missing = [reference for reference in book.by_reference if reference not in received]
    return Reconciliation(results, missing, dict(received))


_OUTGOING = _Outcome(Category.OUTGOING, Rule.DEBIT, 1.0)


def _first_pass(
    lines: list[StatementLine],
    book: dict[str, ExpectedPayment],
    seen: Collection[object],
    policy: Policy,
) -> tuple[list[_Outcome], dict[str, int], list[int]]:
    """Duplicates, money out and rule 1; returns the outcomes, rule-1 sums and lines left for rule 2."""
    outcomes: list[_Outcome] = []
    received: dict[str, int] = defaultdict(int)
    open_lines: list[int] = []
    first_position: dict[object, int] = {}
    for index, line in enumerate(lines):
        key = line.dedup_key()
        if key in first_position or key in seen:
            rule = Rule.BANK_REFERENCE if line.bank_reference else Rule.FINGERPRINT
            confidence = 1.0 if line.bank_reference else policy.fingerprint_confidence
            outcomes.append(
                _Outcome(Category.DUPLICATE, rule, confidence, duplicate_of=first_position.get(key))
            )
            continue
        first_position[key] = line.position
        if line.amount_vnd < 0:
            outcomes.append(_OUTGOING)
            continue
        known = _known_codes(line.memo, book)
        if len(known) == 1 and line.amount_vnd > 0:
            received[known[0]] += line.amount_vnd
            outcomes.append(_Outcome(Category.MATCHED, Rule.REFERENCE, 1.0, known[0]))
        elif len(known) > 1:
            outcomes.append(_Outcome(Category.UNMATCHED, Rule.AMBIGUOUS, 0.0, candidates=tuple(known)))
        else:
            outcomes.append(_unmatched_without_known_code(line.memo))
            if line.amount_vnd > 0:
                open_lines.append(index)
    return outcomes, received, open_lines


def _known_codes(memo: str, book: dict[str, ExpectedPayment]) -> list[str]:
    """The distinct expected references written in the memo (the hot path: no check symbol needed)."""
    known: list[str] = []
    for window in candidate_codes(memo):
        if window in book and window not in known:
            known.append(window)
    return known


def _unmatched_without_known_code(memo: str) -> _Outcome:
    unknown = tuple(dict.fromkeys(code for code in candidate_codes(memo) if is_valid_reference(code)))
    if unknown:
        return _Outcome(Category.UNMATCHED, Rule.UNKNOWN_REFERENCE, 0.0, candidates=unknown)
    return _Outcome(Category.UNMATCHED, Rule.NO_MATCH, 0.0)


def _settle_references(
    outcomes: list[_Outcome], received: dict[str, int], book: dict[str, ExpectedPayment]
) -> None:
    """Each rule-1 line takes the final status of its reference (order of lines does not matter)."""
    status: dict[str, Category] = {}
    for reference, amount in received.items():
        due = book[reference].amount_vnd
        status[reference] = (
            Category.MATCHED if amount == due else Category.UNDERPAID if amount < due else Category.OVERPAID
        )
    for outcome in outcomes:
        if outcome.rule is Rule.REFERENCE:
            outcome.category = status[outcome.reference]  # type: ignore[index]


# --- rule 2 -----------------------------------------------------------------------------------


def _suggest(
    lines: list[StatementLine],
    open_lines: list[int],
    outcomes: list[_Outcome],
    book: dict[str, ExpectedPayment],
    received: dict[str, int],
    policy: Policy,
) -> None:
    """Rule 2 on the lines without a known code; a payment fitting two lines goes to neither."""
    if not open_lines:
        return
    index = _NameIndex(book, received, {lines[i].amount_vnd for i in open_lines})
    proposals: dict[int, tuple[str, float]] = {}
    for line_index in open_lines:
        scored = index.candidates(lines[line_index], policy)
        if not scored:
            continue
        best = max(scored.values())
        close = sorted(reference for reference, score in scored.items() if score > best - policy.tie_margin)
        if len(close) == 1:
            proposals[line_index] = (close[0], best)
        else:
            outcomes[line_index] = _Outcome(Category.UNMATCHED, Rule.AMBIGUOUS, 0.0, candidates=tuple(close))
    claims: dict[str, list[int]] = defaultdict(list)
    for line_index, (reference, _) in proposals.items():
        claims[reference].append(line_index)
    for reference, claimants in claims.items():
        for line_index in claimants:
            if len(claimants) > 1:
                outcomes[line_index] = _Outcome(
                    Category.UNMATCHED, Rule.AMBIGUOUS, 0.0, candidates=(reference,)
                )
                continue
            score = proposals[line_index][1]
            confidence = 0.5 + 0.4 * (score - policy.name_threshold) / (100.0 - policy.name_threshold)
            outcomes[line_index] = _Outcome(
                Category.SUGGESTED, Rule.NAME_AMOUNT_DATE, round(min(confidence, 0.9), 2), reference
            )


class _NameIndex:
    """Expected payments that rule 2 may use, by (amount, folded given name).

    Only payments with an amount that some open line has, a payer name of two words or more,
    and nothing received by rule 1 are indexed; names are folded in one pass over their joined
    text (C speed).
    """

    def __init__(self, book: dict[str, ExpectedPayment], received: dict[str, int], amounts: set[int]) -> None:
        pool = [
            payment
            for payment in book.values()
            if payment.amount_vnd in amounts and payment.payer_name and payment.reference not in received
        ]
        joined = "\n".join(" ".join(payment.payer_name.split()) for payment in pool)
        folded = fold_upper(joined).split("\n") if pool else []
        self.by_key: dict[tuple[int, str], list[tuple[ExpectedPayment, list[str]]]] = defaultdict(list)
        for payment, name in zip(pool, folded, strict=True):
            tokens = name.split()
            if len(tokens) >= 2:
                self.by_key[(payment.amount_vnd, tokens[-1])].append((payment, tokens))

    def candidates(self, line: StatementLine, policy: Policy) -> dict[str, float]:
        """References whose payer fits this line, with their name score."""
        memo = _words(line.memo)
        counterparty = _words(line.counterparty_name)
        scored: dict[str, float] = {}
        for token in set(memo) | set(counterparty):
            for payment, name in self.by_key.get((line.amount_vnd, token), ()):
                if not _within_window(line.booked_on, payment.due_date, policy):
                    continue
                score = max(name_similarity(name, counterparty), name_similarity(name, memo))
                if score >= policy.name_threshold:
                    scored[payment.reference] = max(score, scored.get(payment.reference, 0.0))
        return scored


def _words(text: str) -> list[str]:
    """Folded upper-case words; boilerplate stays, since names like "Trịnh Thanh Toàn" contain it."""
    return _NOT_ALNUM.sub(" ", fold_upper(nfc(text))).split()


_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")


def _within_window(booked_on: date, due_date: date | None, policy: Policy) -> bool:
    if due_date is None:
        return True
    earliest = due_date - timedelta(days=policy.days_before_due)
    return earliest <= booked_on <= due_date + timedelta(days=policy.days_after_due)


def name_similarity(name: list[str], text: list[str]) -> float:
    """How well a payer's name (folded words) appears in a text's words, 0-100.

    Only runs of words that begin with the payer's family name and end with the given name are
    compared (one middle name more or less allowed), with rapidfuzz's ratio: shared family and
    middle names, which are few in Vietnam, never make two different people look alike.
    """
    family, given = name[0], name[-1]
    whole = " ".join(name)
    best = 0.0
    for size in range(max(2, len(name) - 1), len(name) + 2):
        for start in range(len(text) - size + 1):
            if text[start] == family and text[start + size - 1] == given:
                best = max(best, fuzz.ratio(whole, " ".join(text[start : start + size])))
    return best
