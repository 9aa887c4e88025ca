"""The ``choso vietqr`` contract, run as a real process: what goes to stdout, stderr, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from payments import qr_render, vietqr

CONTRACT_KEYS = [
    "bin",
    "account",
    "service",
    "amount",
    "currency",
    "country",
    "purpose",
    "point_of_initiation",
    "crc_ok",
]
PAYLOAD = vietqr.encode(bin="970436", account="0011001234567", amount=150000, purpose="CS7K2M9QX4X")


def choso(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "choso.cli", "vietqr", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_encode_prints_the_payload_and_nothing_else() -> None:
    done = choso(
        "encode",
        "--bin",
        "970436",
        "--account",
        "0011001234567",
        "--amount",
        "150000",
        "--purpose",
        "CS7K2M9QX4X",
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, PAYLOAD + "\n", "")


def test_encode_static_card_with_name_folds_diacritics() -> None:
    done = choso(
        "encode",
        "--bin",
        "970422",
        "--account",
        "9704220000000001",
        "--card",
        "--static",
        "--name",
        "Hợp tác xã Đồng Tiến",
        "--purpose",
        "CS7K2M9QX4X Phí chợ",
    )
    assert done.returncode == 0, done.stderr
    decoded = vietqr.decode(done.stdout.removesuffix("\n"))
    assert (decoded.service, decoded.point_of_initiation, decoded.amount) == ("QRIBFTTC", "static", None)
    assert (decoded.name, decoded.purpose) == ("Hop tac xa Dong Tien", "CS7K2M9QX4X Phi cho")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--bin", "123456", "--amount", "1"], "no bank on the NAPAS list uses BIN 123456"),
        (["--bin", "97043", "--amount", "1"], "a BIN is 6 digits"),
        (["--bin", "970436", "--amount", "0"], "amount must be between 1 and"),
        (["--bin", "970436"], "a dynamic QR needs an amount"),
        (["--bin", "970436", "--amount", "1", "--purpose", "x" * 26], "at most 25"),
    ],
)
def test_encode_refuses_with_exit_2(args: list[str], reason: str) -> None:
    done = choso("encode", "--account", "0011001234567", *args)
    assert done.returncode == 2 and done.stdout == ""
    assert reason in done.stderr


def test_encode_refuses_a_fractional_amount() -> None:
    done = choso("encode", "--bin", "970436", "--account", "1", "--amount", "1.5")
    assert done.returncode == 2 and done.stdout == "" and "--amount" in done.stderr


def test_decode_prints_one_json_object() -> None:
    done = choso("decode", PAYLOAD)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.count("\n") == 1
    decoded = json.loads(done.stdout)
    assert list(decoded) == CONTRACT_KEYS
    assert decoded == {
        "bin": "970436",
        "account": "0011001234567",
        "service": "QRIBFTTA",
        "amount": 150000,
        "currency": "704",
        "country": "VN",
        "purpose": "CS7K2M9QX4X",
        "point_of_initiation": "dynamic",
        "crc_ok": True,
    }


def test_decode_static_without_amount_gives_null_and_reads_stdin() -> None:
    static = vietqr.encode(bin="970416", account="257678859", static=True)
    done = choso("decode", "-", stdin=static + "\n")
    assert done.returncode == 0, done.stderr
    decoded = json.loads(done.stdout)
    assert (
        decoded["amount"] is None
        and decoded["purpose"] is None
        and decoded["point_of_initiation"] == "static"
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (PAYLOAD[:-4] + "0000", "CRC mismatch"),
        (PAYLOAD[:20], "must end with the CRC field"),
        ("hello", "must end with the CRC field"),
    ],
)
def test_decode_invalid_exits_2_with_the_reason(payload: str, reason: str) -> None:
    done = choso("decode", payload)
    assert done.returncode == 2 and done.stdout == ""
    assert "invalid VietQR payload" in done.stderr and reason in done.stderr


def test_decode_ignore_crc_reports_it() -> None:
    done = choso("decode", "--ignore-crc", PAYLOAD[:-4] + "0000")
    assert done.returncode == 0
    assert json.loads(done.stdout)["crc_ok"] is False


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_image_writes_the_drawn_code(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"pay.{suffix}"
    done = choso("image", PAYLOAD, "-o", str(target))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    # The exact bytes qr_render draws; test_vietqr_interop scans those back with zbarimg.
    assert target.read_bytes() == qr_render.render(PAYLOAD, suffix)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ([PAYLOAD, "-o", "code.gif"], "must end in .png or .svg"),
        ([PAYLOAD[:-1] + "X", "-o", "code.png"], "invalid VietQR payload"),
    ],
)
def test_image_refuses(tmp_path: Path, args: list[str], reason: str) -> None:
    args = [str(tmp_path / a) if a.startswith("code.") else a for a in args]
    done = choso("image", *args)
    assert done.returncode == 2 and reason in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_banks_lists_the_napas_banks() -> None:
    done = choso("banks")
    assert done.returncode == 0
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert ["970436", "VCB", "Vietcombank", "Ngân hàng TMCP Ngoại Thương Việt Nam"] in rows
    assert sum(row[0] == "970406" for row in rows) == 2  # Vikki and its former name DongA Bank
