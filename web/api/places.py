"""Administrative units, for address forms."""

from __future__ import annotations

from fastapi import APIRouter

from choso.errors import NotFound
from choso.i18n import N_
from market.places import provinces, wards_of
from web.api.schemas import ProvinceOut, WardOut

router = APIRouter(prefix="/places", tags=["places"])


@router.get("/provinces", response_model=list[ProvinceOut])
def list_provinces() -> list[ProvinceOut]:
    return [ProvinceOut(code=int(p.code), name=p.name) for p in provinces()]


@router.get("/provinces/{province_code}/wards", response_model=list[WardOut])
def list_wards(province_code: int) -> list[WardOut]:
    wards = wards_of(province_code)
    if not wards:
        raise NotFound(N_("Unknown province code."))
    return [WardOut(code=int(w.code), name=w.name) for w in wards]
