"""SWIFT MT940 customer statements, read with the mt-940 package.

The bank's own transaction reference (after ``//`` in field 61) identifies a transaction; the
account owner's reference is used when the bank gives none (and is not ``NONREF``). Field 86 is
the memo. MT940 has no booking time.
"""

from __future__ import annotations

from decimal import Decimal

import mt940

from payments.recon.errors import StatementError
from payments.recon.model import Statement, StatementLine
from payments.recon.text import nfc


def read_mt940(text: str) -> Statement:
    transactions = mt940.models.Transactions()
    try:
        transactions.parse(text)
    except Exception as error:  # mt-940 raises bare exceptions of several kinds for bad input
        raise StatementError(f"not a readable MT940 statement: {error}") from None
    header = transactions.data
    account = str(header.get("account_identification") or "")
    statement = Statement(format="mt940", lines=[], account=account)
    statement.opening_balance_vnd = _balance(header.get("final_opening_balance"))
    statement.closing_balance_vnd = _balance(header.get("final_closing_balance"))
    for position, transaction in enumerate(transactions, start=1):
        statement.lines.append(_line(position, transaction.data, account, text))
    if not statement.lines and ":61:" in text:
        raise StatementError(
            "field 61 present but no transaction could be read", line=_first_line(text, ":61:")
        )
    return statement


def _line(position: int, data: dict, account: str, text: str) -> StatementLine:
    amount = data["amount"].amount
    if data["amount"].currency not in (None, "VND"):
        raise StatementError(f"currency {data['amount'].currency} is not VND", line=_first_line(text, ":61:"))
    if amount != amount.to_integral_value():
        raise StatementError(f"amount {amount} has a fraction of a đồng", line=_first_line(text, ":61:"))
    reference = data.get("bank_reference") or data.get("customer_reference")
    if reference == "NONREF":
        reference = None
    memo = nfc(str(data.get("transaction_details") or ""))
    return StatementLine(
        position, data["date"], int(Decimal(amount)), memo, reference or None, "", "", account, None
    )


def _balance(balance: object) -> int | None:
    amount = getattr(getattr(balance, "amount", None), "amount", None)
    return int(amount) if amount is not None else None


def _first_line(text: str, marker: str) -> int | None:
    index = text.find(marker)
    return text.count("\n", 0, index) + 1 if index >= 0 else None
