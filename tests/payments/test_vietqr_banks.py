"""The shipped NAPAS bank list: loading, lookups by a BIN that several banks may share, validation."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
from vietnam_qr_pay import BanksObject

from payments import banks


def test_the_list_loads_with_its_source() -> None:
    listed = banks.bank_list()
    document = json.loads(files("payments").joinpath(banks.DATA_FILE).read_text(encoding="utf-8"))
    assert "VietQR.io" in listed.source and "vietnam-qr-pay" in listed.source
    assert len(banks.current_banks()) == document["count_current"] >= 60
    assert all(banks.is_bin_shaped(bank.bin) for bank in listed.banks)
    assert len({bank.short_name for bank in listed.banks}) == len(listed.banks)


def test_lookup_by_bin() -> None:
    vietcombank = banks.get_bank("970436")
    assert (vietcombank.code, vietcombank.short_name) == ("VCB", "Vietcombank")
    assert vietcombank.name == "Ngân hàng TMCP Ngoại Thương Việt Nam"
    assert banks.find_bank("970436") == vietcombank
    assert banks.find_bank("123456") is None
    assert banks.banks_for_bin("123456") == ()


@pytest.mark.parametrize(
    ("bin", "current", "former"),
    [
        ("970406", "Vikki", "DongA Bank"),
        ("970414", "MBV", "OceanBank"),
        ("970449", "LPBank", "LienVietPostBank"),
    ],
)
def test_a_bin_shared_after_a_merger_answers_every_bank_current_first(
    bin: str, current: str, former: str
) -> None:
    sharing = banks.banks_for_bin(bin)
    assert [bank.short_name for bank in sharing] == [current, former]
    assert sharing[0].current and not sharing[1].current and sharing[1].succeeded_by == current
    assert banks.get_bank(bin).short_name == current
    assert [bank.bin for bank in banks.current_banks()].count(bin) == 1


@pytest.mark.parametrize(
    ("bin", "message"),
    [
        ("123456", "no bank on the NAPAS list"),
        ("97043", "6 digits"),
        ("97043６", "6 digits"),
        (970436, "6 digits"),
        (None, "6 digits"),
    ],
)
def test_validation(bin: object, message: str) -> None:
    assert not banks.is_known_bin(bin)
    with pytest.raises(banks.UnknownBin, match=message):
        banks.validate_bin(bin)
    with pytest.raises(banks.UnknownBin):
        banks.get_bank(bin)  # type: ignore[arg-type]


def test_known_bins_validate() -> None:
    for bank in banks.bank_list().banks:
        assert banks.validate_bin(bank.bin) == bank.bin and banks.is_known_bin(bank.bin)


def test_find_by_name_as_bank_services_write_it() -> None:
    assert [bank.bin for bank in banks.find_by_name("vietcombank")] == ["970436"]
    assert [bank.bin for bank in banks.find_by_name("MB Bank")] == ["970422"]
    assert [bank.bin for bank in banks.find_by_name("VCB")] == ["970436"]
    assert banks.find_by_name("No Such Bank") == ()


def test_agrees_with_an_independent_list() -> None:
    """Every BIN in vietnam-qr-pay's list is on ours (bar one brand VietQR.io no longer lists),
    and the BINs it shows as shared are the ones ours models as shared."""
    theirs = {bank.bin for bank in BanksObject.values() if bank.bin}
    assert theirs - {bank.bin for bank in banks.bank_list().banks} == {"963369"}  # Liobank
    shared_by_them = {b for b in theirs if sum(bank.bin == b for bank in BanksObject.values()) > 1}
    shared_by_us = {b for b, rows in banks.bank_list().by_bin.items() if len(rows) > 1}
    assert shared_by_them == shared_by_us


def test_the_list_is_checked_when_built() -> None:
    row = {"bin": "970436", "code": "VCB", "short_name": "Vietcombank", "name": "x", "current": True}
    with pytest.raises(ValueError, match="needs exactly one current bank"):
        banks.build_bank_list({"source": "test", "banks": [row, dict(row, short_name="Other")]})
    with pytest.raises(ValueError, match="invalid BIN"):
        banks.build_bank_list({"source": "test", "banks": [dict(row, bin="97043")]})
