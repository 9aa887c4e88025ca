"""Statements from the command line (a real `choso recon import` process) and from the inbox
folder scanned by a periodic job; an import that stopped is queued again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from choso.db import session_scope, utcnow
from market.models import OrganisationKind
from payments import statement_import, statement_inbox, statements
from payments.models import PaymentRequest
from payments.statement_models import BankStatement, StatementLine
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.payments.statement_support import camt, count, csv, ledger_clean, line, open_request


@pytest.fixture
def coop() -> dict[str, object]:
    org, owner = factories.staff(OrganisationKind.PRODUCER)
    return {"org": org, "owner": owner, "account": factories.bank_account(org.id)}


def choso(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "choso.cli", "recon", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        cwd=cwd,
    )


def paid(db: Session, request: PaymentRequest) -> bool:
    db.rollback()
    return db.get_one(PaymentRequest, request.id, populate_existing=True).status == "paid"


def test_choso_recon_import_imports_once_and_reports_as_json(db: Session, coop: dict, tmp_path: Path) -> None:
    org, account = coop["org"], coop["account"]
    request = open_request(org.id, account.id, 80_000, "Nguyễn Thị Lan")
    path = tmp_path / "sao-ke.csv"
    path.write_bytes(
        csv([line(80_000, f"CK {request.reference_code}"), line(-20_000, "phi")], account.account_number)
    )

    done = choso("import", str(path), "--account", str(account.id))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "imported" and summary["new"] is True
    assert summary["counts"]["matched"] == 1 and summary["counts"]["outgoing"] == 1
    assert paid(db, request)

    again = choso("import", str(path), "--account", str(account.id))
    assert again.returncode == 0, again.stderr
    assert (
        json.loads(again.stdout)["new"] is False
        and json.loads(again.stdout)["statement"] == summary["statement"]
    )
    assert count(db, StatementLine) == 2
    ledger_clean()


def test_choso_recon_import_exits_2_with_the_reason_for_an_unreadable_file(
    coop: dict, tmp_path: Path, db: Session
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b'<?xml version="1.0"?><Document><BkToCstmrStmt><Stmt><Ntry><Amt>')
    done = choso("import", str(broken), "--account", str(coop["account"].id))
    assert done.returncode == 2
    assert "broken.xml" in done.stderr and done.stderr.startswith("error:")
    assert count(db, BankStatement) == 0  # nothing stored for a file that cannot be read

    missing = choso("import", str(tmp_path / "nowhere.csv"), "--account", str(coop["account"].id))
    assert missing.returncode == 2 and "nowhere.csv" in missing.stderr

    other = tmp_path / "other.xml"
    other.write_bytes(camt([line(1_000, "x")], "123456789"))
    wrong_account = choso("import", str(other), "--account", str(coop["account"].id))
    assert wrong_account.returncode == 2 and "123456789" in wrong_account.stderr

    nobody = choso("import", str(other), "--account", "999999")
    assert nobody.returncode == 1 and "No such bank account" in nobody.stderr


def test_the_inbox_takes_settled_files_once_and_moves_them_aside(
    db: Session, coop: dict, tmp_path: Path
) -> None:
    org, account = coop["org"], coop["account"]
    request = open_request(org.id, account.id, 60_000, "Nguyễn Thị Lan")
    folder = tmp_path / str(account.id)
    folder.mkdir()
    data = camt([line(60_000, request.reference_code)], account.account_number)
    (folder / "monday.xml").write_bytes(data)
    (folder / "still-copying.xml.part").write_bytes(b"half")
    (folder / "fresh.xml").write_bytes(data)  # the same bytes again, and still being written
    old = time.time() - 60
    os.utime(folder / "monday.xml", (old, old))
    os.utime(folder / "still-copying.xml.part", (old, old))
    (tmp_path / "not-an-account").mkdir()

    with session_scope() as session:
        first = statement_inbox.scan(session, root=tmp_path)
    assert (first.queued, first.already_known, first.rejected) == (1, 0, 0)
    assert sorted(p.name for p in folder.iterdir()) == ["done", "fresh.xml", "still-copying.xml.part"]
    wait_for_jobs()
    assert paid(db, request)

    os.utime(folder / "fresh.xml", (old, old))
    with session_scope() as session:
        second = statement_inbox.scan(session, root=tmp_path)
    assert (second.queued, second.already_known) == (0, 1)
    assert len(list((folder / "done").iterdir())) == 2
    db.rollback()
    assert len(db.exec(select(BankStatement)).all()) == 1
    assert db.exec(select(BankStatement)).one().source == "inbox"


def test_the_inbox_rejects_what_cannot_be_stored_with_a_reason(
    coop: dict, tmp_path: Path, db: Session
) -> None:
    folder = tmp_path / "999999"  # no such bank account
    folder.mkdir()
    (folder / "x.csv").write_bytes(b"date,amount\n01/01/2026,1000\n")
    os.utime(folder / "x.csv", (time.time() - 60, time.time() - 60))
    with session_scope() as session:
        result = statement_inbox.scan(session, root=tmp_path)
    assert result.rejected == 1
    rejected = sorted(p.name for p in (folder / "rejected").iterdir())
    assert len(rejected) == 2 and rejected[1].endswith(".reason")
    assert count(db, BankStatement) == 0


def test_the_default_inbox_is_under_the_data_directory() -> None:
    from choso.settings import get_settings

    assert statement_inbox.inbox_dir() == get_settings().data_dir / "statements" / "inbox"


def test_an_import_that_stopped_is_queued_again_and_finishes(db: Session, coop: dict) -> None:
    org, account = coop["org"], coop["account"]
    request = open_request(org.id, account.id, 40_000, "Nguyễn Thị Lan")
    data = camt([line(40_000, request.reference_code)], account.account_number)
    with session_scope() as session:
        stored, _new = statements.submit(
            session, None, account.id, data, filename="s.xml", source="cli", queue=False
        )
        statement_import.decide(session, stored.id)  # phase 1 done, then the process "died"
    with session_scope() as session:
        assert statement_import.requeue_stale(session) == 0  # not stale yet
        session.exec(select(BankStatement)).one()
        stale = session.get_one(BankStatement, stored.id)
        stale.updated_at = utcnow() - timedelta(minutes=10)
        session.add(stale)
        session.commit()
        assert statement_import.requeue_stale(session) == 1
    eventually(lambda: paid(db, request))
    wait_for_jobs()
    db.rollback()
    assert db.get_one(BankStatement, stored.id, populate_existing=True).status == "imported"
    ledger_clean()
