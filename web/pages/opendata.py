"""The open-data page: what each dataset holds, how it protects people, and where to download
it — in Vietnamese and in English on the same page (the data is for everyone)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from choso.settings import get_settings
from market.catalog import CATEGORIES
from operations import opendata
from web.pages.common import render

router = APIRouter()


@router.get("/open-data", response_class=HTMLResponse)
def open_data_page(request: Request) -> HTMLResponse:
    context = {
        "datasets": list(opendata.DATASETS.values()),
        "license": opendata.LICENSE,
        "license_name": opendata.LICENSE_NAME,
        "minimum": opendata.MIN_CONTRIBUTORS,
        "per_minute": get_settings().open_data_per_minute,
        "categories": CATEGORIES,
        "frequencies": {
            opendata.WEEKLY: ("hằng tuần", "weekly"),
            opendata.MONTHLY: ("hằng tháng", "monthly"),
        },
    }
    return render(request, "dashboard/opendata.html", context)
