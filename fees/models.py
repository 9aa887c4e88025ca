"""Tables of the fees domain: each agency's catalogue, its receipt settings, fee notices and their
lines, bulk uploads, recurring schedules and reminders.

Rules held by the schema: a notice copies every amount, name and legal basis from the catalogue
at issue (later catalogue changes never touch it); ``(agency_id, issue_key)`` is unique, so a
form sent twice, a file issued twice or a schedule run twice for a period makes one notice;
``(agency_id, dossier_key)`` is unique while a notice is not cancelled (the key is cleared on
cancellation), so one dossier has at most one live notice. Only the SHA-256 digest of a
notice's public token is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from choso.columns import created_at_field, money_field, one_of
from choso.db import UTCDateTime, utcnow


class FeeKind(StrEnum):
    FEE = "phi"  # phí: pays for a service
    CHARGE = "le_phi"  # lệ phí: a state charge for an administrative act


class AmountRule(StrEnum):
    FIXED = "fixed"  # one amount per notice line (quantity 1)
    PER_UNIT = "per_unit"  # unit price × quantity
    TIERED = "tiered"  # graduated unit prices by quantity band, optionally capped


class FeeService(SQLModel, table=True):
    """One service of an agency's catalogue. Drafts are the agency's own; published ones are public."""

    __tablename__ = "fee_service"
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "code", name="uq_fee_service_code"),
        sa.CheckConstraint(one_of("kind", FeeKind), name="kind"),
        sa.CheckConstraint(one_of("rule", AmountRule), name="rule"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
        sa.CheckConstraint("min_quantity >= 1 AND max_quantity >= min_quantity", name="quantity_range"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="organisation.id", index=True)
    code: str = Field(max_length=30)
    name_vi: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: FeeKind = Field(sa_type=sa.String(10))
    legal_basis: str = Field(max_length=300)
    rule: AmountRule = Field(sa_type=sa.String(10))
    # Fixed: the amount; per unit: the unit price; tiered: the unit price of the first band.
    amount_vnd: int = money_field()
    unit_name: str = Field(default="", max_length=30)
    # Tiered: [{"up_to": 2, "unit_price_vnd": 2000}, {"up_to": null, "unit_price_vnd": 1000}].
    tiers: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    cap_vnd: int | None = money_field(default=None)
    min_quantity: int = 1
    max_quantity: int = 10_000
    active_from: date
    active_to: date | None = None
    bank_account_id: int = Field(foreign_key="bank_account.id", index=True)
    published: bool = False
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class FeeAgencySettings(SQLModel, table=True):
    """An agency's e-receipt identity (the form and series registered with the tax authority)
    and the defaults of its notices."""

    __tablename__ = "fee_agency_settings"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="organisation.id", unique=True)
    receipt_form: str = Field(default="01BLP0-001", max_length=20)  # mẫu số
    receipt_series: str = Field(default="CS-{yy}E", max_length=20)  # ký hiệu; {yy} = year
    notice_days: int = 30  # how long a notice stays payable
    reminder_days: int = 3  # remind this many days before it expires
    updated_at: datetime = created_at_field()


class NoticeStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class FeeNotice(SQLModel, table=True):
    """A fee notice (thông báo nộp phí, lệ phí) to a citizen or business, paid through its request."""

    __tablename__ = "fee_notice"
    __table_args__ = (
        sa.UniqueConstraint("agency_id", "issue_key", name="uq_fee_notice_issue_key"),
        sa.UniqueConstraint("agency_id", "dossier_key", name="uq_fee_notice_dossier_key"),
        sa.CheckConstraint(one_of("status", NoticeStatus), name="status"),
        sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="organisation.id", index=True)
    number: str = Field(max_length=20, unique=True)  # TB-2026-000123, printed on the slip
    token_hash: str = Field(max_length=64, unique=True)  # SHA-256 of the public link's token
    token_salt: str = Field(max_length=32)  # the token is HMAC(site key, salt): reprintable, not stored
    issue_key: str = Field(max_length=120)
    dossier_number: str = Field(default="", max_length=40)
    dossier_key: str | None = Field(default=None, max_length=40)  # = dossier_number until cancelled
    payer_name: str = Field(max_length=120)
    payer_id_number: str = Field(default="", max_length=12)
    payer_tax_code: str = Field(default="", max_length=13)
    payer_phone: str = Field(default="", max_length=16)
    payer_email: str = Field(default="", max_length=254)
    payer_address: str = Field(default="", max_length=200)
    amount_vnd: int = money_field()
    status: NoticeStatus = Field(default=NoticeStatus.OPEN, sa_type=sa.String(10), index=True)
    request_id: int | None = Field(default=None, foreign_key="payment_request.id", unique=True)
    source: str = Field(default="form", max_length=10)  # form | bulk | schedule | api
    batch_id: int | None = Field(default=None, foreign_key="fee_batch.id", index=True)
    schedule_id: int | None = Field(default=None, foreign_key="fee_schedule.id", index=True)
    period: str = Field(default="", max_length=7)  # YYYY-MM of a recurring notice
    note: str = Field(default="", max_length=300)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str = Field(default="", max_length=300)
    cancelled_by_id: int | None = Field(default=None, foreign_key="user_account.id")


class FeeNoticeLine(SQLModel, table=True):
    """One catalogue item on a notice, copied at issue."""

    __tablename__ = "fee_notice_line"
    __table_args__ = (sa.CheckConstraint("amount_vnd > 0", name="amount_positive"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="fee_notice.id", index=True)
    service_id: int = Field(foreign_key="fee_service.id", index=True)
    service_code: str = Field(max_length=30)
    name_vi: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: str = Field(max_length=10)
    legal_basis: str = Field(max_length=300)
    unit_name: str = Field(default="", max_length=30)
    quantity: int
    amount_vnd: int = money_field()


class FeeBatch(SQLModel, table=True):
    """An uploaded CSV of notices: validated rows wait here until the officer issues the valid ones."""

    __tablename__ = "fee_batch"

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="organisation.id", index=True)
    file_sha256: str = Field(max_length=64, index=True)
    filename: str = Field(default="", max_length=200)
    encoding: str = Field(default="", max_length=20)
    rows: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    row_count: int = 0
    valid_count: int = 0
    issued_count: int = 0
    uploaded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    issued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FeeSchedule(SQLModel, table=True):
    """A recurring notice: issued by a periodic job once per month on ``day_of_month``."""

    __tablename__ = "fee_schedule"
    __table_args__ = (sa.CheckConstraint("day_of_month BETWEEN 1 AND 28", name="day_of_month"),)

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="organisation.id", index=True)
    service_id: int = Field(foreign_key="fee_service.id")
    quantity: int = 1
    payer_name: str = Field(max_length=120)
    payer_id_number: str = Field(default="", max_length=12)
    payer_tax_code: str = Field(default="", max_length=13)
    payer_phone: str = Field(default="", max_length=16)
    payer_email: str = Field(default="", max_length=254)
    dossier_prefix: str = Field(default="", max_length=30)
    day_of_month: int = 1
    starts_on: date
    ends_on: date | None = None
    active: bool = True
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()


class FeeReminder(SQLModel, table=True):
    """A reminder before a notice expires, recorded once per notice and channel."""

    __tablename__ = "fee_reminder"
    __table_args__ = (sa.UniqueConstraint("notice_id", "kind", name="uq_fee_reminder_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="fee_notice.id", index=True)
    kind: str = Field(default="before_expiry", max_length=20)
    channel: str = Field(max_length=10)  # email | sms | officer (nothing to reach the payer by)
    recipient: str = Field(default="", max_length=254)
    status: str = Field(default="queued", max_length=10)  # queued | sent
    created_at: datetime = created_at_field()
