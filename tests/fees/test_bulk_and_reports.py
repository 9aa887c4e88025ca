"""Bulk issuance (every bad-row kind, encodings, idempotency), formula injection neutralised in
every export, report totals that tie to the ledger, and recurring notices once per period."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import UTC, datetime

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from choso.db import session_scope
from fees import recurring
from fees.models import FeeNotice, FeeSchedule
from payments import ledger
from tests.conftest import wait_for_jobs
from tests.downloads_helpers import assert_private_file
from tests.fees import helpers
from tests.payments.helpers import notice, post_sepay, sepay_body

HYPERLINK = '=HYPERLINK("http://evil.example/x","Bấm vào")'
HEADER = "ho_ten,so_dinh_danh,ma_so_thue,dien_thoai,email,ma_ho_so,ma_dich_vu,so_luong,so_tien"


def csv_text(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def upload(client: TestClient, who: helpers.Agency, body: bytes, name: str = "thang5.csv") -> dict:
    response = client.post(
        f"/api/v1/fees/batches?filename={name}",
        content=body,
        headers={**who.auth, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    return response.json()


TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def windows_1258(text: str) -> bytes:
    """Text as Windows-1258 writes it: letters with their vowel marks precomposed (ê, ơ, ă…)
    and the tone marks as separate combining characters after them."""
    out = []
    for char in text:
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in parts if c in TONE_MARKS)
        out.append(unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONE_MARKS)) + tones)
    return "".join(out).encode("cp1258")


def notices_of(db: Session, agency_id: int) -> int:
    db.rollback()
    return int(
        db.exec(select(func.count()).select_from(FeeNotice).where(FeeNotice.agency_id == agency_id)).one()
    )


@pytest.fixture
def market_board(client: TestClient) -> tuple[helpers.Agency, dict]:
    agency = helpers.agency("Ban quản lý chợ Vườn Hoa")
    stall = helpers.create_service(
        client,
        agency,
        helpers.service_payload(
            agency.account.id,
            "CHO",
            rule="per_unit",
            amount_vnd=300_000,
            unit_name="sạp-tháng",
            tiers=[],
            cap_vnd=None,
            max_quantity=3,
        ),
    )
    helpers.create_service(client, agency, helpers.fixed_payload(agency.account.id, "HKD", published=False))
    return agency, stall


def test_every_bad_row_is_reported_and_nothing_is_issued_until_chosen(
    client: TestClient, db: Session, market_board: tuple[helpers.Agency, dict]
) -> None:
    agency, _stall = market_board
    rows = [
        "Trần Thị Hoa,038085012345,,0912345678,,CHO-05-A01,CHO,1,300000",  # 2 valid
        "Lê Văn Nam,12345,,,,CHO-05-A02,CHO,1,",  # 3 bad ID (format)
        "Lê Văn Nam,999085012345,,,,CHO-05-A03,CHO,1,",  # 4 bad ID (province)
        "Phạm Văn Tùng,038299012345,,,,CHO-05-A04,CHO,1,",  # 5 bad ID (birth year 2099)
        "Hộ kinh doanh Tùng,,0100233584,,,CHO-05-A05,CHO,1,",  # 6 bad tax code
        "Ngô Thị Mai,,,0123,,CHO-05-A06,CHO,1,",  # 7 bad phone
        "Ngô Thị Mai,,,,mai@@x,CHO-05-A07,CHO,1,",  # 8 bad e-mail
        "Đỗ Văn Hải,,,,,CHO-05-A08,XYZ,1,",  # 9 unknown service code
        "Đỗ Văn Hải,,,,,CHO-05-A09,HKD,1,",  # 10 a draft service
        "Đỗ Văn Hải,,,,,CHO-05-A10,CHO,5,",  # 11 quantity above the rule's maximum
        "Đỗ Văn Hải,,,,,CHO-05-A11,CHO,1.5,",  # 12 quantity not whole
        "Đỗ Văn Hải,,,,,CHO-05-A12,CHO,1,250000",  # 13 amount differs from the rule
        "Bùi Văn Sơn,,,,,CHO-05-A13,CHO,1,",  # 14 duplicated dossier
        "Bùi Thị Sen,,,,,CHO-05-A13,CHO,2,",  # 15 duplicated dossier
        f'"{HYPERLINK.replace(chr(34), chr(34) * 2)}",,,,,CHO-05-A14,CHO,2,600000',  # 16 valid, hostile name
        ",,,,,CHO-05-A15,CHO,1,",  # 17 no payer name
    ]
    batch = upload(client, agency, csv_text(rows).encode("utf-8"))
    by_row = {row["row"]: row for row in batch["rows"]}
    codes = {n: {e["code"] for e in row["errors"]} for n, row in by_row.items()}
    assert codes[2] == set() and by_row[2]["status"] == "valid"
    assert codes[3] == {"id_format"} and codes[4] == {"id_province"} and codes[5] == {"id_birth_year"}
    assert codes[6] == {"tax_code"} and codes[7] == {"phone"} and codes[8] == {"email"}
    assert codes[9] == {"unknown_service"} and codes[10] == {"service_not_in_force"}
    assert codes[11] == {"quantity_range"} and codes[12] == {"quantity_not_whole"}
    assert codes[13] == {"amount_mismatch"}
    assert codes[14] == codes[15] == {"duplicate_dossier"}
    assert codes[16] == set() and by_row[16]["values"]["payer_name"] == HYPERLINK
    assert "missing" in codes[17]
    assert batch["valid_count"] == 2
    assert notices_of(db, agency.org.id) == 0  # nothing until the officer chooses

    issued = client.post(f"/api/v1/fees/batches/{batch['id']}/issue", headers=agency.auth).json()
    assert issued["issued_count"] == 2 and notices_of(db, agency.org.id) == 2
    # The same file again, as a new upload: those rows are already issued, nothing is duplicated.
    again = upload(client, agency, csv_text(rows).encode("utf-8"))
    assert {r["row"]: r["status"] for r in again["rows"]}[2] == "already_issued"
    client.post(f"/api/v1/fees/batches/{again['id']}/issue", headers=agency.auth)
    assert notices_of(db, agency.org.id) == 2

    # Formula injection is neutralised in every export: the batch's rows and the report.
    page_client = TestClient(client.app)
    from tests.support import page_login

    assert page_login(page_client, agency.officer.email).status_code == 303
    rows_download = page_client.get(f"/fees/bulk/{batch['id']}/rows.csv")
    assert_private_file(rows_download, f"kiem-tra-{batch['id']}.csv")  # payers' ids: never cached
    rows_csv = rows_download.content.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(rows_csv)) for cell in row]
    assert "'" + HYPERLINK in cells and HYPERLINK not in cells
    rows_xlsx = page_client.get(f"/fees/bulk/{batch['id']}/rows.xlsx")
    assert_private_file(rows_xlsx, f"kiem-tra-{batch['id']}.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(rows_xlsx.content))
    values = [cell.value for row in book.active.iter_rows() for cell in row]
    assert "'" + HYPERLINK in values and HYPERLINK not in values
    today = datetime.now(UTC).date().isoformat()
    report_csv = client.get(f"/api/v1/fees/reports.csv?on={today}&period=month", headers=agency.auth)
    month = f"{today[:8]}01-month"
    assert_private_file(report_csv, f"bao-cao-thu-phi-{agency.org.id}-{month}.csv")
    cells = [cell for row in csv.reader(io.StringIO(report_csv.content.decode("utf-8-sig"))) for cell in row]
    assert "'" + HYPERLINK in cells and HYPERLINK not in cells
    report_xlsx = client.get(f"/api/v1/fees/reports.xlsx?on={today}&period=month", headers=agency.auth)
    assert_private_file(report_xlsx, f"bao-cao-thu-phi-{agency.org.id}-{month}.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(report_xlsx.content))
    values = [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert "'" + HYPERLINK in values and HYPERLINK not in values


@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "utf-8-sig", "utf-16", "cp1258"],
)
def test_uploads_in_every_encoding_read_the_same_nfc_names(
    client: TestClient, market_board: tuple[helpers.Agency, dict], encoding: str
) -> None:
    agency, _stall = market_board
    text = csv_text(["Nguyễn Thị Hoà,,,,,CHO-06-B01,CHO,1,300.000"])
    data = windows_1258(text) if encoding == "cp1258" else text.encode(encoding)
    batch = upload(client, agency, data)
    row = batch["rows"][0]
    assert row["status"] == "valid", row
    assert row["values"]["payer_name"] == "Nguyễn Thị Hoà"  # NFC, whatever the file used


def test_report_totals_tie_to_the_ledger(client: TestClient, db: Session) -> None:
    agency = helpers.agency()
    platform_account = __import__("tests.factories", fromlist=["bank_account"]).bank_account(None)
    copies = helpers.create_service(client, agency, helpers.service_payload(agency.account.id))
    business = helpers.create_service(client, agency, helpers.fixed_payload(platform_account.id))
    paid_own = helpers.issue(client, agency, helpers.notice_payload(copies["id"], quantity=3))  # 5.000
    paid_platform = helpers.issue(client, agency, helpers.notice_payload(business["id"]))  # 100.000
    helpers.issue(client, agency, helpers.notice_payload(copies["id"], quantity=1))  # open: 2.000
    cancelled = helpers.issue(client, agency, helpers.notice_payload(business["id"]))
    client.post(
        f"/api/v1/fees/notices/{cancelled['id']}/cancel", json={"reason": "Nhầm"}, headers=agency.auth
    )
    for issued, account, amount in (
        (paid_own, agency.account.account_number, 5_000),
        (paid_platform, platform_account.account_number, 120_000),  # 20.000 too much
        (cancelled, platform_account.account_number, 100_000),  # after cancellation
    ):
        body = sepay_body(notice(account, amount, f"CK {issued['reference_code']} nop phi"))
        assert post_sepay(client, body).status_code == 200
    wait_for_jobs()
    today = (
        datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    )
    report = client.get(f"/api/v1/fees/reports?on={today}&period=day", headers=agency.auth).json()
    assert report["collected_vnd"] == 105_000 and report["channels"] == {"vietqr": 105_000, "card": 0}
    assert report["paid_vnd"] == 105_000 and report["outstanding_vnd"] == 2_000
    assert report["cancelled_vnd"] == 100_000 and report["refund_due_vnd"] == 120_000
    db.rollback()
    in_ledger = -(
        ledger.balance(db, ledger.payable(agency.org.id)) + ledger.balance(db, ledger.direct(agency.org.id))
    )
    assert report["ledger_vnd"] == in_ledger == report["collected_vnd"] and report["ties"]
    page_client = TestClient(client.app)
    from tests.support import page_login

    page_login(page_client, agency.officer.email)
    page = page_client.get(f"/fees/reports?on={today}&period=month")
    assert page.status_code == 200 and "<svg" in page.text and "<script" not in page.text


def test_recurring_notices_are_issued_once_per_period(client: TestClient, db: Session) -> None:
    agency = helpers.agency()
    stall = helpers.create_service(
        client,
        agency,
        helpers.service_payload(
            agency.account.id,
            "CHO",
            rule="per_unit",
            amount_vnd=300_000,
            unit_name="sạp-tháng",
            tiers=[],
            cap_vnd=None,
        ),
    )
    response = client.post(
        "/api/v1/fees/schedules",
        json={
            "service_id": stall["id"],
            "payer_name": "Hộ Trần Văn Lâm",
            "day_of_month": 1,
            "starts_on": "2026-01-01",
            "dossier_prefix": "SAP-A07",
        },
        headers=agency.auth,
    )
    assert response.status_code == 201, response.text
    may = datetime(2026, 5, 3, 2, 0, tzinfo=UTC)
    with session_scope() as session:
        assert recurring.issue_due(session, now=may) == 1
        assert recurring.issue_due(session, now=may) == 0  # the job runs again: nothing new
        assert recurring.issue_due(session, now=datetime(2026, 6, 1, 1, 0, tzinfo=UTC)) == 1
    db.rollback()
    rows = db.exec(select(FeeNotice).where(FeeNotice.agency_id == agency.org.id).order_by(FeeNotice.id)).all()
    assert [(r.period, r.dossier_number, r.amount_vnd) for r in rows] == [
        ("2026-05", "SAP-A07-2026-05", 300_000),
        ("2026-06", "SAP-A07-2026-06", 300_000),
    ]
    assert db.exec(select(FeeSchedule)).one().active
