"""Collection reports of an agency's fees, per day or month, and their exports.

Definitions (local time, Asia/Ho_Chi_Minh):

* issued, by service: the lines of notices created in the period, split by the notice's state
  now — paid, outstanding (open), cancelled, expired;
* collected, by channel: what settled towards fee notices from payments received in the period
  (amount minus any excess), per channel (VietQR, card);
* refunds: the excess of those payments (late, after cancellation, or more than due), still to
  refund or refunded;
* ledger: the credits to the agency's payable and direct ledger accounts posted by those same
  payments. ``ties`` says whether it equals the collected total; a difference means the ledger
  and the payments disagree, which ``choso ledger check`` would then explain.

Operators see every agency's report; an officer only their own agency's (another's is a 404).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any

from sqlmodel import Session, col, func, select

from choso.errors import NotFound
from fees import tabular
from fees.catalogue import NOT_FOUND, get_agency
from fees.models import FeeNotice, FeeNoticeLine
from fees.notices import CAUSE, LOCAL
from market.models import Role, User
from payments import ledger
from payments.models import LedgerAccount, LedgerPosting, LedgerTransaction, Payment, PaymentRequest

STATES = ("paid", "open", "cancelled", "expired")


@dataclass(frozen=True)
class Period:
    kind: str  # day | month
    first: date
    last: date

    @classmethod
    def of(cls, kind: str, on: date) -> Period:
        if kind == "month":
            days = calendar.monthrange(on.year, on.month)[1]
            return cls("month", on.replace(day=1), on.replace(day=days))
        return cls("day", on, on)

    @property
    def label(self) -> str:
        return self.first.strftime("%m/%Y") if self.kind == "month" else self.first.strftime("%d/%m/%Y")

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(0), tzinfo=LOCAL)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=LOCAL)
        return start, end

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


@dataclass
class ServiceRow:
    code: str
    name: str
    lines: int = 0
    quantity: int = 0
    amounts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))

    @property
    def issued_vnd(self) -> int:
        return sum(self.amounts.values())


@dataclass
class Report:
    agency_id: int
    agency_name: str
    period: Period
    services: list[ServiceRow]
    channels: dict[str, int]
    refund_due_vnd: int
    refunded_vnd: int
    ledger_vnd: int
    daily: list[tuple[date, int]]
    notices: list[FeeNotice]

    @property
    def collected_vnd(self) -> int:
        return sum(self.channels.values())

    @property
    def ties(self) -> bool:
        return self.ledger_vnd == self.collected_vnd

    def total(self, state: str) -> int:
        return sum(row.amounts[state] for row in self.services)


def report_agency(user: User, agency_id: int | None) -> int:
    """The agency whose report ``user`` asks for: any for operators, only their own for officers."""
    if user.role == Role.OPERATOR and agency_id is not None:
        return agency_id
    if user.role == Role.AGENCY_OFFICER and user.organisation_id is not None:
        if agency_id not in (None, user.organisation_id):
            raise NotFound(NOT_FOUND)
        return user.organisation_id
    raise NotFound(NOT_FOUND)


def build(session: Session, user: User, *, agency_id: int | None, kind: str, on: date) -> Report:
    agency = get_agency(session, report_agency(user, agency_id))
    period = Period.of(kind, on)
    start, end = period.bounds()
    agency_key = agency.id or 0
    payments = _payments(session, agency_key, start, end)
    channels: dict[str, int] = defaultdict(int)
    daily: dict[date, int] = defaultdict(int)
    refund_due = refunded = 0
    for payment in payments:
        applied = payment.amount_vnd - payment.excess_vnd if payment.status in ("settled", "refunded") else 0
        if payment.status == "settled":
            channels[payment.channel] += applied
            daily[payment.received_at.astimezone(LOCAL).date()] += applied
        if payment.status in ("settled", "refund_due"):
            refund_due += payment.excess_vnd if payment.status == "settled" else payment.amount_vnd
        if payment.status == "refunded":
            refunded += payment.amount_vnd
    notices = list(
        session.exec(
            select(FeeNotice)
            .where(
                FeeNotice.agency_id == agency_key,
                col(FeeNotice.created_at) >= start,
                col(FeeNotice.created_at) < end,
            )
            .order_by(col(FeeNotice.id))
        )
    )
    return Report(
        agency_id=agency_key,
        agency_name=agency.name,
        period=period,
        services=_by_service(session, notices),
        channels={"vietqr": channels.get("vietqr", 0), "card": channels.get("card", 0)},
        refund_due_vnd=refund_due,
        refunded_vnd=refunded,
        ledger_vnd=_ledger_credits(session, agency_key, start, end),
        daily=[(day, daily.get(day, 0)) for day in period.days()],
        notices=notices,
    )


def _fee_payments_query(agency_id: int, start: datetime, end: datetime) -> Any:
    return (
        select(Payment)
        .join(PaymentRequest, col(PaymentRequest.id) == Payment.request_id)
        .where(
            PaymentRequest.cause_type == CAUSE,
            PaymentRequest.payee_organisation_id == agency_id,
            col(Payment.received_at) >= start,
            col(Payment.received_at) < end,
        )
    )


def _payments(session: Session, agency_id: int, start: datetime, end: datetime) -> list[Payment]:
    return list(session.exec(_fee_payments_query(agency_id, start, end).order_by(col(Payment.id))))


def _ledger_credits(session: Session, agency_id: int, start: datetime, end: datetime) -> int:
    """Credits to the agency's payable and direct accounts from the period's fee payments."""
    paid = _fee_payments_query(agency_id, start, end).with_only_columns(col(Payment.ledger_transaction_id))
    total = session.exec(
        select(func.coalesce(func.sum(LedgerPosting.amount_vnd), 0))
        .join(LedgerAccount, col(LedgerAccount.id) == LedgerPosting.account_id)
        .join(LedgerTransaction, col(LedgerTransaction.id) == LedgerPosting.transaction_id)
        .where(
            col(LedgerAccount.code).in_([ledger.payable(agency_id), ledger.direct(agency_id)]),
            col(LedgerTransaction.id).in_(paid),
        )
    ).one()
    return -int(total)


def _by_service(session: Session, notices: list[FeeNotice]) -> list[ServiceRow]:
    state = {notice.id: str(notice.status) for notice in notices}
    rows: dict[str, ServiceRow] = {}
    if not notices:
        return []
    lines = session.exec(
        select(FeeNoticeLine)
        .where(col(FeeNoticeLine.notice_id).in_(list(state)))
        .order_by(col(FeeNoticeLine.id))
    )
    for line in lines:
        row = rows.setdefault(line.service_code, ServiceRow(line.service_code, line.name_vi))
        row.lines += 1
        row.quantity += line.quantity
        row.amounts[state[line.notice_id]] += line.amount_vnd
    return sorted(rows.values(), key=lambda row: row.code)


# --- exports --------------------------------------------------------------------------------

SUMMARY_HEADER = ["Chỉ tiêu", "Số tiền (đồng)"]
SERVICE_HEADER = [
    "Mã",
    "Dịch vụ",
    "Số dòng",
    "Số lượng",
    "Đã nộp",
    "Chưa nộp",
    "Đã hủy",
    "Hết hạn",
    "Tổng phát hành",
]
NOTICE_HEADER = ["Số thông báo", "Mã hồ sơ", "Người nộp", "Số tiền", "Trạng thái", "Ngày lập"]


def _sheets(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    summary = [
        ["Cơ quan", report.agency_name],
        ["Kỳ báo cáo", report.period.label],
        ["Đã thu qua VietQR", report.channels["vietqr"]],
        ["Đã thu qua thẻ", report.channels["card"]],
        ["Tổng đã thu", report.collected_vnd],
        ["Theo sổ cái", report.ledger_vnd],
        ["Chưa nộp", report.total("open")],
        ["Đã hủy", report.total("cancelled")],
        ["Hết hạn", report.total("expired")],
        ["Chờ hoàn trả", report.refund_due_vnd],
        ["Đã hoàn trả", report.refunded_vnd],
    ]
    services = [
        [r.code, r.name, r.lines, r.quantity, *(r.amounts[s] for s in STATES), r.issued_vnd]
        for r in report.services
    ]
    notices = [
        [
            n.number,
            n.dossier_number,
            n.payer_name,
            n.amount_vnd,
            str(n.status),
            n.created_at.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M"),
        ]
        for n in report.notices
    ]
    return [
        ("Tổng hợp", SUMMARY_HEADER, summary),
        ("Theo dịch vụ", SERVICE_HEADER, services),
        ("Thông báo", NOTICE_HEADER, notices),
    ]


def to_xlsx(report: Report) -> bytes:
    return tabular.to_xlsx(_sheets(report))


def to_csv(report: Report) -> bytes:
    """One CSV: the summary, a blank line, the services, a blank line, the notices."""
    rows: list[list[Any]] = []
    for index, (_title, header, body) in enumerate(_sheets(report)):
        if index:
            rows.append([])
        rows.append(header)
        rows.extend(body)
    return tabular.to_csv(rows[0], rows[1:])


# --- the chart ------------------------------------------------------------------------------


def bar_chart_svg(points: list[tuple[str, int]], *, title: str, width: int = 640, height: int = 220) -> str:
    """A bar chart as SVG markup (no script, no style attribute: it passes the site's CSP)."""
    top, bottom, left = 24, 28, 8
    peak = max((value for _label, value in points), default=0) or 1
    slot = (width - 2 * left) / max(len(points), 1)
    bars = []
    for index, (label, value) in enumerate(points):
        bar = int((height - top - bottom) * value / peak)
        x = left + index * slot
        bars.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{height - bottom - bar}" width="{slot * 0.7:.1f}" '
            f'height="{bar}" fill="#2e7d32"><title>{escape(label)}: {_dots(value)} ₫</title></rect>'
        )
        if len(points) <= 12 or index % 5 == 0:
            bars.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 10}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" stroke="#888"/>'
        f'<text x="{left}" y="14" font-size="11">{escape(title)} — max {_dots(peak)} ₫</text>'
        + "".join(bars)
        + "</svg>"
    )


def _dots(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def chart(report: Report) -> str:
    if report.period.kind == "month":
        points = [(f"{day.day:02d}", value) for day, value in report.daily]
    else:
        points = [(label, report.channels[key]) for key, label in (("vietqr", "VietQR"), ("card", "Thẻ"))]
    return bar_chart_svg(points, title=f"Đã thu — {report.period.label}")
