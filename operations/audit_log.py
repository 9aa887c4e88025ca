"""Searching and exporting the audit log (for operators; the log itself is choso.audit).

Search filters combine (AND): the actor (a user id, or an email), the action (exact, or a
prefix ending in ``.`` such as ``pilot.``), the object (type, and id), and a range of local
days. Results are newest first, with the actor's email and name as they are now.

An export is itself an action on personal data (addresses, names): it is recorded in the log,
in the transaction that reads the rows. The CSV neutralises formula injection: a text cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from choso import audit
from choso.audit import AuditEntry
from choso.i18n import LOCALE_TIMEZONE
from market import stats as market_stats
from operations.periods import check_days

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_EXPORT_ROWS = 100_000


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None  # a user id or an email
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    first: date | None = None
    last: date | None = None

    def described(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items() if v}


def _conditions(session: Session, f: AuditFilter) -> list[Any]:
    conditions: list[Any] = []
    if f.actor:
        text = f.actor.strip()
        # An id is ASCII digits that fit a 64-bit column ("²".isdigit() is true, and int() refuses it).
        is_id = text.isascii() and text.isdigit() and len(text) <= 18
        ids = [int(text)] if is_id else market_stats.users_by_email(session, text)
        conditions.append(col(AuditEntry.actor_id).in_(ids or [-1]))
    if f.action:
        if f.action.endswith("."):
            conditions.append(col(AuditEntry.action).startswith(f.action, autoescape=True))
        else:
            conditions.append(AuditEntry.action == f.action)
    if f.object_type:
        conditions.append(AuditEntry.object_type == f.object_type)
    if f.object_id:
        conditions.append(AuditEntry.object_id == f.object_id)
    check_days(f.first, f.last)
    if f.first:
        conditions.append(col(AuditEntry.at) >= datetime.combine(f.first, time(0), tzinfo=LOCALE_TIMEZONE))
    if f.last:
        end = datetime.combine(f.last + timedelta(days=1), time(0), tzinfo=LOCALE_TIMEZONE)
        conditions.append(col(AuditEntry.at) < end)
    return conditions


def search(
    session: Session, f: AuditFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    conditions = _conditions(session, f)
    total = session.exec(select(func.count()).select_from(AuditEntry).where(*conditions)).one()
    entries = list(
        session.exec(
            select(AuditEntry)
            .where(*conditions)
            .order_by(col(AuditEntry.id).desc())
            .limit(limit)
            .offset(offset)
        )
    )
    return _rows(session, entries), int(total)


def _rows(session: Session, entries: list[AuditEntry]) -> list[dict[str, Any]]:
    names = market_stats.user_names(session, sorted({e.actor_id for e in entries if e.actor_id is not None}))
    return [
        {
            "id": e.id,
            "at": e.at,
            "actor_id": e.actor_id,
            "actor_email": names.get(e.actor_id, ("", ""))[0] if e.actor_id is not None else "",
            "actor_name": names.get(e.actor_id, ("", ""))[1] if e.actor_id is not None else "",
            "actor_role": e.actor_role,
            "organisation_id": e.organisation_id,
            "action": e.action,
            "object_type": e.object_type,
            "object_id": e.object_id,
            "before": e.before,
            "after": e.after,
            "ip_address": e.ip_address,
        }
        for e in entries
    ]


CSV_HEADER = (
    "id",
    "at",
    "actor_id",
    "actor_email",
    "actor_name",
    "actor_role",
    "organisation_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "ip_address",
)


def neutralise(cell: object) -> object:
    """A cell no spreadsheet evaluates: text that looks like a formula behind an apostrophe (pure)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def _cell(key: str, value: Any) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(LOCALE_TIMEZONE).isoformat()
    if key in ("before", "after"):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return value


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8 with a BOM (spreadsheets read it as such), every text cell neutralised (pure)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        writer.writerow([neutralise(_cell(key, row[key])) for key in CSV_HEADER])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export(session: Session, actor: audit.Actor, f: AuditFilter) -> tuple[bytes, int]:
    """The matching records as CSV, and how many; the export is recorded. Commits."""
    rows, total = search(session, f, limit=MAX_EXPORT_ROWS)
    audit.record(
        session,
        actor,
        action="audit_log.export",
        object_type="audit_log",
        object_id="search",
        after={"filter": f.described(), "rows": len(rows), "matched": total},
    )
    session.commit()
    return to_csv(rows), len(rows)
