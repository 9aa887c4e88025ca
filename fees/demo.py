"""Demo data of fees: a receiving bank account and a catalogue for each demo agency.

The ward People's Committee charges for certified copies (tiered per page, capped), household
business registration (a fixed charge) and market stalls (per stall-month); the provincial public
administration centre for certified copies. Everything goes through the same use cases as an
officer's requests. Loading twice changes nothing.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from choso import audit
from choso.db import session_scope
from fees import catalogue
from fees.models import FeeService
from fees.schemas import ServiceIn
from market.demo import AGENCIES
from market.models import User
from payments.models import BankAccount

BIDV_BIN = "970418"
COPY = {
    "code": "CT-BANSAO",
    "name_vi": "Chứng thực bản sao từ bản chính",
    "name_en": "Certified copy of an original document",
    "kind": "phi",
    "legal_basis": "Thông tư 226/2016/TT-BTC",
    "rule": "tiered",
    "unit_name": "trang",
    "tiers": [{"up_to": 2, "unit_price_vnd": 2_000}, {"up_to": None, "unit_price_vnd": 1_000}],
    "cap_vnd": 200_000,
}
BUSINESS = {
    "code": "DK-HKD",
    "name_vi": "Đăng ký hộ kinh doanh",
    "name_en": "Household business registration",
    "kind": "le_phi",
    "legal_basis": "Thông tư 85/2019/TT-BTC; Nghị quyết HĐND tỉnh Thanh Hóa",
    "rule": "fixed",
    "amount_vnd": 100_000,
}
STALL = {
    "code": "CHO-KIOT",
    "name_vi": "Phí chợ (sạp hàng, theo tháng)",
    "name_en": "Market stall fee (per month)",
    "kind": "phi",
    "legal_basis": "Nghị quyết HĐND tỉnh Thanh Hóa về phí chợ",
    "rule": "per_unit",
    "amount_vnd": 300_000,
    "unit_name": "sạp-tháng",
}
CATALOGUES = {0: (COPY,), 1: (COPY, BUSINESS, STALL)}


def _load(session: object) -> list[str]:
    lines = []
    for index, (agency_name, _tax, _name, email, _ward, _street) in enumerate(AGENCIES):
        officer = session.exec(select(User).where(User.email == email)).first()  # type: ignore[attr-defined]
        if officer is None or officer.organisation_id is None:
            continue
        if session.exec(select(FeeService.id).where(FeeService.agency_id == officer.organisation_id)).first():  # type: ignore[attr-defined]
            continue
        account = BankAccount(
            organisation_id=officer.organisation_id,
            bank_bin=BIDV_BIN,
            account_number=f"5010{officer.organisation_id:08d}",
            holder_name=agency_name.upper()[:100],
        )
        session.add(account)  # type: ignore[attr-defined]
        session.commit()  # type: ignore[attr-defined]
        for entry in CATALOGUES.get(index, ()):
            data = ServiceIn.model_validate(
                {**entry, "active_from": date(2025, 7, 1), "bank_account_id": account.id, "published": True}
            )
            catalogue.create_service(session, officer, data, actor=audit.SYSTEM)  # type: ignore[arg-type]
        lines.append(f"fees: catalogue of {agency_name}: /fees/agencies/{officer.organisation_id}")
    return lines


def load_demo() -> list[str]:
    with session_scope() as session:
        return _load(session)
