"""Invariants on generated messy statements (hypothesis): one category per line, never a
reference the truth does not allow, every recoverable code found, and a second import of the
same transactions changes nothing."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments.recon.generate import generate
from payments.recon.matcher import reconcile
from payments.recon.model import Category, ExpectedPayment, StatementLine
from payments.reference import check_symbol, find_references

RULE_ONE = {Category.MATCHED, Category.UNDERPAID, Category.OVERPAID}
LINE_CATEGORIES = set(Category) - {Category.MISSING}
statements = st.tuples(st.integers(min_value=1, max_value=250), st.integers(min_value=0, max_value=2**32 - 1))
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(statements)
def test_each_line_gets_one_category_and_no_reference_beyond_the_truth(case: tuple[int, int]) -> None:
    generated = generate(*case)
    result = reconcile(generated.lines, generated.expected)
    assert [line.line for line in result.lines] == [line.position for line in generated.lines]
    for outcome, truth, line in zip(result.lines, generated.truth, generated.lines, strict=True):
        assert outcome.category in LINE_CATEGORIES
        assert (outcome.category is Category.OUTGOING) == (truth.category is Category.OUTGOING)
        if outcome.category in RULE_ONE:
            assert truth.recoverable and outcome.reference == truth.reference
        if truth.recoverable or truth.category in (Category.DUPLICATE, Category.OUTGOING):
            assert (outcome.category, outcome.reference) == (truth.category, truth.reference or None) or (
                truth.category is Category.DUPLICATE and outcome.category is Category.DUPLICATE
            )
        if line.amount_vnd < 0:
            assert outcome.category in (Category.OUTGOING, Category.DUPLICATE)
    assert set(result.missing) == set(generated.missing)


@SETTINGS
@given(statements)
def test_importing_the_same_transactions_again_changes_nothing(case: tuple[int, int]) -> None:
    generated = generate(*case)
    first = reconcile(generated.lines, generated.expected)
    seen = {line.dedup_key() for line in generated.lines}
    again = reconcile(generated.lines, generated.expected, seen=seen)
    assert all(line.category is Category.DUPLICATE for line in again.lines)
    assert again.received_vnd == {}
    assert reconcile(generated.lines, generated.expected).lines == first.lines  # deterministic


@SETTINGS
@given(statements, st.randoms(use_true_random=False))
def test_the_order_of_lines_does_not_change_what_a_reference_received(
    case: tuple[int, int], shuffle: random.Random
) -> None:
    generated = generate(*case)
    lines = list(generated.lines)
    shuffle.shuffle(lines)
    assert (
        reconcile(lines, generated.expected).received_vnd
        == reconcile(generated.lines, generated.expected).received_vnd
    )


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(texts, st.integers(min_value=-(10**12), max_value=10**12), st.text(max_size=20), texts),
        max_size=20,
    )
)
def test_any_text_is_categorised_without_error(rows: list[tuple[str, int, str, str]]) -> None:
    code = "CS7K2M9QX4" + check_symbol("CS7K2M9QX4")
    expected = [ExpectedPayment(code, 100_000, "Nguyễn Văn An", date(2025, 3, 1))]
    lines = [
        StatementLine(position, date(2025, 3, 1), amount, f"{memo} {code}" if position % 2 else memo,
                      reference or None, name)
        for position, (memo, amount, reference, name) in enumerate(rows, start=1)
    ]  # fmt: skip
    result = reconcile(lines, expected)
    assert len(result.lines) == len(lines)
    for outcome, line in zip(result.lines, lines, strict=True):
        assert outcome.category in LINE_CATEGORIES
        if outcome.category in RULE_ONE:
            assert outcome.reference == code and code in find_references(line.memo) and line.amount_vnd > 0
