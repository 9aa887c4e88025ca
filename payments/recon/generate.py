"""Realistic messy bank statements with known truth, for tests and the benchmark.

``generate(lines, seed)`` returns the expected payments, the statement lines and the truth for
every line: the category a careful clerk would give it, the reference the payer meant, and
whether the memo carries a recoverable code (exactly one, complete, possibly split by spaces,
dashes, dots or line breaks, lower-cased or written with Crockford look-alikes). Memos mix
Vietnamese with and without diacritics, bank prefixes (``MBVCB.…``, ``IBFT``), split payments,
under- and overpayments, typo'd and truncated codes, two codes in one memo, codes of other
accounts, payments without a code, money out and repeated transactions.

The same seed gives the same files. Writers for the generic CSV and CAMT.053 forms are here too.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from xml.sax.saxutils import escape

from payments.recon.model import Category, ExpectedPayment, StatementLine
from payments.recon.text import fold
from payments.reference import ALPHABET, PREFIX, RANDOM_LENGTH, check_symbol

OUR_ACCOUNT = "0011004455667"
OUR_NAME = "HTX NONG SAN THANH HOA"
START = date(2025, 3, 1)

# fmt: off
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
          "Ngô", "Dương", "Lý", "Trịnh", "Đinh", "Lương", "Mai"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Xuân", "Thu", "Hoài", "Gia", "Bảo",
          "Kim", "Công", "Đình", "Thùy", "Mạnh"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng", "Hương", "Huy",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Ngọc", "Nhung", "Phong", "Phúc", "Phương",
         "Quang", "Quân", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Tú", "Vân",
         "Việt", "Yến", "Đạt", "Đức", "Thành", "Tùng", "Hằng", "Châu", "Diệp", "Khoa", "Lộc", "Nhân",
         "Oanh", "Quyên", "Sang", "Thư", "Uyên", "Vy", "Xuân", "Hậu", "Kiên", "Loan", "Toàn"]
PURPOSES = ["học phí tháng {m}", "thanh toán đơn hàng", "tiền hàng nem chua", "phí vệ sinh môi trường",
            "lệ phí cấp giấy", "mua gạo ST25", "đặt cọc", "tiền chè lam", "phí dịch vụ tháng {m}", ""]
FEES = [20_000, 30_000, 50_000, 100_000, 150_000, 200_000, 300_000, 500_000]
# fmt: on
BANKS = ["VCB", "BIDV", "VietinBank", "Agribank", "MB", "Techcombank", "ACB", "TPBank", "VPBank"]


@dataclass(slots=True, frozen=True)
class Truth:
    line: int
    category: Category
    reference: str | None  # what the payer meant (None: nothing to pay)
    recoverable: bool  # exactly one complete code a reader can recover from the memo


@dataclass(slots=True)
class Generated:
    expected: list[ExpectedPayment]
    lines: list[StatementLine]
    truth: list[Truth]
    missing: list[str]


class _Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.used_codes: set[str] = set()
        self.bank_serial = self.rng.randrange(10_000, 90_000)

    def code(self) -> str:
        while True:
            payload = PREFIX + "".join(self.rng.choices(ALPHABET, k=RANDOM_LENGTH))
            code = payload + check_symbol(payload)
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def name(self) -> str:
        rng = self.rng
        return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"

    def amount(self) -> int:
        if self.rng.random() < 0.3:
            return self.rng.choice(FEES)
        return self.rng.randrange(10, 5_000) * 1_000

    def bank_reference(self) -> str:
        self.bank_serial += 1
        return f"{self.rng.randrange(1000, 9999)}.{self.bank_serial}"

    def account(self) -> str:
        return "".join(self.rng.choices("0123456789", k=self.rng.choice((10, 13, 14))))

    def messy_code(self, code: str) -> str:
        """The code as a payer's bank may deliver it."""
        rng = self.rng
        style = rng.random()
        if style < 0.45:
            text = code
        elif style < 0.6:
            text = code.lower()
        elif style < 0.7:
            text = f"{code[:2]} {code[2:6]} {code[6:10]} {code[10]}"
        elif style < 0.78:
            text = f"{code[:2]}-{code[2:6]}-{code[6:]}"
        elif style < 0.84:
            text = f"{code[:6]}.{code[6:]}"
        elif style < 0.9:
            cut = rng.randrange(1, len(code))
            text = f"{code[:cut]}\n{code[cut:]}"
        else:  # Crockford look-alikes typed by hand
            text = code[:2] + code[2:].replace("0", "O").replace("1", rng.choice("IL"))
            text = text.lower() if rng.random() < 0.5 else text
        return text

    def person_text(self, name: str) -> str:
        rng = self.rng
        return fold(name).upper() if rng.random() < 0.6 else name if rng.random() < 0.5 else fold(name)

    def purpose(self) -> str:
        text = self.rng.choice(PURPOSES).format(m=self.rng.randrange(1, 13))
        return text if self.rng.random() < 0.5 else fold(text)

    def memo(self, coded: str, payer: str) -> str:
        """A memo around ``coded`` (a code already made messy, or any text)."""
        rng = self.rng
        who = self.person_text(payer)
        template = rng.randrange(7)
        if template == 0:
            memo = coded
        elif template == 1:
            memo = f"MBVCB.{rng.randrange(10**9, 10**10)}.{rng.randrange(10**5, 10**6)}.{coded} {who} "
            memo += f"chuyen tien.CT tu {self.account()} {fold(payer).upper()} toi {OUR_ACCOUNT} {OUR_NAME}"
        elif template == 2:
            memo = f"IBFT {coded} {who} {self.purpose()}"
        elif template == 3:
            memo = f"{who} chuyển khoản {coded} {self.purpose()}"
        elif template == 4:
            memo = f"ND: {coded} - {who}"
        elif template == 5:
            memo = f"{coded} {self.purpose()} FT{rng.randrange(10**13, 10**14)}"
        else:
            memo = f"QR - {coded} {who} CK"
        if rng.random() < 0.15:  # banks wrap long memos mid-word
            cut = rng.randrange(1, len(memo))
            memo = memo[:cut] + "\n" + memo[cut:]
        return memo


def _typo(rng: random.Random, code: str) -> str:
    """One substituted symbol or a neighbour swap that the check symbol is sure to catch."""
    position = rng.randrange(len(PREFIX), len(code))
    if rng.random() < 0.5 or position == len(code) - 1:
        symbol = rng.choice([s for s in ALPHABET if s != code[position]])
        return code[:position] + symbol + code[position + 1 :]
    left, right = code[position], code[position + 1]
    if left == right or {left, right} == {"0", "Z"}:
        return code[:position] + ("A" if left != "A" else "B") + code[position + 1 :]
    return code[:position] + right + left + code[position + 2 :]


def generate(lines: int, seed: int, *, expected_count: int | None = None) -> Generated:
    """A statement of ``lines`` lines against ``expected_count`` expected payments (default: lines)."""
    gen = _Generator(seed)
    rng = gen.rng
    expected_count = expected_count or lines
    payers = [gen.name() for _ in range(expected_count)]
    expected = []
    for payer in payers:
        due = START + timedelta(days=rng.randrange(0, 45))
        expected.append(ExpectedPayment(gen.code(), gen.amount(), payer if rng.random() < 0.9 else "", due))
    plan = _plan(gen, expected, lines)
    return _finish(gen, expected, plan)


@dataclass(slots=True)
class _Planned:
    kind: str
    amount: int
    memo: str
    reference: str | None
    counterparty: str = ""
    bank_reference: str | None = ""
    recoverable: bool = False
    repeat_of: int | None = None


def _plan(gen: _Generator, expected: list[ExpectedPayment], count: int) -> list[_Planned]:
    """Decide what each line is; every expected payment is used by at most one kind of line."""
    rng = gen.rng
    pending = list(range(len(expected)))
    rng.shuffle(pending)
    plan: list[_Planned] = []
    while len(plan) < count:
        roll = rng.random()
        if roll < 0.04 and plan:
            plan.append(
                _Planned("repeat", 0, "", None, repeat_of=rng.randrange(max(0, len(plan) - 50), len(plan)))
            )
            continue
        if roll < 0.10:
            plan.append(_outgoing(gen))
            continue
        if roll < 0.12:
            plan.append(_other_credit(gen))
            continue
        if not pending:
            plan.append(_other_credit(gen))
            continue
        payment = expected[pending.pop()]
        if roll < 0.14 and pending:
            plan.append(_two_codes(gen, payment, expected[pending.pop()]))
        else:
            plan.extend(_paying_lines(gen, payment, roll))
    return plan[:count]


def _paying_lines(gen: _Generator, payment: ExpectedPayment, roll: float) -> list[_Planned]:
    rng = gen.rng
    payer = payment.payer_name or gen.name()
    counterparty = fold(payer).upper() if rng.random() < 0.7 else ""
    code = payment.reference

    def line(amount: int, text: str, recoverable: bool, kind: str = "code") -> _Planned:
        return _Planned(kind, amount, text, code, counterparty, gen.bank_reference(), recoverable)

    if roll < 0.17:  # typo'd code: must never match
        return [line(payment.amount_vnd, gen.memo(_typo(rng, code), payer), False, "typo")]
    if roll < 0.19:  # memo cut by the bank's length limit in the middle of the code
        text = f"{gen.person_text(payer)} {gen.purpose()} {code[: rng.randrange(6, len(code))]}"
        return [line(payment.amount_vnd, text, False, "truncated")]
    if roll < 0.22:  # no code at all: name and amount only
        text = f"{gen.person_text(payer)} {gen.purpose()}".strip()
        return [line(payment.amount_vnd, text, False, "name_only")]
    if roll < 0.24:  # a code from another account's request
        other = gen.code()
        return [_Planned("unknown", payment.amount_vnd, gen.memo(gen.messy_code(other), payer), code,
                         counterparty, gen.bank_reference())]  # fmt: skip
    if roll < 0.28 and payment.amount_vnd >= 20_000:  # split payment
        first = rng.randrange(1, payment.amount_vnd // 1000) * 1000
        parts = [first, payment.amount_vnd - first]
        return [line(part, gen.memo(gen.messy_code(code), payer), True) for part in parts]
    amount = payment.amount_vnd
    if roll < 0.31:
        amount = max(1000, amount - rng.randrange(1, 10) * 1000)  # underpaid
    elif roll < 0.34:
        amount += rng.randrange(1, 10) * 1000  # overpaid
    return [line(amount, gen.memo(gen.messy_code(code), payer), True)]


def _two_codes(gen: _Generator, first: ExpectedPayment, second: ExpectedPayment) -> _Planned:
    joined = (
        first.reference + second.reference
        if gen.rng.random() < 0.5
        else f"{first.reference} {second.reference}"
    )
    payer = first.payer_name or gen.name()
    memo = gen.memo(joined, payer)
    return _Planned("two_codes", first.amount_vnd + second.amount_vnd, memo, None, "", gen.bank_reference())


def _outgoing(gen: _Generator) -> _Planned:
    rng = gen.rng
    memo = rng.choice(["Phí quản lý tài khoản", "Phi SMS Banking", "Chuyen tien cho nha cung cap",
                       "Hoàn tiền đơn hàng", "Rut tien mat ATM", "Thanh toan tien dien"])  # fmt: skip
    return _Planned("outgoing", -rng.randrange(1, 2_000) * 1_000, memo, None, "", gen.bank_reference())


def _other_credit(gen: _Generator) -> _Planned:
    rng = gen.rng
    memo = rng.choice(["Lãi tiền gửi", "Tra lai tien gui thang", "Hoan tien giao dich loi", "Nop tien mat",
                       f"{fold(gen.name()).upper()} chuyen tien"])  # fmt: skip
    return _Planned("other", rng.randrange(1, 500) * 100, memo, None, "", gen.bank_reference())


def _finish(gen: _Generator, expected: list[ExpectedPayment], plan: list[_Planned]) -> Generated:
    """Turn the plan into statement lines in date order and work out the truth."""
    rng = gen.rng
    by_reference = {payment.reference: payment for payment in expected}
    days = max(1, min(60, len(plan) // 20_000 + 28))
    stamps = sorted(rng.randrange(days * 86_400) for _ in plan)
    lines: list[StatementLine] = []
    for position, (item, stamp) in enumerate(zip(plan, stamps, strict=True), start=1):
        if item.kind == "repeat":
            original = lines[item.repeat_of]  # type: ignore[index]
            lines.append(_repeat(original, position, rng))
            continue
        when = datetime.combine(START, datetime.min.time()) + timedelta(seconds=stamp)
        bank_reference = item.bank_reference if rng.random() < 0.97 else None
        lines.append(
            StatementLine(position, when.date(), item.amount, item.memo, bank_reference, item.counterparty,
                          gen.account() if item.counterparty else "", OUR_ACCOUNT, when.strftime("%H:%M:%S"))
        )  # fmt: skip
    truth = _truth(plan, lines, by_reference)
    paid = {row.reference for row in truth if row.category in _RULE_ONE and row.reference}
    missing = [payment.reference for payment in expected if payment.reference not in paid]
    return Generated(expected, lines, truth, missing)


def _repeat(original: StatementLine, position: int, rng: random.Random) -> StatementLine:
    """The same bank transaction again (overlapping exports), sometimes with its memo re-wrapped."""
    memo = original.memo
    if original.bank_reference and rng.random() < 0.5:
        memo = memo.replace("\n", " ")
    return StatementLine(position, original.booked_on, original.amount_vnd, memo, original.bank_reference,
                         original.counterparty_name, original.counterparty_account, original.account,
                         original.booked_time)  # fmt: skip


_RULE_ONE = {Category.MATCHED, Category.UNDERPAID, Category.OVERPAID}


def _truth(plan: list[_Planned], lines: list[StatementLine], book: dict[str, ExpectedPayment]) -> list[Truth]:
    seen: set[str] = set()
    rows: list[tuple[int, str, str | None, bool, bool]] = []  # index, kind, reference, recoverable, dup
    for index, (item, line) in enumerate(zip(plan, lines, strict=True)):
        key = line.dedup_key()
        duplicate = key in seen
        seen.add(key)
        source = plan[item.repeat_of] if item.kind == "repeat" else item  # type: ignore[index]
        rows.append((index, source.kind, source.reference, source.recoverable, duplicate))
    received: dict[str, int] = {}
    for index, _kind, reference, recoverable, duplicate in rows:
        if recoverable and not duplicate and reference:
            received[reference] = received.get(reference, 0) + lines[index].amount_vnd
    name_only = _suggestible(rows, lines, book, received)
    truth = []
    for index, kind, reference, recoverable, duplicate in rows:
        position = lines[index].position
        if duplicate:
            truth.append(Truth(position, Category.DUPLICATE, reference, False))
        elif kind == "outgoing":
            truth.append(Truth(position, Category.OUTGOING, None, False))
        elif recoverable and reference:
            due, got = book[reference].amount_vnd, received[reference]
            category = (
                Category.MATCHED if got == due else Category.UNDERPAID if got < due else Category.OVERPAID
            )
            truth.append(Truth(position, category, reference, True))
        elif index in name_only:
            truth.append(Truth(position, Category.SUGGESTED, reference, False))
        else:
            truth.append(Truth(position, Category.UNMATCHED, reference, False))
    return truth


def _suggestible(
    rows: list, lines: list[StatementLine], book: dict[str, ExpectedPayment], received: dict
) -> set[int]:
    """Lines a clerk could pin on one payment by exact amount and the payer's full name alone."""
    same: dict[tuple[int, str], int] = {}
    for payment in book.values():
        if payment.payer_name and payment.reference not in received:
            key = (payment.amount_vnd, fold(payment.payer_name).upper())
            same[key] = same.get(key, 0) + 1
    chosen: dict[str, list[int]] = {}
    for index, kind, reference, _recoverable, duplicate in rows:
        if duplicate or kind not in ("name_only", "typo", "truncated", "unknown") or not reference:
            continue
        payment = book[reference]
        line = lines[index]
        memo = fold(line.memo).upper()  # a wrapped name is still readable: with or without the break
        visible = (
            f"{' '.join(memo.split())} {' '.join(memo.replace(chr(10), '').split())} {line.counterparty_name}"
        )
        name = fold(payment.payer_name).upper()
        if (payment.payer_name and line.amount_vnd == payment.amount_vnd and name in visible
                and same.get((payment.amount_vnd, name)) == 1):  # fmt: skip
            chosen.setdefault(reference, []).append(index)
    return {index for indexes in chosen.values() if len(indexes) == 1 for index in indexes}


# --- writers -------------------------------------------------------------------------------------


def _vn_amount(amount: int) -> str:
    """``-1250000`` → ``-1.250.000`` (Vietnamese thousands separators)."""
    return f"{amount:,}".replace(",", ".")


CSV_HEADER = ["date", "time", "amount", "description", "bank_reference", "counterparty_name",
              "counterparty_account", "account"]  # fmt: skip


def write_csv(lines: list[StatementLine]) -> bytes:
    """The generic CSV layout (UTF-8 with BOM, as Excel writes it; Vietnamese amounts and dates)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in lines:
        day = line.booked_on.strftime("%d/%m/%Y")
        writer.writerow(
            [day, line.booked_time or "", _vn_amount(line.amount_vnd), line.memo, line.bank_reference or "",
             line.counterparty_name, line.counterparty_account, line.account]
        )  # fmt: skip
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def write_expected(expected: list[ExpectedPayment]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["reference", "amount_vnd", "payer_name", "due_date"])
    for payment in expected:
        due = payment.due_date.isoformat() if payment.due_date else ""
        writer.writerow([payment.reference, payment.amount_vnd, payment.payer_name, due])
    return buffer.getvalue().encode("utf-8")


def write_camt053(lines: list[StatementLine], *, account: str = OUR_ACCOUNT, opening_vnd: int = 0) -> bytes:
    """An ISO 20022 camt.053.001.08 statement of the lines (one Ntry each)."""
    closing = opening_vnd + sum(line.amount_vnd for line in lines)
    first = lines[0].booked_on if lines else START
    last = lines[-1].booked_on if lines else START
    parts = [_camt_head(account, opening_vnd, closing, first, last)]
    parts.extend(_camt_entry(line) for line in lines)
    parts.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(parts).encode("utf-8")


def _camt_balance(code: str, amount: int, day: date) -> str:
    sign = "CRDT" if amount >= 0 else "DBIT"
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"VND\">{abs(amount)}</Amt>"
            f"<CdtDbtInd>{sign}</CdtDbtInd><Dt><Dt>{day.isoformat()}</Dt></Dt></Bal>")  # fmt: skip


def _camt_head(account: str, opening: int, closing: int, first: date, last: date) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        f"<BkToCstmrStmt><GrpHdr><MsgId>CHOSO-{account}-{last:%Y%m%d}</MsgId>"
        f"<CreDtTm>{last.isoformat()}T23:59:59+07:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{account}-{last:%Y%m%d}</Id><CreDtTm>{last.isoformat()}T23:59:59+07:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{first.isoformat()}T00:00:00+07:00</FrDtTm>"
        f"<ToDtTm>{last.isoformat()}T23:59:59+07:00</ToDtTm></FrToDt>"
        f"<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>VND</Ccy>"
        f"<Svcr><FinInstnId><BICFI>BFTVVNVX</BICFI></FinInstnId></Svcr></Acct>"
        + _camt_balance("OPBD", opening, first)
        + _camt_balance("CLBD", closing, last)
    )


def _camt_entry(line: StatementLine) -> str:
    credit = line.amount_vnd >= 0
    when = f"{line.booked_on.isoformat()}T{line.booked_time or '00:00:00'}+07:00"
    reference = f"<AcctSvcrRef>{escape(line.bank_reference)}</AcctSvcrRef>" if line.bank_reference else ""
    party = ""
    if line.counterparty_name:
        role = "Dbtr" if credit else "Cdtr"
        name = escape(line.counterparty_name)
        account = f"<Id><Othr><Id>{line.counterparty_account}</Id></Othr></Id>"
        party = f"<{role}><Pty><Nm>{name}</Nm></Pty></{role}><{role}Acct>{account}</{role}Acct>"
        party = f"<RltdPties>{party}</RltdPties>"
    # Banks cut remittance text into 35-character lines; the reader joins them again.
    memo = line.memo
    ustrd = "".join(f"<Ustrd>{escape(memo[i : i + 35])}</Ustrd>" for i in range(0, max(len(memo), 1), 35))
    amount = f'<Amt Ccy="VND">{abs(line.amount_vnd)}</Amt>'
    return (
        f"<Ntry>{amount}<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
        f"<BookgDt><DtTm>{when}</DtTm></BookgDt><ValDt><Dt>{line.booked_on.isoformat()}</Dt></ValDt>"
        f"{reference}<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{'RCDT' if credit else 'ICDT'}</Cd>"
        f"<SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls><Refs>"
        f"<EndToEndId>NOTPROVIDED</EndToEndId></Refs>{amount}"
        f"{party}<RmtInf>{ustrd}</RmtInf></TxDtls></NtryDtls></Ntry>"
    )


def write_truth(generated: Generated) -> bytes:
    """JSON Lines in the output's shape, plus ``recoverable``; then the missing references."""
    rows = []
    for row in generated.truth:
        fields = {"line": row.line, "category": row.category.value, "reference": row.reference}
        rows.append(json.dumps(fields | {"recoverable": row.recoverable}))
    rows.extend(json.dumps({"reference": code, "category": "missing"}) for code in generated.missing)
    return ("\n".join(rows) + "\n").encode("utf-8")
