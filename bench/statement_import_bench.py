"""Statement import benchmark: a generated bank statement imported into a fresh database by the
application's own import (payments.statement_import), phase by phase, beside two baselines
measured in the same run: the pure matcher on the same lines (matching without storing,
settling or posting), and the bank webhook's path (one ``apply_incoming_payment`` per credit,
one transaction each) on a second account with a statement of the same size.

    .venv/bin/python bench/statement_import_bench.py [--lines 2000] [--seed 7]
                                                     [--database-url postgresql://…/empty_db]

Without --database-url it uses a SQLite file in a temporary folder; a given database must be
empty (the script migrates it). Then a second import of the same transactions in another
format (CAMT.053 after CSV) is timed: it must store no new transaction and move no money.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database_url: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="choso-statement-bench-"))
    os.environ["CHOSO_DATA_DIR"] = str(folder)
    os.environ["CHOSO_DATABASE_URL"] = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["CHOSO_RUN_SCHEDULER"] = "false"
    os.environ.pop("CHOSO_REDIS_URL", None)  # jobs (notifications) run in this process


def arrange(generated: Any, bank_bin: str, tax_code: str) -> int:
    """An organisation, the statement's bank account and one open request per expected payment."""
    import sqlalchemy as sa

    from choso.db import session_scope, utcnow
    from market.models import Organisation
    from payments.models import BankAccount, PaymentRequest
    from payments.recon.generate import OUR_ACCOUNT

    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    with session_scope() as session:
        org = Organisation(
            kind="producer", name="HTX Đo", tax_code=tax_code, province_code=38, ward_code=14797
        )
        session.add(org)
        session.flush()
        account = BankAccount(
            organisation_id=org.id, bank_bin=bank_bin, account_number=OUR_ACCOUNT, holder_name="HTX DO"
        )
        session.add(account)
        session.flush()
        rows = [
            {
                "reference_code": p.reference, "payee_organisation_id": org.id, "bank_account_id": account.id,
                "amount_vnd": p.amount_vnd, "currency": "VND", "description": "Đơn hàng", "status": "open",
                "received_vnd": 0, "payer_name": p.payer_name, "fingerprint": "", "cause_type": "manual",
                "expires_at": datetime.combine(p.due_date, clock(23, 59), tzinfo=zone).astimezone(UTC),
                "created_at": utcnow(),
            }
            for p in generated.expected
        ]  # fmt: skip
        session.connection().execute(sa.insert(PaymentRequest.__table__), rows)  # type: ignore[attr-defined]
        session.commit()
        return account.id or 0


def timed(label: str, count: int, action: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"  {label:<48} {seconds:8.2f} s  {count / seconds if seconds else 0:10,.0f} lines/s")
    return result


def webhook_path(account_id: int, lines: list[Any]) -> int:
    """What the bank webhooks' job does for each transfer in: one payment, one transaction."""
    from choso.db import session_scope
    from payments import requests, statement_import
    from payments.reference import find_references

    done, seen = 0, set()
    with session_scope() as session:
        for line in lines:
            if line.amount_vnd <= 0 or line.dedup_key() in seen:
                continue
            seen.add(line.dedup_key())
            codes = find_references(line.memo)
            requests.apply_incoming_payment(
                session,
                requests.IncomingPayment(
                    provider="sepay",
                    provider_txn_id=f"bench-{line.position}",
                    amount_vnd=line.amount_vnd,
                    received_at=statement_import.booked_at(line.booked_on, line.booked_time),
                    bank_account_id=account_id,
                    reference_code=codes[0] if len(codes) == 1 else None,
                    memo=line.memo,
                    bank_reference=line.bank_reference or "",
                ),
            )
            session.commit()
            done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    configure(args.database_url)

    from choso import migrate
    from choso.db import session_scope
    from payments import ledger, statement_import, statements
    from payments.recon.generate import generate, write_camt053, write_csv
    from payments.recon.matcher import reconcile
    from payments.statement_models import BankStatement

    migrate.upgrade()
    generated = generate(args.lines, args.seed)
    other = generate(args.lines, args.seed + 1)
    account_id = arrange(generated, "970436", "2800112348")
    other_account = arrange(other, "970418", "0100233583")
    as_csv, as_camt = write_csv(generated.lines), write_camt053(generated.lines)
    backend = os.environ["CHOSO_DATABASE_URL"].split(":", 1)[0]
    print(f"{args.lines:,} lines, {len(generated.expected):,} open requests, {backend}")

    timed(
        "baseline: the pure matcher alone", args.lines, lambda: reconcile(generated.lines, generated.expected)
    )
    credits = timed(
        "baseline: the webhook path, per credit", args.lines, lambda: webhook_path(other_account, other.lines)
    )
    print(f"    ({credits:,} credits applied)")

    def store(data: bytes, name: str) -> int:
        with session_scope() as session:
            stored, _ = statements.submit(
                session, None, account_id, data, filename=name, source="cli", queue=False
            )
        return stored.id or 0

    first = timed("store the file", args.lines, lambda: store(as_csv, "statement.csv"))
    with session_scope() as session:
        timed(
            "phase 1: read, match, store every line",
            args.lines,
            lambda: statement_import.decide(session, first),
        )
    with session_scope() as session:
        applied = timed("phase 2: apply the lines (batches ≤ 50, ~0.25 s)", args.lines,
                        lambda: statement_import.apply_pending(session, first))  # fmt: skip
    with session_scope() as session:
        timed(
            "phase 3: count, compare the balance, alert",
            args.lines,
            lambda: statement_import.finish(session, first),
        )
        imported = session.get_one(BankStatement, first)
        balance = ledger.balance(session, ledger.bank(account_id))
    print(f"    ({applied:,} lines applied; {imported.counts})")

    second = store(as_camt, "statement.xml")
    timed("again, as CAMT.053: the whole import", args.lines, lambda: statement_import.run_import(second))
    with session_scope() as session:
        again = session.get_one(BankStatement, second)
        moved = ledger.balance(session, ledger.bank(account_id)) - balance
        problems = ledger.check(session)
    print(f"    (second import {again.status}: {again.counts.get('duplicate', 0):,} duplicate lines, "
          f"money moved {moved:,} ₫, ledger problems {len(problems)})")  # fmt: skip


if __name__ == "__main__":
    main()
