"""The hand-built statement in every format reads to the same lines and the same decisions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from payments.recon.formats import detect_format, read_expected, read_statement
from payments.recon.matcher import reconcile
from payments.recon.model import Category, Rule
from tests.payments.recon import scenario

FORMATS: list[tuple[str, Callable[[], bytes], str]] = [
    ("generic CSV, UTF-8 with BOM", scenario.generic_csv, "csv"),
    ("Excel Unicode text, UTF-16 tab-separated", scenario.excel_unicode_text, "csv"),
    ("Vietcombank CSV, Windows-1258", scenario.vietcombank_csv, "vietcombank"),
    ("BIDV XLSX", scenario.bidv_xlsx, "bidv"),
    ("CAMT.053", scenario.camt053, "camt053"),
    ("MT940", scenario.mt940, "mt940"),
]
IDS = [name for name, _, _ in FORMATS]


@pytest.mark.parametrize(("name", "build", "format_name"), FORMATS, ids=IDS)
def test_every_format_gives_the_clerks_decisions(
    name: str, build: Callable[[], bytes], format_name: str
) -> None:
    statement = read_statement(build())
    assert statement.format == format_name
    assert len(statement.lines) == len(scenario.LINES)
    result = reconcile(statement.lines, read_expected(scenario.EXPECTED_CSV))
    decided = [(line.category.value, line.reference) for line in result.lines]
    assert decided == scenario.TRUTH
    assert result.missing == scenario.MISSING


@pytest.mark.parametrize(("name", "build", "format_name"), FORMATS, ids=IDS)
def test_every_format_reads_amounts_references_and_dates(
    name: str, build: Callable[[], bytes], format_name: str
) -> None:
    statement = read_statement(build())
    for line, (when, amount, _memo, reference, _name) in zip(statement.lines, scenario.LINES, strict=True):
        assert line.amount_vnd == amount
        assert line.bank_reference == reference
        assert line.booked_on.isoformat() == when[:10]
    assert [line.position for line in statement.lines] == list(range(1, len(scenario.LINES) + 1))


@pytest.mark.parametrize(
    "build", [scenario.vietcombank_csv, scenario.bidv_xlsx, scenario.camt053, scenario.mt940]
)
def test_bank_formats_carry_the_account_and_balances(build: Callable[[], bytes]) -> None:
    statement = read_statement(build())
    assert statement.account == scenario.ACCOUNT
    assert statement.opening_balance_vnd == scenario.OPENING
    assert statement.closing_balance_vnd == scenario.CLOSING
    assert all(line.account == scenario.ACCOUNT for line in statement.lines)


def test_vietnamese_text_survives_every_encoding() -> None:
    memos = {
        "utf-8": read_statement(scenario.generic_csv()).lines[0].memo,
        "utf-16": read_statement(scenario.excel_unicode_text()).lines[0].memo,
        "windows-1258": read_statement(scenario.vietcombank_csv()).lines[0].memo,
        "xlsx": read_statement(scenario.bidv_xlsx()).lines[0].memo,
        "xml": read_statement(scenario.camt053()).lines[0].memo.replace("\n", ""),
    }
    assert set(memos.values()) == {scenario.LINES[0][2]}
    assert "Nguyễn Văn An chuyển khoản" in memos["windows-1258"]  # composed again (NFC)


def test_details_of_the_decisions() -> None:
    result = reconcile(read_statement(scenario.generic_csv()).lines, read_expected(scenario.EXPECTED_CSV))
    by_line = {line.line: line for line in result.lines}
    assert by_line[4].category is by_line[7].category is Category.MATCHED  # 120,000 + 80,000 = 200,000
    assert result.received_vnd[scenario.C] == 200_000
    assert by_line[8].rule is Rule.NO_MATCH  # the typo'd code is not a code
    assert by_line[9].rule is Rule.NAME_AMOUNT_DATE and 0.5 <= by_line[9].confidence < 1
    assert by_line[10].rule is Rule.AMBIGUOUS and set(by_line[10].candidates) == {scenario.H, scenario.I}
    assert by_line[11].rule is Rule.BANK_REFERENCE and by_line[11].duplicate_of == 2
    assert by_line[3].amount_vnd == -55_000 and by_line[3].rule is Rule.DEBIT
    assert all(line.confidence == 1.0 for line in result.lines if line.rule is Rule.REFERENCE)


def test_format_detection() -> None:
    assert detect_format(scenario.bidv_xlsx()) == "xlsx"
    assert detect_format(scenario.camt053()) == "camt053"
    assert detect_format(scenario.mt940()) == "mt940"
    assert detect_format(scenario.generic_csv()) == "table"
    assert detect_format(scenario.vietcombank_csv()) == "table"
    times = b"date,time,amount,description\n2025-03-05,12:20:05,1000,x\n2025-03-05,11:25:03,1000,y\n"
    assert detect_format(times) == "table"  # times are not MT940 tags


def test_a_named_layout_can_be_forced() -> None:
    statement = read_statement(scenario.vietcombank_csv(), "vietcombank")
    assert statement.format == "vietcombank" and len(statement.lines) == len(scenario.LINES)
