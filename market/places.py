"""Vietnam's administrative units (after the 2025 reform: province → ward), via vietnam-provinces.

Pure lookups: no database. Thanh Hóa (province code 38) has 166 wards and communes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vietnam_provinces import Province, ProvinceCode, Ward, WardCode

from choso.errors import InvalidInput
from choso.i18n import N_

THANH_HOA = 38


@dataclass(frozen=True)
class Place:
    province_code: int
    province_name: str
    ward_code: int
    ward_name: str


@cache
def provinces() -> tuple[Province, ...]:
    return tuple(sorted(Province.iter_all(), key=lambda p: int(p.code)))


@cache
def wards_of(province_code: int) -> tuple[Ward, ...]:
    try:
        code = ProvinceCode(province_code)
    except ValueError:
        return ()
    return tuple(sorted(Ward.iter_by_province(code), key=lambda w: w.name))


def resolve_place(province_code: int, ward_code: int) -> Place:
    """The place for these codes; the ward must lie in the province."""
    try:
        province = Province.from_code(ProvinceCode(province_code))
    except ValueError:
        raise InvalidInput(N_("Unknown province code."), field="province_code") from None
    try:
        ward = Ward.from_code(WardCode(ward_code))
    except ValueError:
        raise InvalidInput(N_("Unknown ward code."), field="ward_code") from None
    if int(ward.province_code) != province_code:
        raise InvalidInput(N_("This ward is not in the chosen province."), field="ward_code")
    return Place(int(province.code), province.name, int(ward.code), ward.name)


def describe(province_code: int | None, ward_code: int | None) -> str:
    if province_code is None or ward_code is None:
        return ""
    try:
        place = resolve_place(province_code, ward_code)
    except InvalidInput:
        return ""
    return f"{place.ward_name}, {place.province_name}"
