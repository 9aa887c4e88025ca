"""Inputs and outputs of the fees domain (API bodies, form data once parsed)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from choso.i18n import N_
from choso.money import Vnd
from choso.text import NameRules, NoControlCharacters
from fees import identity
from fees.models import AmountRule, FeeKind
from fees.rules import Band, RuleViolation, check_bands

DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]
Code = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9][A-Z0-9._-]{0,29}$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NameRules]
OptionalName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NameRules]
PayerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), NameRules]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300), NoControlCharacters]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=30), NameRules]
Dossier = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9./_-]{0,40}$")]
Loose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254), NoControlCharacters]
_Raw = StringConstraints(strip_whitespace=True, max_length=20)
CitizenId = Annotated[str, _Raw, AfterValidator(lambda v: identity.citizen_id(v) if v else "")]
TaxCode = Annotated[str, _Raw, AfterValidator(lambda v: identity.tax_code(v) if v else "")]
Phone = Annotated[str, _Raw, AfterValidator(lambda v: identity.phone(v) if v else "")]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    NoControlCharacters,
    AfterValidator(lambda v: identity.email(v) if v else ""),
]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NameRules]


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    up_to: Quantity | None = None
    unit_price_vnd: Vnd


class ServiceIn(BaseModel):
    """A catalogue entry. For a tiered rule, ``amount_vnd`` is taken from the first band."""

    model_config = ConfigDict(extra="forbid")

    code: Code
    name_vi: Name
    name_en: OptionalName = ""
    kind: FeeKind
    legal_basis: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]
    rule: AmountRule
    amount_vnd: Vnd | None = None
    unit_name: Short = ""
    tiers: list[TierIn] = Field(default_factory=list, max_length=10)
    cap_vnd: Vnd | None = None
    min_quantity: Quantity = 1
    max_quantity: Quantity = 10_000
    active_from: date
    active_to: date | None = None
    bank_account_id: DbId
    published: bool = False

    @field_validator("legal_basis")
    @classmethod
    def _legal_basis_is_text(cls, value: str) -> str:
        from choso.text import clean_text

        return clean_text(value)

    @model_validator(mode="after")
    def _consistent(self) -> ServiceIn:
        if self.max_quantity < self.min_quantity:
            raise ValueError(N_("The largest quantity must not be below the smallest."))
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValueError(N_("The end date must not be before the start date."))
        if self.rule == AmountRule.TIERED:
            try:
                check_bands([Band(t.up_to, t.unit_price_vnd) for t in self.tiers])
            except RuleViolation as exc:
                raise ValueError(exc.message) from None
            self.amount_vnd = self.tiers[0].unit_price_vnd
        else:
            self.tiers = []
            if self.amount_vnd is None:
                raise ValueError(N_("Enter the amount of this fee."))
        if self.rule != AmountRule.FIXED and not self.unit_name:
            raise ValueError(N_("Name the unit this fee is counted in (for example: trang, bản, tháng)."))
        return self


class LineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service_id: DbId
    quantity: Quantity = 1


class PayerIn(BaseModel):
    """Who pays: a name, and optionally an ID number or tax code and a way to reach them."""

    model_config = ConfigDict(extra="forbid")

    payer_name: PayerName
    payer_id_number: CitizenId = ""
    payer_tax_code: TaxCode = ""
    payer_phone: Phone = ""
    payer_email: Email = ""
    payer_address: Address = ""


class NoticeIn(PayerIn):
    dossier_number: Dossier = ""
    lines: list[LineIn] = Field(min_length=1, max_length=20)
    note: Text300 = ""
    expires_in_days: Annotated[int, Field(ge=1, le=365)] | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=300)]

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        from choso.text import clean_text

        return clean_text(value)


class ReceiptReplaceIn(CancelIn):
    """A mistaken receipt's reason for cancellation and the corrected payer details."""

    payer_name: PayerName
    payer_id_number: CitizenId = ""
    payer_tax_code: TaxCode = ""
    payer_address: Address = ""


class ScheduleIn(PayerIn):
    service_id: DbId
    quantity: Quantity = 1
    day_of_month: Annotated[int, Field(ge=1, le=28)] = 1
    dossier_prefix: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9._-]{0,30}$")
    ] = ""
    starts_on: date
    ends_on: date | None = None


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receipt_form: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9/.-]{1,20}$")]
    receipt_series: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9/.{}-]{1,20}$")
    ]
    notice_days: Annotated[int, Field(ge=1, le=365)] = 30
    reminder_days: Annotated[int, Field(ge=0, le=60)] = 3


# --- outputs ---------------------------------------------------------------------------------


class ServiceOut(BaseModel):
    id: int
    agency_id: int
    code: str
    name_vi: str
    name_en: str
    kind: str
    legal_basis: str
    rule: str
    amount_vnd: int
    unit_name: str
    tiers: list[dict[str, Any]]
    cap_vnd: int | None
    min_quantity: int
    max_quantity: int
    active_from: date
    active_to: date | None
    bank_account_id: int
    published: bool

    @classmethod
    def of(cls, row: Any) -> ServiceOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class LineOut(BaseModel):
    service_id: int
    service_code: str
    name_vi: str
    name_en: str
    kind: str
    legal_basis: str
    unit_name: str
    quantity: int
    amount_vnd: int

    @classmethod
    def of(cls, row: Any) -> LineOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class NoticeOut(BaseModel):
    id: int
    number: str
    agency_id: int
    status: str
    payer_name: str
    payer_id_number: str
    payer_tax_code: str
    payer_phone: str
    payer_email: str
    dossier_number: str
    amount_vnd: int
    request_id: int | None
    reference_code: str
    source: str
    period: str
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    cancel_reason: str
    lines: list[LineOut]
    public_url: str | None = Field(
        default=None, description="The payer's link; only in the answer to the officer who issued it."
    )


class PublicNoticeOut(BaseModel):
    """What anyone holding the link sees: no personal data beyond what the payer needs."""

    number: str
    agency_name: str
    status: str
    payer_name: str
    payer_id_masked: str
    amount_vnd: int
    outstanding_vnd: int
    reference_code: str
    expires_at: datetime
    paid_at: datetime | None
    lines: list[LineOut]
    vietqr: str | None
    receipt_urls: list[str]


class BatchRowOut(BaseModel):
    row: int
    status: str
    values: dict[str, Any]
    errors: list[dict[str, str]]


class BatchOut(BaseModel):
    id: int
    agency_id: int
    filename: str
    encoding: str
    file_sha256: str
    row_count: int
    valid_count: int
    issued_count: int
    created_at: datetime
    issued_at: datetime | None
    rows: list[BatchRowOut]


class ScheduleOut(BaseModel):
    id: int
    agency_id: int
    service_id: int
    quantity: int
    payer_name: str
    day_of_month: int
    starts_on: date
    ends_on: date | None
    active: bool

    @classmethod
    def of(cls, row: Any) -> ScheduleOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class SettingsOut(BaseModel):
    agency_id: int
    receipt_form: str
    receipt_series: str
    notice_days: int
    reminder_days: int

    @classmethod
    def of(cls, row: Any) -> SettingsOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})
