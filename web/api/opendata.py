"""The open-data API: public, anonymous, rate-limited per client address (CHOSO_OPEN_DATA_PER_MINUTE,
60 by default; beyond it 429 with Retry-After). Aggregates only, suppressed below 3 contributors
(operations.opendata); CC BY 4.0. Windows: ``from``/``to`` local days (at most 366; the last 365
days by default)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

from choso.settings import get_settings
from operations import opendata
from operations.periods import EARLIEST, Window, check_days, local_today, window
from web.deps import DB
from web.ratelimit import per_minute

router = APIRouter(
    prefix="/open-data",
    tags=["open data"],
    dependencies=[Depends(per_minute("open-data", lambda: get_settings().open_data_per_minute))],
)
DatasetName = Literal["market-prices", "matching-prices", "fee-collections"]
CACHE = {"Cache-Control": "public, max-age=900", "Access-Control-Allow-Origin": "*"}


def open_window(
    first: Annotated[date | None, Query(alias="from", description="First local day")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last local day")] = None,
) -> Window:
    last = last or local_today()
    check_days(first, last)
    return window("custom", first or max(last - timedelta(days=364), EARLIEST), last)


@router.get("/catalogue", response_model=dict[str, Any])
def catalogue() -> JSONResponse:
    """Every dataset (DCAT-style JSON-LD): licence, update frequency, schema, downloads."""
    body = opendata.catalogue(get_settings().public_url.rstrip("/"), modified=local_today())
    return JSONResponse(body, headers=CACHE)


@router.get("/datasets/{name}/schema", response_model=dict[str, Any])
def dataset_schema(name: DatasetName) -> JSONResponse:
    """The JSON Schema of one row of the dataset."""
    return JSONResponse(opendata.schema_of(opendata.dataset(name)), headers=CACHE)


@router.get(
    "/datasets/{name}",
    response_model=dict[str, Any],
    responses={200: {"content": {"text/csv": {}}, "description": "The rows (JSON, or CSV with format=csv)"}},
)
def dataset_rows(
    name: DatasetName,
    session: DB,
    chosen: Annotated[Window, Depends(open_window)],
    format: Literal["json", "csv"] = "json",
) -> Response:
    """The dataset's rows for the window, as JSON or CSV (UTF-8 with a BOM)."""
    d = opendata.dataset(name)
    rows = opendata.rows_of(session, name, chosen)
    if format == "csv":
        # Not web.downloads.csv_attachment: open data is public (no person in it; small cells
        # suppressed) and meant to be cached like the JSON, so it keeps the CACHE headers.
        headers = {**CACHE, "Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(opendata.to_csv(d, rows), media_type="text/csv; charset=utf-8", headers=headers)
    body = {
        "dataset": name,
        "license": opendata.LICENSE,
        "from": chosen.first,
        "to": chosen.last,
        "min_contributors": opendata.MIN_CONTRIBUTORS,
        "rows": rows,
    }
    return JSONResponse(jsonable_encoder(body), headers=CACHE)
