"""Interoperability: Choso's VietQR payloads against two independent codecs from PyPI
(vietnam-qr-pay, napas-qr-python), and the drawn QR codes against a real scanner (zbarimg)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import qr_pay as napas  # napas-qr-python
import vietnam_qr_pay
from hypothesis import given, settings
from hypothesis import strategies as st

from payments import qr_render, vietqr

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)
# The fields both libraries can express (each writes "12" exactly when there is an amount).
fields = st.fixed_dictionaries(
    {
        "bin": st.from_regex(r"[0-9]{6}", fullmatch=True),
        "account": st.from_regex(r"[0-9A-Z]{1,19}", fullmatch=True),
        "amount": st.none() | st.integers(1, vietqr.MAX_AMOUNT_VND),
        "purpose": st.none() | printable.filter(lambda s: len(s) <= 25),
        "name": st.none() | printable.filter(lambda s: len(s) <= 25),
        "city": st.none() | printable.filter(lambda s: len(s) <= 15),
        "card": st.booleans(),
    }
)


def _account(values: dict) -> str:
    # A card number must be 16 to 19 digits: card cases use a fixed one.
    return values["account"] if not values["card"] else "9704" + "0" * 12


def choso_encode(values: dict) -> str:
    return vietqr.encode(
        bin=values["bin"],
        account=_account(values),
        amount=values["amount"],
        purpose=values["purpose"],
        name=values["name"],
        city=values["city"],
        static=values["amount"] is None,
        service=vietqr.SERVICE_CARD if values["card"] else vietqr.SERVICE_ACCOUNT,
    )


def vietnam_qr_pay_encode(values: dict) -> str:
    qr = vietnam_qr_pay.QRPay.init_viet_qr(
        bank_bin=values["bin"],
        bank_number=_account(values),
        amount=None if values["amount"] is None else str(values["amount"]),
        purpose=values["purpose"],
        service=vietnam_qr_pay.VietQRService.BY_CARD_NUMBER if values["card"] else None,
    )
    qr.merchant.name = values["name"]
    qr.city = values["city"]
    return qr.build()


def napas_encode(values: dict) -> str:
    return napas.QRPay(
        values["bin"],
        _account(values),
        transaction_amount=values["amount"],
        purpose_of_transaction=values["purpose"],
        point_of_initiation_method="DYNAMIC" if values["amount"] is not None else "STATIC",
        service_code="CARD" if values["card"] else "ACCOUNT",
        merchant_name=values["name"],
        merchant_city=values["city"],
    ).code


def expected_fields(values: dict) -> dict:
    return {
        "bin": values["bin"],
        "account": _account(values),
        "service": vietqr.SERVICE_CARD if values["card"] else vietqr.SERVICE_ACCOUNT,
        "amount": values["amount"],
        "purpose": values["purpose"],
        "name": values["name"],
        "city": values["city"],
        "point_of_initiation": "dynamic" if values["amount"] is not None else "static",
    }


@settings(max_examples=150)
@given(fields)
def test_choso_payloads_read_by_vietnam_qr_pay(values: dict) -> None:
    payload = choso_encode(values)
    read = vietnam_qr_pay.QRPay(payload)
    assert read.is_valid
    assert read.provider.guid == vietqr.GUID
    got = {
        "bin": read.consumer.bank_bin,
        "account": read.consumer.bank_number,
        "service": read.provider.service,
        "amount": None if read.amount is None else int(read.amount),
        "purpose": read.additional_data.purpose,
        "name": read.merchant.name,
        "city": read.city,
        "point_of_initiation": {"11": "static", "12": "dynamic"}[read.init_method],
    }
    assert got == expected_fields(values)
    assert (read.currency, read.nation) == ("704", "VN")


@settings(max_examples=150)
@given(fields)
def test_choso_payloads_read_by_napas_qr_python(values: dict) -> None:
    read = napas.decode(choso_encode(values))  # verifies the CRC
    got = {
        "bin": read["bin_id"],
        "account": read["consumer_id"],
        "service": read["service_code"],
        "amount": None if read["transaction_amount"] is None else int(read["transaction_amount"]),
        "purpose": read.get("purpose_of_transaction"),
        "name": read["merchant_name"],
        "city": read["merchant_city"],
        "point_of_initiation": {"11": "static", "12": "dynamic"}[read["point_of_initiation_method"]],
    }
    assert got == expected_fields(values)
    assert (read["glocal_uuid"], read["transaction_currency"], read["country_code"]) == (
        vietqr.GUID,
        "704",
        "VN",
    )


@settings(max_examples=150)
@given(fields)
def test_their_payloads_decoded_by_choso(values: dict) -> None:
    for payload in (vietnam_qr_pay_encode(values), napas_encode(values)):
        decoded = vietqr.decode(payload)
        got = {key: getattr(decoded, key) for key in expected_fields(values)}
        assert got == expected_fields(values), payload
        assert (decoded.currency, decoded.country, decoded.crc_ok) == ("704", "VN", True)


@settings(max_examples=150)
@given(fields)
def test_all_three_write_the_same_bytes(values: dict) -> None:
    assert choso_encode(values) == vietnam_qr_pay_encode(values) == napas_encode(values)


def test_lowercase_crc_is_read_by_everyone() -> None:
    payload = vietqr.encode(bin="970436", account="0011001234567", amount=150000, purpose="CS7K2M9QX4X")
    lower = payload[:-4] + payload[-4:].lower()
    assert vietqr.decode(lower).amount == 150000
    assert vietnam_qr_pay.QRPay(lower).is_valid


# --- a real scanner ---------------------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


@pytest.fixture(scope="module")
def zbarimg() -> str:
    found = shutil.which("zbarimg")
    if found:
        return found
    if _in_ci():
        pytest.fail("zbarimg is missing in CI; .ci/run installs it (Debian package zbar-tools)")
    pytest.skip(
        "zbarimg is not installed here (apt-get install zbar-tools); CI installs it and fails without it"
    )


SCANNED = [
    vietqr.encode(bin="970436", account="0011001234567", amount=150000, purpose="CS7K2M9QX4X"),
    vietqr.encode(bin="970416", account="257678859", static=True),
    vietqr.encode(
        bin="970422",
        account="9" * 19,
        amount=vietqr.MAX_AMOUNT_VND,
        purpose=vietqr.qr_purpose("CS7K2M9QX4X", "Phí chợ tháng 11 – Hạc Thành"),
        name="HTX NONG SAN DONG TIEN 25",
        city="THANH HOA",
    ),
]


@pytest.mark.parametrize("payload", SCANNED)
@pytest.mark.parametrize("image_format", ["png", "svg"])
def test_drawn_code_scans_back_to_the_exact_payload(
    zbarimg: str, tmp_path: Path, payload: str, image_format: str
) -> None:
    image = tmp_path / f"code.{image_format}"
    image.write_bytes(qr_render.render(payload, image_format))  # type: ignore[arg-type]
    scanned = subprocess.run(
        [zbarimg, "--raw", "--quiet", str(image)], capture_output=True, text=True, timeout=60, check=True
    )
    assert scanned.stdout == payload + "\n"
