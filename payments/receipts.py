"""Receipts: numbered from a gapless series per payee organisation, kind and year; signed.

The number is taken by a single conditional UPDATE of the series row inside the settling
transaction, so concurrent settlements queue on that row and a rollback gives the number
back: no gaps, no duplicates. What is printed is frozen on the receipt at issue; the
signature (HMAC under the site key) lets anyone verify a receipt by its code, without login.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from choso.db import insert_ignore, utcnow
from choso.errors import Conflict, NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market.models import Organisation
from market.places import describe
from payments.models import PaymentRequest, Receipt, ReceiptCancellation, ReceiptSeries

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TITLES = {"receipt": "BIÊN LAI THU TIỀN", "credit_note": "PHIẾU HOÀN TIỀN"}


def next_number(session: Session, *, organisation_id: int, kind: str, year: int) -> int:
    insert_ignore(
        session,
        ReceiptSeries,
        {"organisation_id": organisation_id, "kind": kind, "year": year, "last_number": 0},
        conflict_columns=["organisation_id", "kind", "year"],
    )
    table = ReceiptSeries.__table__  # type: ignore[attr-defined]
    return int(
        session.connection()
        .execute(
            table.update()
            .where(table.c.organisation_id == organisation_id, table.c.kind == kind, table.c.year == year)
            .values(last_number=table.c.last_number + 1)
            .returning(table.c.last_number)
        )
        .scalar_one()
    )


def _amount_in_words(amount_vnd: int) -> str:
    from payments.receipt_render import amount_in_words

    return amount_in_words(amount_vnd)


def sign(content: dict[str, Any], verification_code: str) -> str:
    canonical = json.dumps(
        [verification_code, content], sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    key = get_settings().effective_secret_key.encode()
    return hmac.new(key, b"receipt:" + canonical.encode(), hashlib.sha256).hexdigest()


def issue(
    session: Session,
    request: PaymentRequest,
    *,
    channel: str,
    kind: str = "receipt",
    amount_vnd: int | None = None,
    items: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
) -> Receipt:
    """Issue the receipt (or credit note) for ``request`` in the caller's transaction."""
    now = now or utcnow()
    local = now.astimezone(LOCAL)
    payee = session.get_one(Organisation, request.payee_organisation_id)  # a foreign key guarantees it
    amount = amount_vnd if amount_vnd is not None else request.amount_vnd
    number = next_number(session, organisation_id=payee.id or 0, kind=kind, year=local.year)
    code = secrets.token_hex(12)
    content = {
        "title": TITLES[kind],
        "kind": kind,
        "series": f"CS/{local.year}",
        "number": number,
        "number_text": f"{number:07d}",
        "issued_at_local": local.strftime("%d/%m/%Y %H:%M"),
        "payee": {
            "name": payee.name,
            "tax_code": payee.tax_code or "",
            "address": ", ".join(
                part for part in (payee.street, describe(payee.province_code, payee.ward_code)) if part
            ),
        },
        "payer": {"name": request.payer_name},
        "items": items
        or [
            {
                "description": request.description,
                "quantity": 1,
                "unit_price_vnd": amount,
                "amount_vnd": amount,
            }
        ],
        "amount_vnd": amount,
        "amount_in_words": _amount_in_words(amount),
        "channel": channel,
        "reference_code": request.reference_code,
        "verification_url": f"{get_settings().public_url.rstrip('/')}/receipts/verify/{code}",
    }
    content = amended_by_cause(session, request, content)
    receipt = Receipt(
        organisation_id=payee.id or 0,
        kind=kind,
        year=local.year,
        number=number,
        request_id=request.id or 0,
        verification_code=code,
        payer_name=request.payer_name,
        amount_vnd=amount,
        content=content,
        signature=sign(content, code),
        issued_at=now,
    )
    session.add(receipt)
    session.flush()
    return receipt


def verify(session: Session, code: str) -> Receipt:
    """The receipt with this verification code, if its signature holds; else NotFound."""
    receipt = session.exec(select(Receipt).where(Receipt.verification_code == code[:32])).first()
    if receipt is None or not hmac.compare_digest(receipt.signature, sign(receipt.content, code[:32])):
        raise NotFound(N_("No authentic receipt has this code."))
    return receipt


def for_request(session: Session, request_id: int) -> list[Receipt]:
    return list(
        session.exec(select(Receipt).where(Receipt.request_id == request_id).order_by(sa.asc(Receipt.id)))
    )


# --- what a request's cause adds, and cancelled receipts ---------------------------------------


def amended_by_cause(session: Session, request: PaymentRequest, content: dict[str, Any]) -> dict[str, Any]:
    """The content as the request's cause wants it printed (a fee notice adds the legal fields
    of an e-receipt: form, series label, fee names and legal basis). Causes without an
    ``amend_receipt`` method leave it as it is; the number stays the gapless series' own."""
    from payments import causes

    amend = getattr(causes.handler_for(request.cause_type), "amend_receipt", None)
    return amend(session, request, content) if amend is not None else content


def cancellation_of(session: Session, receipt_id: int) -> ReceiptCancellation | None:
    """How a receipt was cancelled (reason, replacement), or None if it stands."""
    query = select(ReceiptCancellation).where(ReceiptCancellation.receipt_id == receipt_id)
    return session.exec(query).first()


def replaced_by_cancellation(session: Session, replacement_id: int) -> ReceiptCancellation | None:
    """The cancellation that a replacement receipt answers, or None."""
    return session.exec(
        select(ReceiptCancellation).where(ReceiptCancellation.replacement_id == replacement_id)
    ).first()


@dataclass(frozen=True)
class Standing:
    """Whether a receipt still counts: its cancellation and the receipt that replaces it, or
    the cancelled receipt that it replaces (what the public verify page tells)."""

    cancellation: ReceiptCancellation | None
    replaced_by: Receipt | None
    replaces: ReceiptCancellation | None
    replaced: Receipt | None

    @property
    def cancelled(self) -> bool:
        return self.cancellation is not None


def standing(session: Session, receipt: Receipt) -> Standing:
    cancellation = cancellation_of(session, receipt.id or 0)
    replaces = replaced_by_cancellation(session, receipt.id or 0)
    return Standing(
        cancellation=cancellation,
        replaced_by=session.get(Receipt, cancellation.replacement_id) if cancellation else None,
        replaces=replaces,
        replaced=session.get(Receipt, replaces.receipt_id) if replaces else None,
    )


def cancel_and_replace(
    session: Session,
    receipt: Receipt,
    *,
    reason: str,
    corrections: dict[str, Any],
    cancelled_by_id: int | None,
    now: datetime | None = None,
) -> Receipt:
    """Cancel a mistaken receipt and issue its replacement (flush only; the caller commits).

    Neither row is edited: the replacement is a new receipt with the next number of the same
    series, the same request and amount, the content of the first with ``corrections`` merged
    into it (e.g. ``{"payer": {...}}``) and a note of what it replaces; the cancellation row
    links both. A receipt already cancelled cannot be cancelled again (UNIQUE receipt_id)."""
    if cancellation_of(session, receipt.id or 0) is not None:
        raise Conflict(N_("This receipt has already been cancelled."))
    now = now or utcnow()
    local = now.astimezone(LOCAL)
    number = next_number(session, organisation_id=receipt.organisation_id, kind=receipt.kind, year=local.year)
    code = secrets.token_hex(12)
    content = {**receipt.content, **corrections}
    content.update(
        {
            "number": number,
            "number_text": f"{number:07d}",
            "issued_at_local": local.strftime("%d/%m/%Y %H:%M"),
            "replaces": {
                "series": receipt.content.get("series", ""),
                "number_text": receipt.content.get("number_text", ""),
                "reason": reason,
            },
            "verification_url": f"{get_settings().public_url.rstrip('/')}/receipts/verify/{code}",
        }
    )
    replacement = Receipt(
        organisation_id=receipt.organisation_id,
        kind=receipt.kind,
        year=local.year,
        number=number,
        request_id=receipt.request_id,
        verification_code=code,
        payer_name=str(content.get("payer", {}).get("name", receipt.payer_name))[:120],
        amount_vnd=receipt.amount_vnd,
        content=content,
        signature=sign(content, code),
        issued_at=now,
    )
    session.add(replacement)
    session.flush()
    session.add(
        ReceiptCancellation(
            receipt_id=receipt.id or 0,
            replacement_id=replacement.id or 0,
            reason=reason[:300],
            cancelled_by_id=cancelled_by_id,
            cancelled_at=now,
        )
    )
    session.flush()
    return replacement
