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
from datetime import timedelta
from itertools import filterfalse
from typing import Any

from rapidfuzz import fuzz

from payments.recon.model import (
    Category,
    ExpectedPayment,
    Outcome,
    Reconciliation,
    Rule,
    StatementLine,
)
from payments.recon.text import fold_upper, nfc
from payments.reference import CODE_ALIASES, CODE_SEPARATORS, CODE_WINDOW, candidate_codes, is_valid_reference


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


# Outcomes are plain tuples: a million of them cost a fraction of a million objects.
_Outcome = Outcome
_OUTGOING: _Outcome = (Category.OUTGOING, None, Rule.DEBIT, 1.0, (), None)
_NOTHING: _Outcome = (Category.UNMATCHED, None, Rule.NO_MATCH, 0.0, (), None)


def reconcile(
    lines: Iterable[StatementLine],
    expected: Iterable[ExpectedPayment] | ExpectedBook,
    *,
    seen: Collection[str] = (),
    policy: Policy | None = None,
) -> Reconciliation:
    """Categorise every line (see the module rule); ``seen`` holds ``dedup_key()``s of earlier imports.

    Pure and deterministic. For statements of a million lines, pausing the cycle collector
    around the call (``gc.disable()``) saves a good share of the time; nothing here makes cycles.
    """
    policy = policy or Policy()
    book = expected if isinstance(expected, ExpectedBook) else ExpectedBook(expected)
    lines = list(lines)
    outcomes, received, open_lines = _first_pass(lines, book.by_reference, seen, policy)
    _suggest(lines, open_lines, outcomes, book.by_reference, received, policy)
    settled = _settled(received, book.by_reference)
    reference_rule = Rule.REFERENCE
    for index, outcome in enumerate(outcomes):
        if outcome[2] is reference_rule:
            outcomes[index] = settled[outcome[1]]  # type: ignore[index]
    missing = list(filterfalse(received.__contains__, book.by_reference))
    return Reconciliation(lines, outcomes, missing, dict(received))


def _first_pass(
    lines: list[StatementLine],
    book: dict[str, ExpectedPayment],
    seen: Collection[str],
    policy: Policy,
) -> tuple[list[_Outcome], dict[str, int], list[int]]:
    """Duplicates, money out and rule 1; returns the outcomes, rule-1 sums and lines left for rule 2."""
    outcomes: list[_Outcome] = []
    append = outcomes.append
    received: dict[str, int] = defaultdict(int)
    open_lines: list[int] = []
    first_position: dict[str, int] = {}
    # _known_codes and _unmatched_without_known_code, inlined for memos with at most one window
    # (most of them): the memo is canonicalised once and no function is called.
    search = CODE_WINDOW.search
    aliases, separators = CODE_ALIASES, CODE_SEPARATORS
    matched, reference_rule = Category.MATCHED, Rule.REFERENCE
    unmatched, unknown_rule = Category.UNMATCHED, Rule.UNKNOWN_REFERENCE
    for index, line in enumerate(lines):
        key = line.dedup_key()
        if key in first_position or key in seen:
            if line.bank_reference:
                append((Category.DUPLICATE, None, Rule.BANK_REFERENCE, 1.0, (), first_position.get(key)))
            else:
                duplicate_of = first_position.get(key)
                confidence = policy.fingerprint_confidence
                append((Category.DUPLICATE, None, Rule.FINGERPRINT, confidence, (), duplicate_of))
            continue
        first_position[key] = line.position
        amount = line.amount_vnd
        if amount < 0:
            append(_OUTGOING)
            continue
        memo = line.memo
        text = memo.upper().encode("ascii", "replace").translate(aliases, separators)
        match = search(text)
        if match is None:  # no window at all: candidate_codes(memo) would find none either
            append(_NOTHING)
            if amount > 0:
                open_lines.append(index)
            continue
        if search(text, match.start() + 1) is None:  # one window, the only candidate code
            window = match.group().decode()
            if window in book and amount > 0:
                received[window] += amount
                append((matched, window, reference_rule, 1.0, (), None))
                continue
            if is_valid_reference(window):
                append((unmatched, None, unknown_rule, 0.0, (window,), None))
            else:
                append(_NOTHING)
            if amount > 0:
                open_lines.append(index)
            continue
        known = _known_codes(memo, book)
        if len(known) == 1 and amount > 0:
            received[known[0]] += amount
            append((matched, known[0], reference_rule, 1.0, (), None))
        elif len(known) > 1:
            append((Category.UNMATCHED, None, Rule.AMBIGUOUS, 0.0, tuple(known), None))
        else:
            append(_unmatched_without_known_code(memo))
            if amount > 0:
                open_lines.append(index)
    return outcomes, received, open_lines


def _known_codes(memo: str, book: dict[str, ExpectedPayment], search: Any = CODE_WINDOW.search) -> list[str]:
    """The distinct expected references written in the memo.

    The hot path: most memos hold one window, looked up directly; the check symbol is not needed
    for codes in the book (they were checked when the book was made).
    """
    text = memo.upper().encode("ascii", "replace").translate(CODE_ALIASES, CODE_SEPARATORS)
    match = search(text)
    if match is None:
        return []
    following = search(text, match.start() + 1)
    if following is None:
        window = match.group().decode()
        return [window] if window in book else []
    known: list[str] = []
    for window in candidate_codes(memo):
        if window in book and window not in known:
            known.append(window)
    return known


def _unmatched_without_known_code(memo: str) -> _Outcome:
    unknown = tuple(dict.fromkeys(code for code in candidate_codes(memo) if is_valid_reference(code)))
    if unknown:
        return (Category.UNMATCHED, None, Rule.UNKNOWN_REFERENCE, 0.0, unknown, None)
    return _NOTHING


def _settled(received: dict[str, int], book: dict[str, ExpectedPayment]) -> dict[str, _Outcome]:
    """The outcome of every rule-1 line of a reference: its final status, so the order of lines
    does not matter."""
    status: dict[str, _Outcome] = {}
    matched, underpaid, overpaid = Category.MATCHED, Category.UNDERPAID, Category.OVERPAID
    rule = Rule.REFERENCE
    for reference, amount in received.items():
        due = book[reference].amount_vnd
        category = matched if amount == due else underpaid if amount < due else overpaid
        status[reference] = (category, reference, rule, 1.0, (), None)
    return status


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
        if lines[line_index].amount_vnd not in index.amounts:
            continue  # nobody is expected to pay exactly this
        scored = index.candidates(lines[line_index], policy)
        if not scored:
            continue
        best = max(scored.values())
        close = sorted(reference for reference, score in scored.items() if score > best - policy.tie_margin)
        if len(close) == 1:
            proposals[line_index] = (close[0], best)
        else:
            outcomes[line_index] = (Category.UNMATCHED, None, Rule.AMBIGUOUS, 0.0, tuple(close), None)
    claims: dict[str, list[int]] = defaultdict(list)
    for line_index, (reference, _) in proposals.items():
        claims[reference].append(line_index)
    for reference, claimants in claims.items():
        for line_index in claimants:
            if len(claimants) > 1:
                outcomes[line_index] = (Category.UNMATCHED, None, Rule.AMBIGUOUS, 0.0, (reference,), None)
                continue
            score = proposals[line_index][1]
            confidence = 0.5 + 0.4 * (score - policy.name_threshold) / (100.0 - policy.name_threshold)
            confidence = round(min(confidence, 0.9), 2)
            outcomes[line_index] = (
                Category.SUGGESTED,
                reference,
                Rule.NAME_AMOUNT_DATE,
                confidence,
                (),
                None,
            )


class _NameIndex:
    """Expected payments that rule 2 may use, by (amount, folded given name), then family name.

    Only payments with an amount that some open line has, a payer name of two words or more,
    and nothing received by rule 1 are indexed; names are folded in one pass over their joined
    text (C speed).

    A name fits a line when a run of the line's words (memo or counterparty) begins with the
    payer's family name, ends with the given name, has one word more or less than the name
    (a missing or extra middle name) and reaches ``name_threshold`` with rapidfuzz's ratio.
    Anchoring on family and given name means that shared family and middle names, which are few
    in Vietnam, never make two different people look alike.
    """

    def __init__(self, book: dict[str, ExpectedPayment], received: dict[str, int], amounts: set[int]) -> None:
        pool = [
            payment
            for payment in book.values()
            if payment.amount_vnd in amounts and payment.payer_name and payment.reference not in received
        ]
        joined = "\n".join(" ".join(payment.payer_name.split()) for payment in pool)
        folded = _NOT_ALNUM_LINES.sub(" ", fold_upper(joined)).split("\n") if pool else []
        self.amounts = {payment.amount_vnd for payment in pool}
        self.by_given: dict[tuple[int, str], dict[str, list[tuple[ExpectedPayment, str, int]]]] = {}
        for payment, name in zip(pool, folded, strict=True):
            tokens = name.split()
            if len(tokens) >= 2:
                by_family = self.by_given.setdefault((payment.amount_vnd, tokens[-1]), {})
                by_family.setdefault(tokens[0], []).append((payment, " ".join(tokens), len(tokens)))

    def candidates(self, line: StatementLine, policy: Policy) -> dict[str, float]:
        """References whose payer fits this line, with their name score (0-100)."""
        amount = line.amount_vnd
        earliest_due = line.booked_on - timedelta(days=policy.days_after_due)
        latest_due = line.booked_on + timedelta(days=policy.days_before_due)
        scored: dict[str, float] = {}
        ratios: dict[tuple[str, str], float] = {}  # many payers share a name: score it once
        for words in (_words(line.memo), _words(line.counterparty_name)):
            for end, given in enumerate(words):
                by_family = self.by_given.get((amount, given))
                if by_family is None:
                    continue
                for start in range(max(0, end - 3), end):
                    group = by_family.get(words[start])
                    if not group:
                        continue
                    window, size = " ".join(words[start : end + 1]), end - start + 1
                    for payment, name, name_size in group:
                        due = payment.due_date
                        if abs(size - name_size) > 1 or (
                            due is not None and not earliest_due <= due <= latest_due
                        ):
                            continue
                        ratio = ratios.get((name, window))
                        if ratio is None:
                            ratio = ratios[(name, window)] = fuzz.ratio(name, window)
                        if ratio >= policy.name_threshold and ratio > scored.get(payment.reference, 0.0):
                            scored[payment.reference] = ratio
        return scored


def _words(text: str) -> list[str]:
    """Folded upper-case words; boilerplate stays, since names like "Trịnh Thanh Toàn" contain it."""
    return _NOT_ALNUM.sub(" ", fold_upper(nfc(text))).split()


_NOT_ALNUM = re.compile(r"[^0-9A-Z]+")
_NOT_ALNUM_LINES = re.compile(r"[^0-9A-Z\n]+")
