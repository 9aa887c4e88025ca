"""Figures of fee collection for dashboards, open data and pilot reports, as plain rows.

Definitions (windows are ``[start, end)`` in UTC):

* collected, per agency and service: the lines of notices *paid* in the window (``paid_at``),
  with their amounts as issued (a notice is paid in full; an excess is a refund due, counted
  by payments.stats);
* outstanding: notices still open now, per agency;
* payers (open data): a payer is told apart by tax code, else citizen ID number, else the
  folded name — only ever counted, never shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from fees.models import FeeNotice, FeeNoticeLine
from market.models import Organisation


def _window(column: Any, start: datetime, end: datetime) -> list[Any]:
    return [col(column) >= start, col(column) < end]


def collected_by_service(
    session: Session, start: datetime, end: datetime, *, agency_id: int | None = None
) -> list[dict[str, Any]]:
    conditions = [FeeNotice.status == "paid", *_window(FeeNotice.paid_at, start, end)]
    if agency_id is not None:
        conditions.append(FeeNotice.agency_id == agency_id)
    rows = session.exec(
        select(
            FeeNotice.agency_id,
            Organisation.name,
            FeeNoticeLine.service_code,
            func.max(FeeNoticeLine.name_vi),
            func.count(func.distinct(FeeNotice.id)),
            func.coalesce(func.sum(FeeNoticeLine.amount_vnd), 0),
        )
        .join(FeeNoticeLine, col(FeeNoticeLine.notice_id) == FeeNotice.id)
        .join(Organisation, col(Organisation.id) == FeeNotice.agency_id)
        .where(*conditions)
        .group_by(col(FeeNotice.agency_id), col(Organisation.name), col(FeeNoticeLine.service_code))
        .order_by(col(Organisation.name), col(FeeNoticeLine.service_code))
    ).all()
    return [
        {
            "agency_id": agency,
            "agency": agency_name,
            "service_code": code,
            "service": name,
            "notices": int(notices),
            "amount_vnd": int(amount),
        }
        for agency, agency_name, code, name, notices, amount in rows
    ]


def paid_notices(
    session: Session, start: datetime, end: datetime, *, agency_id: int | None = None
) -> list[tuple[datetime, int]]:
    """(paid_at, amount) of notices paid in the window: the daily series."""
    conditions = [FeeNotice.status == "paid", *_window(FeeNotice.paid_at, start, end)]
    if agency_id is not None:
        conditions.append(FeeNotice.agency_id == agency_id)
    rows = session.exec(select(FeeNotice.paid_at, FeeNotice.amount_vnd).where(*conditions)).all()
    return [(at, int(amount)) for at, amount in rows if at is not None]


def notices_by_state(
    session: Session, start: datetime, end: datetime, *, agency_id: int | None = None
) -> list[dict[str, Any]]:
    """Notices issued in the window, by state now."""
    conditions = _window(FeeNotice.created_at, start, end)
    if agency_id is not None:
        conditions.append(FeeNotice.agency_id == agency_id)
    rows = session.exec(
        select(FeeNotice.status, func.count(), func.coalesce(func.sum(FeeNotice.amount_vnd), 0))
        .where(*conditions)
        .group_by(col(FeeNotice.status))
        .order_by(col(FeeNotice.status))
    ).all()
    return [{"status": str(s), "notices": int(n), "amount_vnd": int(a)} for s, n, a in rows]


def collection_lines(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Lines of notices paid in the window with a payer key, for the open-data dataset."""
    rows = session.exec(
        select(
            FeeNotice.paid_at,
            FeeNotice.agency_id,
            Organisation.name,
            FeeNoticeLine.service_code,
            FeeNoticeLine.name_vi,
            FeeNoticeLine.name_en,
            FeeNotice.payer_tax_code,
            FeeNotice.payer_id_number,
            FeeNotice.payer_name,
            FeeNoticeLine.amount_vnd,
        )
        .join(FeeNoticeLine, col(FeeNoticeLine.notice_id) == FeeNotice.id)
        .join(Organisation, col(Organisation.id) == FeeNotice.agency_id)
        .where(FeeNotice.status == "paid", *_window(FeeNotice.paid_at, start, end))
    ).all()
    return [
        {
            "at": paid_at,
            "agency_id": agency_id,
            "agency": agency,
            "service_code": code,
            "service_vi": name_vi,
            "service_en": name_en or name_vi,
            "payer": tax_code or id_number or " ".join(payer_name.casefold().split()),
            "amount_vnd": int(amount),
        }
        for (
            paid_at,
            agency_id,
            agency,
            code,
            name_vi,
            name_en,
            tax_code,
            id_number,
            payer_name,
            amount,
        ) in rows
    ]


def fee_usage(
    session: Session, start: datetime, end: datetime
) -> list[tuple[int | None, int | None, int, int]]:
    """Notices issued in the window per agency and its ward (pilot reports)."""
    rows = session.exec(
        select(FeeNotice.agency_id, Organisation.ward_code, func.count(), func.sum(FeeNotice.amount_vnd))
        .join(Organisation, col(Organisation.id) == FeeNotice.agency_id)
        .where(*_window(FeeNotice.created_at, start, end))
        .group_by(col(FeeNotice.agency_id), col(Organisation.ward_code))
    ).all()
    return [(agency, ward, int(n), int(amount or 0)) for agency, ward, n, amount in rows]
