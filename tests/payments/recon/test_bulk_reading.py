"""Large CSV statements and expected-payment files are read a block of rows at a time, column by
column; these tests check that this gives exactly what reading row by row gives, and that a bad
row far into a file (or a blank, total or odd row among plain ones) is still handled row by row."""

from __future__ import annotations

import csv
import io

import pytest

from payments.recon.errors import StatementError
from payments.recon.formats import _expected_row, read_expected, read_statement
from payments.recon.generate import generate, write_csv, write_expected
from payments.recon.model import Statement
from payments.recon.tabular import GENERIC, _header_key, _resolve, _RowReader, csv_rows


def row_by_row(data: bytes) -> list:
    """The statement lines ``_RowReader.line`` makes of each data row, one row at a time."""
    rows = csv_rows(data)
    _, header = next(rows)
    columns = _resolve(GENERIC, [_header_key(cell) for cell in header])
    assert columns is not None
    reader = _RowReader(columns, GENERIC, Statement("csv", []))
    return [reader.line(position, cells) for position, (_, cells) in enumerate(rows, start=1)]


def test_a_generated_statement_reads_as_row_by_row() -> None:
    data = write_csv(generate(2_345, 5).lines)
    lines = read_statement(data).lines
    assert len(lines) == 2_345
    assert lines == row_by_row(data)


def test_a_total_row_and_a_blank_row_among_plain_rows_are_skipped() -> None:
    data = write_csv(generate(1_500, 9).lines)
    text = data.decode("utf-8-sig").split("\r\n")
    with_extra = "\r\n".join([*text[:700], "", ",,,Tổng cộng,,,,", *text[700:]])
    assert read_statement(("\ufeff" + with_extra).encode()).lines == read_statement(data).lines


def plain_statement(rows: int, bad_row: int, bad_amount: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "amount", "description"])
    for row in range(1, rows + 1):
        writer.writerow(["02/01/2025", bad_amount if row == bad_row else "1.000", f"payment {row}"])
    return out.getvalue().encode()


@pytest.mark.parametrize(("bad_amount", "reason"), [("1.000,5", "fraction"), ("12x", "not a number")])
def test_a_bad_amount_far_into_a_statement_names_its_line(bad_amount: str, reason: str) -> None:
    with pytest.raises(StatementError) as error:
        read_statement(plain_statement(1_800, 1_234, bad_amount))
    assert error.value.line == 1_235 and reason in str(error.value)


def test_generated_expected_payments_read_as_row_by_row() -> None:
    data = write_expected(generate(1_200, 3).expected)
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    column = {name: index for index, name in enumerate(rows[0])}
    assert read_expected(data) == [_expected_row(row, column, {"": None}) for row in rows[1:]]
    assert any(not payment.payer_name.isascii() for payment in read_expected(data))


def test_a_code_to_normalise_far_into_expected_payments_is_normalised() -> None:
    expected = generate(1_200, 3).expected
    data = (
        write_expected(expected)
        .decode()
        .replace(expected[1_000].reference, expected[1_000].reference.lower())
    )
    assert read_expected(data.encode()) == read_expected(write_expected(expected))


def test_a_bad_row_far_into_expected_payments_names_its_line() -> None:
    expected = generate(1_200, 3).expected
    lines = write_expected(expected).decode().splitlines()
    lines[1_100] = lines[1_100].replace(f",{expected[1_099].amount_vnd},", ",0,")
    with pytest.raises(StatementError) as error:
        read_expected("\n".join(lines).encode())
    assert error.value.line == 1_101 and "must be a whole number" in str(error.value)


def test_a_code_repeated_in_another_block_of_expected_payments_names_its_line() -> None:
    expected = generate(1_200, 3).expected
    lines = write_expected(expected).decode().splitlines()
    lines[1_150] = lines[1_150].replace(expected[1_149].reference, expected[9].reference)
    with pytest.raises(StatementError) as error:
        read_expected("\n".join(lines).encode())
    assert error.value.line == 1_151 and "appears twice" in str(error.value)
