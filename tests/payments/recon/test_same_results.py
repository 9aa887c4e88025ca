"""The matcher's decisions are pinned: the results of generated statements are compared with
digests recorded at commit 23b8593, through the CLI's path (CSV and expected file read, JSON
Lines written) and directly, so that work done for speed cannot change a decision unseen."""

from __future__ import annotations

import hashlib
import io

import pytest

from payments.recon.errors import StatementError
from payments.recon.formats import read_expected
from payments.recon.generate import generate, write_csv, write_expected
from payments.recon.matcher import ExpectedBook, reconcile
from payments.recon.output import write_jsonl

# (lines, seed) → (sha256 of the JSON Lines, sha256 of every LineResult field + missing + sums)
BEFORE = {
    (20_000, 2026): (
        "c9e6dace26f66204c61a2cb9ca73d57881f4c52bb0479bda56532b1ca080231e",
        "48793c238953f41832ad941ce288bbbb29e44d5f6271fb1bd509c46e2e3e7286",
    ),
    (5_000, 7): (
        "c9cfa2c271087715f4bb2eb26f9b6a409542a116fdc264e651177cb1ae32e4f9",
        "2cadb166fa30502d86507eb1f6b97271907a4624c6234ba5d32d08169c9fcc56",
    ),
    (3_000, 11): (
        "05eb8670009f102f0d449d4cd3459683f26cf62da7263c3be1fc8b62cfbff501",
        "3f27357cc8055cfe87118731b0e48c5b9f1b50638dc737da4f54ffc9ec0f48f0",
    ),
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(("lines", "seed"), sorted(BEFORE))
def test_generated_statements_are_decided_as_before(lines: int, seed: int) -> None:
    from payments.recon.formats import read_statement

    generated = generate(lines, seed)
    book = ExpectedBook(read_expected(write_expected(generated.expected)), validated=True)
    out = io.StringIO()
    write_jsonl(reconcile(read_statement(write_csv(generated.lines)).lines, book), out)
    result = reconcile(generated.lines, generated.expected)
    fields = [
        (r.line, r.bank_reference, r.booked_on, r.amount_vnd, str(r.category), r.reference, str(r.rule),
         r.confidence, r.candidates, r.duplicate_of)
        for r in result.lines
    ]  # fmt: skip
    full = repr(fields) + repr(result.missing) + repr(sorted(result.received_vnd.items()))
    assert (digest(out.getvalue()), digest(full)) == BEFORE[(lines, seed)]


@pytest.mark.parametrize(
    ("row", "line", "reason"),
    [
        ("CS7K2M9QX4A,1000,,", 3, "not a valid code"),  # a wrong check symbol
        ("{first},2000,,", 3, "appears twice"),
        ("{second},-5,,", 3, "must be a whole number"),
        ("{second},1000,,2025-13-01", 3, "month"),
    ],
)
def test_a_bad_row_is_still_reported_with_its_line(row: str, line: int, reason: str) -> None:
    expected = generate(3, 1).expected
    first, second = expected[0].reference, expected[1].reference
    data = f"reference,amount_vnd,payer_name,due_date\n{first},1000,An,2025-01-02\n{row}\n"
    with pytest.raises(StatementError) as error:
        read_expected(data.format(first=first, second=second).encode())
    assert error.value.line == line and reason in str(error.value)
