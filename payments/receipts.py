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
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, select

from choso.db import insert_ignore, utcnow
from choso.errors import NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market.models import Organisation
from market.places import describe
from payments.models import PaymentRequest, Receipt, ReceiptSeries

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
