"""One hand-built day of a cooperative's bank account, written out by hand in every format.

Twelve lines in which every category appears: Vietnamese memos with and without diacritics, a
code split by the bank, a split payment, an under- and an overpayment, a typo'd code that must
not match, a payment without a code (suggested by name and amount), two codes in one memo, the
same transaction repeated by an overlapping export, money out, bank interest; and expected
payments of which several receive nothing.
"""

from __future__ import annotations

import io
from datetime import datetime

from payments.recon.text import encode_windows_1258
from payments.reference import check_symbol


def code(body: str) -> str:
    return "CS" + body + check_symbol("CS" + body)


A, B, C, D, E = code("7K2M9QX4"), code("H3JD0PRT"), code("5VBN8WQ1"), code("M4TR6ZE2"), code("Q8XK3NAF")
F, G, H, I, J = code("2GHW7YCS"), code("9PZE4KDM"), code("RT6Y1BQV"), code("WD3S5XNE"), code("KF0A2MJP")  # noqa: E741
F_TYPO = F[:5] + ("A" if F[5] != "A" else "B") + F[6:]
ACCOUNT = "0011004455667"

EXPECTED_CSV = f"""reference,amount_vnd,payer_name,due_date
{A},150000,Nguyễn Văn An,2025-03-10
{B},500000,Trần Thị Bình,2025-03-12
{C},200000,Lê Hoàng Cường,2025-03-15
{D},300000,Phạm Thu Hà,2025-03-15
{E},100000,Võ Minh Đức,
{F},450000,Đặng Ngọc Lan,2025-03-20
{G},80000,Hồ Thanh Tâm,2025-03-20
{H},60000,Bùi Gia Huy,2025-03-20
{I},40000,Bùi Gia Huy,2025-03-20
{J},75000,Ngô Kim Oanh,2025-03-31
""".encode()

# (when, amount, memo, bank reference, counterparty name)
_MEMO_A = f"MBVCB.3278907687.482915.CS {A[2:6]}-{A[6:10]} {A[10]}.Nguyễn Văn An chuyển khoản học phí"
_MEMO_B = f"IBFT {B.lower()[:6]}.{B.lower()[6:]} TRAN THI BINH thanh toan don hang"
LINES = [
    ("2025-03-05 08:15:02", 150_000, _MEMO_A, "5243.65937", ""),
    ("2025-03-05 09:01:44", 500_000, _MEMO_B, "5243.65940", "TRAN THI BINH"),
    ("2025-03-06 10:20:00", -55_000, "Phí quản lý tài khoản", "5243.66001", ""),
    ("2025-03-06 11:00:00", 120_000, f"ND: {C} dot 1 LE HOANG CUONG", "5243.66010", "LE HOANG CUONG"),
    ("2025-03-07 14:30:00", 250_000, f"{D[:5]}\n{D[5:]} Phạm Thu Hà", "5243.66100", "PHAM THU HA"),
    ("2025-03-08 07:45:10", 120_000, f"vo minh duc ck {E.lower()}", "5243.66200", "VO MINH DUC"),
    ("2025-03-08 16:00:00", 80_000, f"{C} đợt 2", "5243.66300", "LE HOANG CUONG"),
    ("2025-03-09 09:09:09", 450_000, f"CK {F_TYPO} thanh toan", "5243.66400", ""),
    ("2025-03-09 10:10:10", 80_000, "HO THANH TAM chuyen tien mua che lam", "5243.66500", "HO THANH TAM"),
    ("2025-03-10 12:00:00", 100_000, f"{H}{I} BUI GIA HUY", "5243.66600", "BUI GIA HUY"),
    ("2025-03-05 09:01:44", 500_000, _MEMO_B, "5243.65940", "TRAN THI BINH"),
    ("2025-03-10 13:00:00", 35_000, "Lãi tiền gửi tháng 3", "5243.66700", ""),
]  # fmt: skip

# What a careful clerk decides, line by line, and the references that received nothing.
TRUTH = [
    ("matched", A), ("matched", B), ("outgoing", None), ("matched", C), ("underpaid", D), ("overpaid", E),
    ("matched", C), ("unmatched", None), ("suggested", G), ("unmatched", None), ("duplicate", None),
    ("unmatched", None),
]  # fmt: skip
MISSING = [F, G, H, I, J]
OPENING = 1_000_000
CLOSING = OPENING + sum(amount for _, amount, *_ in LINES[:10]) + LINES[11][1]


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")


def _vn(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def generic_csv() -> bytes:
    """The generic layout as Excel writes CSV: UTF-8 with BOM, Vietnamese dates and amounts."""
    rows = ["date,time,amount,description,bank_reference,counterparty_name"]
    for when, amount, memo, reference, name in LINES:
        moment = _when(when)
        memo_cell = '"' + memo.replace('"', '""') + '"'
        rows.append(f'{moment:%d/%m/%Y},{moment:%H:%M:%S},"{_vn(amount)}",{memo_cell},{reference},{name}')
    return b"\xef\xbb\xbf" + ("\r\n".join(rows) + "\r\n").encode("utf-8")


def excel_unicode_text() -> bytes:
    """Excel's "Unicode Text" export: UTF-16 LE with BOM, tab-separated."""
    rows = ["Date\tTime\tAmount\tDescription\tBank reference\tCounterparty name"]
    for when, amount, memo, reference, name in LINES:
        moment = _when(when)
        memo_cell = '"' + memo.replace('"', '""') + '"'
        rows.append(f"{moment:%Y-%m-%d}\t{moment:%H:%M:%S}\t{amount}\t{memo_cell}\t{reference}\t{name}")
    return "\r\n".join(rows).encode("utf-16")


def vietcombank_csv() -> bytes:
    """Vietcombank's statement export saved as CSV by Vietnamese Windows: Windows-1258."""
    balance = OPENING
    rows = [
        "NGÂN HÀNG TMCP NGOẠI THƯƠNG VIỆT NAM (VIETCOMBANK),,,,,",
        "SAO KÊ TÀI KHOẢN / STATEMENT OF ACCOUNT,,,,,",
        f"Số tài khoản/Account number:,{ACCOUNT},,,,",
        "Tên tài khoản/Account name:,HTX NÔNG SẢN THANH HÓA,,,,",
        "Loại tiền/Currency:,VND,,,,",
        "Từ ngày/From:,05/03/2025,Đến ngày/To:,10/03/2025,,",
        f'Số dư đầu kỳ/Opening balance:,"{OPENING:,}",,,,',
        ",,,,,",
        "STT/No.,Ngày giao dịch/Transaction Date,Số tiền ghi nợ/Debit,Số tiền ghi có/Credit,"
        "Số dư/Balance,Nội dung chi tiết/Transactions in detail",
    ]
    for number, (when, amount, memo, reference, _) in enumerate(LINES, start=1):
        if number != 11:
            balance += amount
        debit, credit = (f'"{-amount:,}"', "") if amount < 0 else ("", f'"{amount:,}"')
        memo_cell = '"' + memo.replace('"', '""') + '"'
        rows.append(
            f'{number},"{_when(when):%d/%m/%Y}\n{reference}",{debit},{credit},"{balance:,}",{memo_cell}'
        )
    rows.append('Tổng số/Total,,"55,000","2,185,000",,')
    rows.append(f'Số dư cuối kỳ/Closing balance:,"{CLOSING:,}",,,,')
    return encode_windows_1258("\r\n".join(rows) + "\r\n")


def bidv_xlsx() -> bytes:
    """BIDV's statement as an XLSX workbook: preamble, numeric amount cells, date cells."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["NGÂN HÀNG TMCP ĐẦU TƯ VÀ PHÁT TRIỂN VIỆT NAM - BIDV"])
    sheet.append(["SAO KÊ TÀI KHOẢN"])
    sheet.append(["Số tài khoản:", ACCOUNT])
    sheet.append(["Số dư đầu kỳ:", OPENING])
    sheet.append([])
    sheet.append(["STT", "Ngày giao dịch", "Số bút toán", "Ghi nợ", "Ghi có", "Số dư", "Diễn giải",
                  "Tên tài khoản đối ứng"])  # fmt: skip
    balance = OPENING
    for number, (when, amount, memo, reference, name) in enumerate(LINES, start=1):
        if number != 11:
            balance += amount
        debit, credit = (-amount, None) if amount < 0 else (None, amount)
        sheet.append([number, _when(when), reference, debit, credit, balance, memo, name or None])
    sheet.append(["Cộng phát sinh", None, None, 55_000, 2_185_000])
    sheet.append(["Số dư cuối kỳ:", CLOSING])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _ustrd(memo: str) -> str:
    """Remittance text cut into 35-character lines, as banks send it."""
    escaped = [memo[i : i + 35] for i in range(0, len(memo), 35)]
    return "".join(f"<Ustrd>{part.replace('&', '&amp;').replace('<', '&lt;')}</Ustrd>" for part in escaped)


def camt053() -> bytes:
    """camt.053.001.02 (the version most banks still send): Sts as text, Dbtr/Nm without Pty."""
    entries = []
    for when, amount, memo, reference, name in LINES:
        moment = _when(when)
        party = f"<RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties>" if name and amount > 0 else ""
        entries.append(
            f"""<Ntry><Amt Ccy="VND">{abs(amount)}</Amt>
<CdtDbtInd>{"CRDT" if amount > 0 else "DBIT"}</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><DtTm>{moment:%Y-%m-%dT%H:%M:%S}+07:00</DtTm></BookgDt>
<ValDt><Dt>{moment:%Y-%m-%d}</Dt></ValDt><AcctSvcrRef>{reference}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>{party}
<RmtInf>{_ustrd(memo)}</RmtInf></TxDtls></NtryDtls></Ntry>"""
        )
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
<BkToCstmrStmt><GrpHdr><MsgId>VCB20250310</MsgId><CreDtTm>2025-03-10T23:59:59</CreDtTm></GrpHdr>
<Stmt><Id>STMT-20250310</Id><CreDtTm>2025-03-10T23:59:59</CreDtTm>
<Acct><Id><Othr><Id>{ACCOUNT}</Id></Othr></Id><Ccy>VND</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp>
<Amt Ccy="VND">{OPENING}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-03-05</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
<Amt Ccy="VND">{CLOSING}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2025-03-10</Dt></Dt></Bal>
<Ntry><Amt Ccy="VND">999000</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>PDNG</Sts>
<BookgDt><Dt>2025-03-10</Dt></BookgDt><AcctSvcrRef>PENDING-1</AcctSvcrRef></Ntry>
{body}
</Stmt></BkToCstmrStmt></Document>
""".encode()


def mt940() -> bytes:
    """SWIFT MT940: ASCII only, so memos arrive without diacritics; no booking times."""
    from payments.recon.text import fold

    parts = [":20:VCB20250310", f":25:{ACCOUNT}", ":28C:00070/001", f":60F:C250305VND{OPENING},"]
    for when, amount, memo, reference, _ in LINES:
        moment = _when(when)
        mark = "C" if amount > 0 else "D"
        parts.append(f":61:{moment:%y%m%d%m%d}{mark}{abs(amount)},NTRFNONREF//{reference}")
        parts.append(":86:" + fold(memo).replace("đ", "d"))
    parts.append(f":62F:C250310VND{CLOSING},")
    return ("\r\n".join(parts) + "\r\n-\r\n").encode("ascii")
