"""The `choso recon` contract, through a real process: fields, exit codes, errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.payments.recon import scenario

FIELDS = ["line", "bank_reference", "booked_on", "amount_vnd", "category", "reference", "rule", "confidence"]
RULE_ONE = {"matched", "underpaid", "overpaid"}


def choso(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "choso.cli", "recon", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recon")
    done = choso("generate", "--lines", "400", "--seed", "11", "--out-dir", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


def read_jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_generate_writes_the_four_files(generated: Path) -> None:
    names = sorted(path.name for path in generated.iterdir())
    assert names == ["expected.csv", "statement.camt053.xml", "statement.csv", "truth.jsonl"]
    assert (
        generated.joinpath("expected.csv")
        .read_text()
        .startswith("reference,amount_vnd,payer_name,due_date\n")
    )


def test_generate_is_reproducible(generated: Path, tmp_path: Path) -> None:
    assert choso("generate", "--lines", "400", "--seed", "11", "--out-dir", str(tmp_path)).returncode == 0
    for name in ("statement.csv", "expected.csv", "truth.jsonl"):
        assert tmp_path.joinpath(name).read_bytes() == generated.joinpath(name).read_bytes()


@pytest.mark.parametrize("statement", ["statement.csv", "statement.camt053.xml"])
def test_match_prints_one_object_per_line_then_the_missing(generated: Path, statement: str) -> None:
    done = choso("match", str(generated / statement), "--expected", str(generated / "expected.csv"))
    assert done.returncode == 0, done.stderr
    output = read_jsonl(done.stdout)
    truth = read_jsonl(generated.joinpath("truth.jsonl").read_text())
    lines = [row for row in output if "line" in row]
    assert [row["line"] for row in lines] == list(range(1, 401)), done.stdout[:300]
    for row in lines:
        assert list(row) == FIELDS
        assert isinstance(row["amount_vnd"], int) and isinstance(row["confidence"], float)
    for row, true in zip(lines, truth, strict=False):
        if row["category"] in RULE_ONE:  # never a reference the truth does not allow
            assert true["recoverable"] and row["reference"] == true["reference"]
        if true["recoverable"] or true["category"] in ("duplicate", "outgoing"):
            assert row["category"] == true["category"]
    missing = [row for row in output if "line" not in row]
    assert all(list(row) == ["reference", "category"] and row["category"] == "missing" for row in missing)
    assert {row["reference"] for row in missing} == {row["reference"] for row in truth if "line" not in row}
    assert output[: len(lines)] == lines  # the missing come last


def test_match_writes_to_out(generated: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.jsonl"
    args = ["match", str(generated / "statement.csv"), "--expected", str(generated / "expected.csv")]
    done = choso(*args, "--format", "csv", "--out", str(out))
    assert done.returncode == 0 and done.stdout == ""
    assert out.read_text() == choso(*args).stdout


def test_hand_built_vietcombank_statement(tmp_path: Path) -> None:
    statement, expected = tmp_path / "sao-ke.csv", tmp_path / "expected.csv"
    statement.write_bytes(scenario.vietcombank_csv())
    expected.write_bytes(scenario.EXPECTED_CSV)
    done = choso("match", str(statement), "--expected", str(expected), "--format", "vietcombank")
    assert done.returncode == 0, done.stderr
    output = read_jsonl(done.stdout)
    assert [(row["category"], row["reference"]) for row in output[:12]] == scenario.TRUTH
    assert output[0] == {
        "line": 1,
        "bank_reference": "5243.65937",
        "booked_on": "2025-03-05",
        "amount_vnd": 150000,
        "category": "matched",
        "reference": scenario.A,
        "rule": "reference",
        "confidence": 1.0,
    }
    assert output[2]["amount_vnd"] == -55000 and output[2]["category"] == "outgoing"
    assert output[12:] == [{"reference": ref, "category": "missing"} for ref in scenario.MISSING]


def test_column_mapping_for_another_layout(tmp_path: Path) -> None:
    statement, expected = tmp_path / "other.csv", tmp_path / "expected.csv"
    statement.write_text(f"Posted;Value;Text\n2025-03-05;150000;ck {scenario.A}\n", encoding="utf-8")
    expected.write_bytes(scenario.EXPECTED_CSV)
    mapping = ["--column", "date=Posted", "--column", "amount=Value", "--column", "memo=Text"]
    done = choso("match", str(statement), "--expected", str(expected), "--format", "csv", *mapping)
    assert done.returncode == 0, done.stderr
    assert read_jsonl(done.stdout)[0]["category"] == "matched"


def test_an_unreadable_statement_exits_2_with_line_and_reason(tmp_path: Path) -> None:
    expected = tmp_path / "expected.csv"
    expected.write_bytes(scenario.EXPECTED_CSV)
    bad_amount = tmp_path / "bad.csv"
    bad_amount.write_text("date,amount,description\n2025-03-05,150000,ok\n2025-03-06,12.5x,broken\n")
    done = choso("match", str(bad_amount), "--expected", str(expected))
    assert done.returncode == 2 and done.stdout == ""
    assert "line 3" in done.stderr and "12.5x" in done.stderr

    broken_xml = tmp_path / "bad.xml"
    broken_xml.write_bytes(scenario.camt053().replace(b"</Ntry>", b"</Entry>", 3))
    done = choso("match", str(broken_xml), "--expected", str(expected))
    assert done.returncode == 2 and "line " in done.stderr and "XML" in done.stderr

    no_header = tmp_path / "noheader.csv"
    no_header.write_text("just,some,words\n")
    done = choso("match", str(no_header), "--expected", str(expected))
    assert done.returncode == 2 and "header" in done.stderr


def test_bad_expected_file_or_format_exits_2(tmp_path: Path) -> None:
    statement = tmp_path / "statement.csv"
    statement.write_bytes(scenario.generic_csv())
    expected = tmp_path / "expected.csv"
    expected.write_text("reference,amount_vnd,payer_name,due_date\nCS123,100,,\n")
    done = choso("match", str(statement), "--expected", str(expected))
    assert done.returncode == 2 and "line 2" in done.stderr and "CS123" in done.stderr
    expected.write_bytes(scenario.EXPECTED_CSV)
    assert choso("match", str(statement), "--expected", str(expected), "--format", "pdf").returncode == 2
    assert choso("match", str(tmp_path / "nowhere.csv"), "--expected", str(expected)).returncode == 2
