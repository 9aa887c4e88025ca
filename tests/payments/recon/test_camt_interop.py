"""The streaming CAMT.053 reader agrees with pycamt, an independent parser, on the same files.

pycamt is not used for imports because it is quadratic in the number of entries (see
payments.recon.camt), but on a few hundred entries it is a good second opinion.
"""

from __future__ import annotations

from pycamt.parser import Camt053Parser

from payments.recon.camt import read_camt053
from payments.recon.generate import generate, write_camt053
from payments.recon.text import parse_amount
from tests.payments.recon import scenario


def _compact(text: str) -> str:
    return "".join(text.split())


def assert_same_lines(data: bytes) -> None:
    ours = read_camt053(data).lines
    theirs = [
        entry for entry in Camt053Parser(data).get_transactions() if entry.get("Status") in (None, "BOOK")
    ]
    assert len(ours) == len(theirs)
    for line, entry in zip(ours, theirs, strict=True):
        sign = 1 if entry["CreditDebitIndicator"] == "CRDT" else -1
        assert line.amount_vnd == sign * parse_amount(entry["Amount"])
        assert line.bank_reference == entry.get("TransactionID")
        assert line.booked_on.isoformat() == entry["BookingDate"][:10]
        # pycamt joins remittance lines with a space; we do not where the bank cut a word.
        assert _compact(line.memo) == _compact(entry.get("RemittanceInformationFull") or "")
        assert line.counterparty_name == (entry.get("DebtorName" if sign > 0 else "CreditorName") or "")


def test_generated_camt053_version_08() -> None:
    assert_same_lines(write_camt053(generate(300, seed=5).lines))


def test_hand_built_camt053_version_02() -> None:
    assert_same_lines(scenario.camt053())
