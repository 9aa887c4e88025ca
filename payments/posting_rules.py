"""The ledger's posting rules, as pure functions: what a transaction must look like.

A transaction is two or more postings on distinct accounts whose amounts (debit > 0,
credit < 0, never 0) sum to zero. Its fingerprint identifies its content, so that a replay
under the same idempotency key can be told apart from a different transaction reusing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from choso.money import MAX_AMOUNT_VND


@dataclass(frozen=True)
class Posting:
    account: str  # the account's code, e.g. "bank:3"
    amount_vnd: int  # debit > 0, credit < 0


class UnbalancedTransaction(ValueError):
    pass


def validate(postings: Sequence[Posting]) -> None:
    if len(postings) < 2:
        raise UnbalancedTransaction("a transaction needs at least two postings")
    if len({p.account for p in postings}) != len(postings):
        raise UnbalancedTransaction("an account appears twice in one transaction")
    for posting in postings:
        amount = posting.amount_vnd
        if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT_VND:
            raise UnbalancedTransaction(f"posting to {posting.account} has an invalid amount {amount!r}")
    if sum(p.amount_vnd for p in postings) != 0:
        raise UnbalancedTransaction("postings do not sum to zero")


def transfer(*, debit: str, credit: str, amount_vnd: int) -> list[Posting]:
    """The simplest transaction: ``amount_vnd`` from ``credit`` to ``debit``."""
    return [Posting(debit, amount_vnd), Posting(credit, -amount_vnd)]


def split(debit: str, amount_vnd: int, credits: Sequence[tuple[str, int]]) -> list[Posting]:
    """One debit spread over several credits (zero parts are left out)."""
    postings = [Posting(debit, amount_vnd)]
    postings += [Posting(account, -part) for account, part in credits if part]
    return postings


def reversal(postings: Sequence[Posting]) -> list[Posting]:
    return [Posting(p.account, -p.amount_vnd) for p in postings]


def fingerprint(kind: str, postings: Sequence[Posting]) -> str:
    canonical = json.dumps([kind, sorted((p.account, p.amount_vnd) for p in postings)], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
