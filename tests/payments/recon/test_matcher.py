"""The matching rules one by one, on small hand-made lines."""

from __future__ import annotations

from datetime import date

import pytest

from payments.recon.matcher import ExpectedBook, Policy, reconcile
from payments.recon.model import Category, ExpectedPayment, Rule, StatementLine
from payments.reference import check_symbol

DAY = date(2025, 3, 10)


def code(body: str) -> str:
    return "CS" + body + check_symbol("CS" + body)


A, B, C = code("AAAA1111"), code("BBBB2222"), code("CCCC3333")


def line(
    position: int, amount: int, memo: str, reference: str | None = None, **extra: object
) -> StatementLine:
    return StatementLine(position, extra.pop("booked_on", DAY), amount, memo, reference, **extra)  # type: ignore[arg-type]


def decide(lines: list[StatementLine], expected: list[ExpectedPayment], **kwargs: object) -> list[tuple]:
    result = reconcile(lines, expected, **kwargs)  # type: ignore[arg-type]
    return [(outcome.category, outcome.reference, outcome.rule) for outcome in result.lines]


def test_several_lines_of_one_reference_add_up() -> None:
    expected = [ExpectedPayment(A, 300_000), ExpectedPayment(B, 100_000), ExpectedPayment(C, 50_000)]
    lines = [line(1, 100_000, f"{A} lan 1"), line(2, 200_000, f"{A} lan 2"), line(3, 90_000, B),
             line(4, 30_000, C, "FT4"), line(5, 30_000, C, "FT5")]  # fmt: skip
    result = reconcile(lines, expected)
    assert [outcome.category for outcome in result.lines] == [
        Category.MATCHED, Category.MATCHED, Category.UNDERPAID, Category.OVERPAID, Category.OVERPAID
    ]  # fmt: skip
    assert result.received_vnd == {A: 300_000, B: 90_000, C: 60_000}
    assert result.missing == []


def test_duplicates_by_bank_reference_by_fingerprint_and_from_earlier_imports() -> None:
    expected = [ExpectedPayment(A, 100_000)]
    lines = [
        line(1, 100_000, A, "FT1"),
        line(2, 100_000, f"{A} (again)", "FT1"),  # same bank reference: same transaction
        line(3, 5_000, "Lai tien gui", booked_time="10:00:00"),
        line(
            4, 5_000, "Lai  tien gui", booked_time="10:00:00"
        ),  # no reference: same account+amount+time+memo
        line(5, 5_000, "Lai tien gui", booked_time="11:00:00"),  # another time: another transaction
    ]
    result = reconcile(lines, expected)
    categories = [(outcome.category, outcome.rule, outcome.duplicate_of) for outcome in result.lines]
    assert categories[1] == (Category.DUPLICATE, Rule.BANK_REFERENCE, 1)
    assert categories[3] == (Category.DUPLICATE, Rule.FINGERPRINT, 3)
    assert categories[4][0] is Category.UNMATCHED
    assert result.received_vnd == {A: 100_000}
    assert lines[0].dedup_key() == "|FT1|100000"  # text, for a unique column in the database
    assert lines[2].dedup_key() == lines[3].dedup_key() != lines[4].dedup_key()
    later = reconcile([line(1, 100_000, A, "FT1")], expected, seen={lines[0].dedup_key()})
    assert (later.lines[0].category, later.lines[0].duplicate_of) == (Category.DUPLICATE, None)


def test_codes_are_read_through_bank_noise() -> None:
    expected = [ExpectedPayment(A, 100_000)]
    messy = f"MBVCB.3278907687.{A[:4].lower()} {A[4:8]}-{A[8:].replace('1', 'l')}.chuyen khoan"
    assert decide([line(1, 100_000, messy)], expected) == [(Category.MATCHED, A, Rule.REFERENCE)]


def test_two_known_codes_in_one_memo_assign_nothing() -> None:
    expected = [ExpectedPayment(A, 100_000), ExpectedPayment(B, 100_000)]
    result = reconcile([line(1, 200_000, f"{A}{B}")], expected)
    assert (result.lines[0].category, result.lines[0].rule) == (Category.UNMATCHED, Rule.AMBIGUOUS)
    assert result.lines[0].candidates == (A, B)
    assert result.missing == [A, B]


def test_a_valid_code_nobody_expects_is_reported_as_such() -> None:
    result = reconcile([line(1, 100_000, f"ck {C}")], [ExpectedPayment(A, 100_000)])
    assert (result.lines[0].category, result.lines[0].rule, result.lines[0].candidates) == (
        Category.UNMATCHED, Rule.UNKNOWN_REFERENCE, (C,)
    )  # fmt: skip


def test_a_typo_is_never_a_match() -> None:
    typo = A[:4] + "B" + A[5:]
    assert decide([line(1, 100_000, typo)], [ExpectedPayment(A, 100_000)]) == [
        (Category.UNMATCHED, None, Rule.NO_MATCH)
    ]


def test_suggestion_by_name_amount_and_date() -> None:
    expected = [
        ExpectedPayment(A, 150_000, "Nguyễn Văn An", date(2025, 3, 15)),
        ExpectedPayment(B, 150_000, "Trần Văn An", date(2025, 3, 15)),  # same given name, other family
        ExpectedPayment(C, 200_000, "Nguyễn Văn An", date(2025, 3, 15)),  # same person, other amount
    ]
    result = reconcile([line(1, 150_000, "NGUYEN VAN AN chuyen tien hoc phi")], expected)
    outcome = result.lines[0]
    assert (outcome.category, outcome.reference, outcome.rule) == (
        Category.SUGGESTED,
        A,
        Rule.NAME_AMOUNT_DATE,
    )
    assert 0.5 <= outcome.confidence <= 0.9
    assert result.missing == [A, B, C]  # a suggestion is not money received


def test_suggestion_reads_the_counterparty_and_names_that_look_like_boilerplate() -> None:
    expected = [ExpectedPayment(A, 150_000, "Trịnh Thanh Toàn", None)]
    by_memo = decide([line(1, 150_000, "TRINH THANH TOAN ck")], expected)
    by_counterparty = decide([line(1, 150_000, "tien hang", counterparty_name="TRINH THANH TOAN")], expected)
    assert by_memo[0][:2] == by_counterparty[0][:2] == (Category.SUGGESTED, A)


def test_equally_good_candidates_assign_nothing() -> None:
    expected = [ExpectedPayment(A, 150_000, "Nguyễn Văn An"), ExpectedPayment(B, 150_000, "Nguyen Van An")]
    result = reconcile([line(1, 150_000, "NGUYEN VAN AN")], expected)
    assert (result.lines[0].category, result.lines[0].rule) == (Category.UNMATCHED, Rule.AMBIGUOUS)
    assert set(result.lines[0].candidates) == {A, B}


def test_a_clearly_better_name_wins_over_a_near_one() -> None:
    expected = [ExpectedPayment(A, 150_000, "Nguyễn Thu Hà"), ExpectedPayment(B, 150_000, "Nguyễn Thùy Hà")]
    assert decide([line(1, 150_000, "NGUYEN THU HA")], expected)[0][:2] == (Category.SUGGESTED, A)


def test_two_lines_for_one_expected_payment_get_no_suggestion() -> None:
    expected = [ExpectedPayment(A, 150_000, "Nguyễn Văn An")]
    lines = [line(1, 150_000, "NGUYEN VAN AN", "FT1"), line(2, 150_000, "NGUYEN VAN AN mua hang", "FT2")]
    assert [row[:1] + row[2:] for row in decide(lines, expected)] == [
        (Category.UNMATCHED, Rule.AMBIGUOUS)
    ] * 2


def test_no_suggestion_outside_the_date_window_or_for_paid_references() -> None:
    expected = [ExpectedPayment(A, 150_000, "Nguyễn Văn An", date(2025, 1, 1))]
    assert decide([line(1, 150_000, "NGUYEN VAN AN")], expected)[0][0] is Category.UNMATCHED
    wide = Policy(days_after_due=120)
    assert decide([line(1, 150_000, "NGUYEN VAN AN")], expected, policy=wide)[0][0] is Category.SUGGESTED
    paid = [line(1, 150_000, A, "FT1"), line(2, 150_000, "NGUYEN VAN AN", "FT2")]
    assert [row[0] for row in decide(paid, expected, policy=wide)] == [Category.MATCHED, Category.UNMATCHED]


@pytest.mark.parametrize(
    ("memo", "fits"),
    [
        ("CK NGUYEN VAN AN HOC PHI", True),
        ("NGUYEN VAM AN", True),  # a typo in the middle name
        ("NGUYEN AN", False),  # too far from the whole name
        ("TRAN VAN AN", False),  # another family
        ("NGUYEN VAN ANH", False),  # another given name
        ("AN", False),
        ("AN NGUYEN VAN", False),  # the order of a Vietnamese name matters
    ],
)
def test_a_name_fits_only_between_its_family_and_given_name(memo: str, fits: bool) -> None:
    expected = [ExpectedPayment(A, 150_000, "Nguyễn Văn An")]
    category = decide([line(1, 150_000, memo)], expected)[0][0]
    assert category is (Category.SUGGESTED if fits else Category.UNMATCHED)


def test_money_out_and_zero() -> None:
    expected = [ExpectedPayment(A, 100_000)]
    assert decide([line(1, -100_000, f"hoan tien {A}"), line(2, 0, A)], expected) == [
        (Category.OUTGOING, None, Rule.DEBIT),
        (Category.UNMATCHED, None, Rule.UNKNOWN_REFERENCE),
    ]


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ([ExpectedPayment("CS12345", 100)], "not a valid code"),
        ([ExpectedPayment(A, 0)], "positive"),
        ([ExpectedPayment(A, 100), ExpectedPayment(A, 200)], "twice"),
    ],
)
def test_expected_payments_are_checked(expected: list[ExpectedPayment], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExpectedBook(expected)
