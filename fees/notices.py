"""Fee notices: issuing them (form, API, bulk, schedule), the public link, cancellation, and what
payments does when a notice's request is paid, expires or is cancelled.

Rules:

* amounts, names and legal bases are copied from the catalogue onto the notice at issue;
* a notice opens one payment request (cause ``fee_notice``) into the receiving account of its
  services (one account per notice); settlement on a platform account credits the agency's
  payable account, on the agency's own account its direct account (payments decides);
* the public link carries a token of 192 bits, derived as HMAC(site key, a random salt of the
  notice): the database holds only the salt and the token's SHA-256, so a copy of it opens no
  notice, while the site can print the slip again; a wrong token is the ordinary 404;
* a cancelled notice stays visible as cancelled; money arriving after it is kept for refund by
  payments. Cancelling (and expiry) frees the dossier number for a new notice;
* ``issue_key`` makes every way of issuing idempotent: a form's key, a file's hash and row, a
  schedule and its period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, or_, select

from choso import audit
from choso.db import lock_rows, utcnow
from choso.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_
from choso.settings import get_settings
from fees import identity
from fees.catalogue import NOT_FOUND, get_agency, officer_agency, require_pilot, settings_of
from fees.models import FeeNotice, FeeNoticeLine, FeeService, NoticeStatus
from fees.rules import Rule, RuleViolation, amount_for
from fees.schemas import NoticeIn, ReceiptReplaceIn
from market.models import Organisation, Role, User
from payments import causes, ledger, receipts, requests
from payments.errors import IdempotencyKeyReused
from payments.models import BankAccount, Payment, PaymentRequest, Receipt, RequestStatus

CAUSE = "fee_notice"
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32}")
KIND_LABELS_VI = {"phi": "Phí", "le_phi": "Lệ phí"}
RECEIPT_TITLE = "BIÊN LAI THU PHÍ, LỆ PHÍ"
DOSSIER_TAKEN = N_("This dossier number already has a notice that is not cancelled.")


# --- the public token ---------------------------------------------------------------------


def token_of(salt: str) -> str:
    """The link token of a notice: 24 bytes (192 bits) of HMAC-SHA256 under the site key."""
    key = get_settings().effective_secret_key.encode()
    raw = hmac.new(key, b"fee-notice-link:" + salt.encode(), hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(raw).decode()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_url(notice: FeeNotice) -> str:
    return f"{get_settings().public_url.rstrip('/')}/fees/n/{token_of(notice.token_salt)}"


# --- issuing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricedLine:
    service: FeeService
    quantity: int
    amount_vnd: int


def price_line(session: Session, agency_id: int, service_id: int, quantity: int, on: date) -> PricedLine:
    """A line priced by the catalogue as it is today; InvalidInput if the service may not be used."""
    service = session.get(FeeService, service_id)
    if service is None or service.agency_id != agency_id:
        raise InvalidInput(N_("No such service in your catalogue."), field="lines")
    if not service.published or service.active_from > on or (service.active_to and service.active_to < on):
        raise InvalidInput(N_("This service is not in force today."), field="lines")
    try:
        amount = amount_for(Rule.of(service), quantity)
    except RuleViolation as exc:
        raise InvalidInput(exc.message, params=exc.params, field="lines") from None
    return PricedLine(service, quantity, amount)


def _expiry(days: int, now: datetime) -> datetime:
    """The end of the local day ``days`` days from now."""
    last_day = now.astimezone(LOCAL).date() + timedelta(days=days)
    return datetime.combine(last_day, time(23, 59, 59), tzinfo=LOCAL).astimezone(now.tzinfo)


def _description(number: str, lines: Sequence[PricedLine]) -> str:
    first = lines[0].service.name_vi
    more = f" (+{len(lines) - 1})" if len(lines) > 1 else ""
    return f"{number} {first}{more}"[:200]


def issue(
    session: Session,
    agency_id: int,
    data: NoticeIn,
    *,
    issue_key: str,
    source: str,
    created_by_id: int | None,
    fingerprint: str = "",
    batch_id: int | None = None,
    schedule_id: int | None = None,
    period: str = "",
    now: datetime | None = None,
) -> FeeNotice:
    """Add a notice and its payment request to the caller's transaction (flush only)."""
    now = now or utcnow()
    require_pilot(session, agency_id)
    today = now.astimezone(LOCAL).date()
    lines = [price_line(session, agency_id, line.service_id, line.quantity, today) for line in data.lines]
    accounts = {line.service.bank_account_id for line in lines}
    if len(accounts) > 1:
        raise InvalidInput(
            N_("These services are paid into different bank accounts: issue one notice for each."),
            field="lines",
        )
    if data.dossier_number and dossier_holder(session, agency_id, data.dossier_number) is not None:
        raise Conflict(
            N_("This dossier number already has a notice that is not cancelled."), field="dossier_number"
        )
    settings = settings_of(session, agency_id)
    salt = secrets.token_hex(16)
    notice = FeeNotice(
        agency_id=agency_id,
        number=f"TMP-{salt[:16]}",
        token_hash=digest(token_of(salt)),
        token_salt=salt,
        issue_key=issue_key,
        dossier_number=data.dossier_number,
        dossier_key=data.dossier_number or None,
        payer_name=data.payer_name,
        payer_id_number=data.payer_id_number,
        payer_tax_code=data.payer_tax_code,
        payer_phone=data.payer_phone,
        payer_email=data.payer_email,
        payer_address=data.payer_address,
        amount_vnd=sum(line.amount_vnd for line in lines),
        source=source,
        batch_id=batch_id,
        schedule_id=schedule_id,
        period=period,
        note=data.note,
        created_by_id=created_by_id,
        created_at=now,
        expires_at=_expiry(data.expires_in_days or settings.notice_days, now),
    )
    session.add(notice)
    session.flush()
    notice.number = f"TB-{today.year}-{notice.id:06d}"
    for line in lines:
        session.add(
            FeeNoticeLine(
                notice_id=notice.id or 0,
                service_id=line.service.id or 0,
                service_code=line.service.code,
                name_vi=line.service.name_vi,
                name_en=line.service.name_en,
                kind=line.service.kind,
                legal_basis=line.service.legal_basis,
                unit_name=line.service.unit_name,
                quantity=line.quantity,
                amount_vnd=line.amount_vnd,
            )
        )
    request = requests.open_request(
        session,
        payee_organisation_id=agency_id,
        bank_account_id=accounts.pop(),
        amount_vnd=notice.amount_vnd,
        description=_description(notice.number, lines),
        expires_at=notice.expires_at,
        cause_type=CAUSE,
        cause_id=notice.id,
        payer_name=data.payer_name,
        created_by_id=created_by_id,
        fingerprint=fingerprint,
        access_token_hash=notice.token_hash,
    )
    notice.request_id = request.id
    session.add(notice)
    session.flush()
    return notice


def dossier_holder(session: Session, agency_id: int, dossier_number: str) -> FeeNotice | None:
    query = select(FeeNotice).where(FeeNotice.agency_id == agency_id, FeeNotice.dossier_key == dossier_number)
    return session.exec(query).first()


def by_issue_key(session: Session, agency_id: int, issue_key: str) -> FeeNotice | None:
    query = select(FeeNotice).where(FeeNotice.agency_id == agency_id, FeeNotice.issue_key == issue_key)
    return session.exec(query).first()


def _fingerprint(data: NoticeIn) -> str:
    return hashlib.sha256(data.model_dump_json().encode()).hexdigest()


def issue_notice(
    session: Session, user: User, data: NoticeIn, *, idempotency_key: str, actor: audit.Actor
) -> FeeNotice:
    """An officer issues a notice. The same idempotency key returns the first notice; with
    other content it is a 409."""
    agency_id = officer_agency(user)
    key = f"form:{user.id}:{idempotency_key}"
    print_ = _fingerprint(data)
    replay = by_issue_key(session, agency_id, key)
    if replay is not None:
        return _same_or_conflict(session, replay, print_)
    try:
        notice = issue(
            session, agency_id, data, issue_key=key, source="form", created_by_id=user.id, fingerprint=print_
        )
        _audit_issue(session, actor, notice)
        session.commit()
    except IntegrityError:  # the same key or dossier, committed by a concurrent request
        session.rollback()
        replay = by_issue_key(session, agency_id, key)
        if replay is None:
            raise Conflict(DOSSIER_TAKEN, field="dossier_number") from None
        return _same_or_conflict(session, replay, print_)
    return notice


def _same_or_conflict(session: Session, notice: FeeNotice, print_: str) -> FeeNotice:
    request = session.get(PaymentRequest, notice.request_id) if notice.request_id else None
    if request is None or request.fingerprint != print_:
        raise IdempotencyKeyReused(N_("This idempotency key was already used for a different request."))
    return notice


def _audit_issue(session: Session, actor: audit.Actor, notice: FeeNotice) -> None:
    audit.record(
        session,
        actor,
        action="fee_notice.issue",
        object_type="fee_notice",
        object_id=notice.id or 0,
        after={"number": notice.number, "amount_vnd": notice.amount_vnd, "source": notice.source},
    )


# --- who sees what --------------------------------------------------------------------------


def can_see(user: User, notice: FeeNotice) -> bool:
    return user.role == Role.OPERATOR or (
        user.role == Role.AGENCY_OFFICER and user.organisation_id == notice.agency_id
    )


def get_notice_for(session: Session, user: User, notice_id: int) -> FeeNotice:
    notice = session.get(FeeNotice, notice_id)
    if notice is None or not can_see(user, notice):
        raise NotFound(NOT_FOUND)
    return notice


def lines_of(session: Session, notice_id: int) -> list[FeeNoticeLine]:
    query = select(FeeNoticeLine).where(FeeNoticeLine.notice_id == notice_id).order_by(col(FeeNoticeLine.id))
    return list(session.exec(query))


def list_notices_for(
    session: Session,
    user: User,
    *,
    status: str | None = None,
    search: str = "",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[FeeNotice], int]:
    if user.role == Role.OPERATOR:
        conditions: list[Any] = []
    else:
        conditions = [FeeNotice.agency_id == officer_agency(user)]
    if status:
        conditions.append(FeeNotice.status == status)
    if search:
        pattern = f"%{search}%"
        conditions.append(
            or_(
                col(FeeNotice.number).ilike(pattern),
                col(FeeNotice.payer_name).ilike(pattern),
                col(FeeNotice.dossier_number).ilike(pattern),
            )
        )
    total = session.exec(select(func.count()).select_from(FeeNotice).where(*conditions)).one()
    rows = session.exec(
        select(FeeNotice)
        .where(*conditions)
        .order_by(col(FeeNotice.created_at).desc(), col(FeeNotice.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


@dataclass(frozen=True)
class NoticeView:
    """A notice with what its pages show."""

    notice: FeeNotice
    lines: list[FeeNoticeLine]
    agency: Organisation
    request: PaymentRequest
    account: BankAccount
    payments: list[Payment]
    receipts: list[Receipt]
    cancelled_receipts: dict[int, Any]

    @property
    def late_vnd(self) -> int:
        """Money kept for refund: after expiry or cancellation, or more than was due."""
        return sum(payment.excess_vnd for payment in self.payments)

    @property
    def payer_id_masked(self) -> str:
        return identity.mask_id(self.notice.payer_id_number or self.notice.payer_tax_code)


def view_of(session: Session, notice: FeeNotice) -> NoticeView:
    request = session.get_one(PaymentRequest, notice.request_id)
    found = receipts.for_request(session, request.id or 0)
    return NoticeView(
        notice=notice,
        lines=lines_of(session, notice.id or 0),
        agency=get_agency(session, notice.agency_id),
        request=request,
        account=session.get_one(BankAccount, request.bank_account_id),
        payments=requests.payments_of(session, request.id or 0),
        receipts=found,
        cancelled_receipts={
            r.id: c for r in found if (c := receipts.cancellation_of(session, r.id or 0)) is not None
        },
    )


def notice_view(session: Session, user: User, notice_id: int) -> NoticeView:
    return view_of(session, get_notice_for(session, user, notice_id))


def public_view(session: Session, token: str) -> NoticeView:
    """The notice a public link opens; any other token is the ordinary 404."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise NotFound(NOT_FOUND)
    notice = session.exec(select(FeeNotice).where(FeeNotice.token_hash == digest(token))).first()
    if notice is None or not hmac.compare_digest(notice.token_hash, digest(token)):
        raise NotFound(NOT_FOUND)
    return view_of(session, notice)


# --- cancelling -----------------------------------------------------------------------------


def cancel_notice(
    session: Session, user: User, notice_id: int, *, reason: str, actor: audit.Actor
) -> FeeNotice:
    """An officer of the agency cancels an open notice, with a reason; it stays visible."""
    notice = get_notice_for(session, user, notice_id)
    if user.role != Role.AGENCY_OFFICER:
        raise PermissionDenied(N_("Only the agency's officers can cancel its notices."))
    notice.cancel_reason = reason[:300]
    notice.cancelled_by_id = user.id
    session.add(notice)
    audit.record(
        session,
        actor,
        action="fee_notice.cancel",
        object_type="fee_notice",
        object_id=notice_id,
        before={"status": notice.status},
        after={"status": "cancelled", "reason": reason},
    )
    # Locks the request, closes it (our on_closed marks the notice) and commits all of it.
    requests.cancel_request(session, user, notice.request_id or 0, actor=actor)
    session.refresh(notice)
    return notice


# --- receipts -------------------------------------------------------------------------------


def replace_receipt(
    session: Session, user: User, receipt_id: int, data: ReceiptReplaceIn, *, actor: audit.Actor
) -> Receipt:
    """Cancel a mistaken receipt of the officer's agency with a reason; issue its replacement."""
    receipt = session.get(Receipt, receipt_id)
    request = session.get(PaymentRequest, receipt.request_id) if receipt else None
    if receipt is None or request is None or request.cause_type != CAUSE:
        raise NotFound(NOT_FOUND)
    if user.role != Role.AGENCY_OFFICER or user.organisation_id != request.payee_organisation_id:
        raise NotFound(NOT_FOUND)
    lock_rows(session, PaymentRequest, [request.id or 0])
    payer = {
        **receipt.content.get("payer", {}),
        "name": data.payer_name,
        "id_number": identity.mask_id(data.payer_id_number),
        "tax_code": data.payer_tax_code,
        "address": data.payer_address,
    }
    replacement = receipts.cancel_and_replace(
        session, receipt, reason=data.reason, corrections={"payer": payer}, cancelled_by_id=user.id
    )
    audit.record(
        session,
        actor,
        action="receipt.cancel_replace",
        object_type="receipt",
        object_id=receipt_id,
        before={"number": receipt.content.get("number_text")},
        after={"replacement_id": replacement.id, "reason": data.reason},
    )
    session.commit()
    return replacement


def _receipt_items(lines: Sequence[FeeNoticeLine]) -> list[dict[str, Any]]:
    items = []
    for line in lines:
        kind = KIND_LABELS_VI.get(line.kind, line.kind)
        description = f"{kind} {line.name_vi[0].lower()}{line.name_vi[1:]}" if line.name_vi else kind
        per_unit = line.amount_vnd % line.quantity == 0
        items.append(
            {
                "description": f"{description} — Căn cứ: {line.legal_basis}",
                "service_code": line.service_code,
                "fee_kind": line.kind,
                "legal_basis": line.legal_basis,
                "unit_name": line.unit_name,
                "quantity": line.quantity if per_unit else 1,
                "unit_price_vnd": line.amount_vnd // line.quantity if per_unit else line.amount_vnd,
                "amount_vnd": line.amount_vnd,
            }
        )
    return items


def series_label(pattern: str, year: int) -> str:
    return pattern.replace("{yy}", f"{year % 100:02d}").replace("{yyyy}", str(year))


class FeeNoticeCause:
    """What payments does for a request of cause ``fee_notice``."""

    def credit_account(self, request: PaymentRequest) -> str:
        return ledger.payable(request.payee_organisation_id)

    def on_paid(self, session: Session, request: PaymentRequest) -> None:
        notice = session.get(FeeNotice, request.cause_id)
        if notice is not None:
            notice.status = NoticeStatus.PAID
            notice.paid_at = request.paid_at
            session.add(notice)
            session.flush()

    def on_closed(self, session: Session, request: PaymentRequest) -> None:
        notice = session.get(FeeNotice, request.cause_id)
        if notice is None:
            return
        notice.status = (
            NoticeStatus.CANCELLED if request.status == RequestStatus.CANCELLED else NoticeStatus.EXPIRED
        )
        notice.closed_at = request.closed_at
        notice.dossier_key = None  # the dossier may have a new notice
        session.add(notice)
        session.flush()

    def amend_receipt(
        self, session: Session, request: PaymentRequest, content: dict[str, Any]
    ) -> dict[str, Any]:
        """The legal fields of an agency's e-receipt for fees and charges."""
        notice = session.get(FeeNotice, request.cause_id)
        if notice is None or content.get("kind") != "receipt":
            return content
        settings = settings_of(session, notice.agency_id)
        year = int(str(content["issued_at_local"])[6:10])
        return {
            **content,
            "title": RECEIPT_TITLE,
            "form": settings.receipt_form,
            "series": series_label(settings.receipt_series, year),
            "payer": {
                "name": notice.payer_name,
                "id_number": identity.mask_id(notice.payer_id_number),
                "tax_code": notice.payer_tax_code,
                "address": notice.payer_address,
            },
            "items": _receipt_items(lines_of(session, notice.id or 0)),
            "notice_number": notice.number,
            "dossier_number": notice.dossier_number,
            "paid_at_local": content["issued_at_local"],
        }


causes.register(CAUSE, FeeNoticeCause())
