"""Open data: aggregated market prices and volumes and fee collections, for anyone to reuse.

Rules:

* nothing personal leaves: rows are sums over a cell (ISO week × category × ward × unit for
  prices; month × agency × service for fees), never a person, an order or a notice;
* a cell drawn from fewer than :data:`MIN_CONTRIBUTORS` (3) distinct sellers, or distinct
  buyers / payers, is suppressed: it stays in the table (so the table's shape says nothing)
  with every figure empty and ``suppressed`` true — one or two contributors' prices or
  amounts could otherwise be read off it;
* the sources stay apart: orders paid (market prices) and proposals of matching rounds
  (cleared prices) are two datasets, because a proposal that is accepted also becomes an order;
* every dataset is described in the DCAT-style catalogue, with its licence (CC BY 4.0), how
  often it changes and its schema.

The aggregation (:func:`price_cells`, :func:`fee_cells`) is pure; the domains' ``stats``
modules supply the lines.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from choso.errors import NotFound
from choso.i18n import LOCALE_TIMEZONE, N_
from fees import stats as fees_stats
from market import stats as market_stats
from market.places import THANH_HOA, resolve_place
from matching import stats as matching_stats
from operations.periods import Window

MIN_CONTRIBUTORS = 3
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
LICENSE_NAME = "CC BY 4.0"
PUBLISHER = "Chợ Số — Thanh Hóa"
RIGHTS = f"{LICENSE_NAME}; cells of fewer than {MIN_CONTRIBUTORS} distinct contributors are suppressed"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # JSON Schema type of the value when present (figures are null in suppressed cells)
    en: str
    vi: str


@dataclass(frozen=True)
class Dataset:
    name: str
    title_en: str
    title_vi: str
    description_en: str
    description_vi: str
    frequency: str  # DCAT accrualPeriodicity (Dublin Core frequency vocabulary)
    keywords: tuple[str, ...]
    columns: tuple[Column, ...]
    build: Callable[[Session, Window], list[dict[str, Any]]]


# --- pure aggregation ---------------------------------------------------------------------------


def iso_week(at: datetime) -> str:
    year, week, _day = at.astimezone(LOCALE_TIMEZONE).isocalendar()
    return f"{year}-W{week:02d}"


def month(at: datetime) -> str:
    return at.astimezone(LOCALE_TIMEZONE).strftime("%Y-%m")


def average(value: int, quantity: int) -> int:
    """Whole đồng per unit, rounded half up (pure)."""
    return (2 * value + quantity) // (2 * quantity) if quantity else 0


def ward_name(code: int | None) -> str:
    if code is None:
        return ""
    try:
        return resolve_place(THANH_HOA, code).ward_name
    except Exception:  # a ward outside the province, or no longer listed: the code says enough
        return ""


def price_cells(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines (at, category, ward_code, unit, seller, buyer, quantity, value_vnd) → one row per
    week × category × ward × unit, suppressed below the threshold (pure)."""
    cells: dict[tuple[str, str, int | None, str], dict[str, Any]] = {}
    for line in lines:
        key = (iso_week(line["at"]), line["category"], line["ward_code"], line["unit"])
        cell = cells.setdefault(
            key, {"quantity": 0, "value": 0, "lines": 0, "sellers": set(), "buyers": set()}
        )
        cell["quantity"] += line["quantity"]
        cell["value"] += line["value_vnd"]
        cell["lines"] += 1
        cell["sellers"].add(line["seller"])
        cell["buyers"].add(line["buyer"])
    rows = []
    for (week, category, ward, unit), cell in sorted(cells.items(), key=lambda item: _sort_key(item[0])):
        hidden = len(cell["sellers"]) < MIN_CONTRIBUTORS or len(cell["buyers"]) < MIN_CONTRIBUTORS
        rows.append(
            {
                "week": week,
                "category": category,
                "ward_code": ward,
                "ward_name": ward_name(ward),
                "unit": unit,
                "sellers": None if hidden else len(cell["sellers"]),
                "transactions": None if hidden else cell["lines"],
                "quantity": None if hidden else cell["quantity"],
                "value_vnd": None if hidden else cell["value"],
                "average_price_vnd": None if hidden else average(cell["value"], cell["quantity"]),
                "suppressed": hidden,
            }
        )
    return rows


def fee_cells(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fee lines (at, agency_id, agency, service_code, service_vi/en, payer, amount_vnd) → one
    row per month × agency × service, suppressed below the threshold of payers (pure)."""
    cells: dict[tuple[str, int, str], dict[str, Any]] = {}
    for line in lines:
        key = (month(line["at"]), line["agency_id"], line["service_code"])
        cell = cells.setdefault(key, {"line": line, "amount": 0, "lines": 0, "payers": set()})
        cell["amount"] += line["amount_vnd"]
        cell["lines"] += 1
        cell["payers"].add(line["payer"])
    rows = []
    for (period, agency_id, code), cell in sorted(cells.items()):
        hidden = len(cell["payers"]) < MIN_CONTRIBUTORS
        first = cell["line"]
        rows.append(
            {
                "month": period,
                "agency_id": agency_id,
                "agency": first["agency"],
                "service_code": code,
                "service_vi": first["service_vi"],
                "service_en": first["service_en"],
                "payers": None if hidden else len(cell["payers"]),
                "payments": None if hidden else cell["lines"],
                "amount_vnd": None if hidden else cell["amount"],
                "suppressed": hidden,
            }
        )
    return rows


def _sort_key(key: tuple[str, str, int | None, str]) -> tuple[str, str, int, str]:
    week, category, ward, unit = key
    return (week, category, ward if ward is not None else -1, unit)


# --- the datasets -------------------------------------------------------------------------------


def _market_prices(session: Session, w: Window) -> list[dict[str, Any]]:
    return price_cells(market_stats.price_lines(session, w.start, w.end))


def _matching_prices(session: Session, w: Window) -> list[dict[str, Any]]:
    return price_cells(matching_stats.price_lines(session, w.start, w.end))


def _fee_collections(session: Session, w: Window) -> list[dict[str, Any]]:
    return fee_cells(fees_stats.collection_lines(session, w.start, w.end))


SUPPRESSED = Column(
    "suppressed",
    "boolean",
    "True when fewer than 3 distinct sellers or buyers (payers) make up the cell: its figures are empty.",
    "Đúng khi ô có ít hơn 3 người bán hoặc người mua (người nộp) khác nhau: các số liệu để trống.",
)
PRICE_COLUMNS = (
    Column(
        "week", "string", "ISO week (local time), e.g. 2026-W05", "Tuần ISO (giờ Việt Nam), ví dụ 2026-W05"
    ),
    Column("category", "string", "Product category code", "Mã nhóm sản phẩm"),
    Column(
        "ward_code", "integer", "Seller's ward or commune code (2025 units)", "Mã phường, xã của người bán"
    ),
    Column("ward_name", "string", "Seller's ward or commune", "Tên phường, xã của người bán"),
    Column("unit", "string", "Unit of sale", "Đơn vị bán"),
    Column("sellers", "integer", "Distinct sellers", "Số người bán khác nhau"),
    Column("transactions", "integer", "Order lines or proposals", "Số dòng đơn hàng hoặc đề xuất"),
    Column("quantity", "integer", "Units sold", "Số lượng"),
    Column("value_vnd", "integer", "Value in đồng", "Giá trị (đồng)"),
    Column("average_price_vnd", "integer", "Value ÷ quantity, rounded half up", "Giá bình quân (làm tròn)"),
    SUPPRESSED,
)
FEE_COLUMNS = (
    Column("month", "string", "Month paid (local time), YYYY-MM", "Tháng nộp, YYYY-MM"),
    Column("agency_id", "integer", "Agency number in Chợ Số", "Mã cơ quan trên Chợ Số"),
    Column("agency", "string", "Agency", "Cơ quan thu"),
    Column("service_code", "string", "Service code in the agency's catalogue", "Mã dịch vụ"),
    Column("service_vi", "string", "Service name (Vietnamese)", "Tên dịch vụ (tiếng Việt)"),
    Column("service_en", "string", "Service name (English)", "Tên dịch vụ (tiếng Anh)"),
    Column("payers", "integer", "Distinct payers", "Số người nộp khác nhau"),
    Column("payments", "integer", "Notice lines paid", "Số khoản đã nộp"),
    Column("amount_vnd", "integer", "Amount collected in đồng", "Số tiền đã thu (đồng)"),
    SUPPRESSED,
)
WEEKLY = "http://purl.org/cc/frequency/weekly"
MONTHLY = "http://purl.org/cc/frequency/monthly"

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "market-prices",
            "Market prices and volumes by category, ward and week",
            "Giá và sản lượng theo nhóm hàng, phường xã và tuần",
            "Orders paid on Chợ Số, summed per ISO week, product category, the seller's ward and unit.",
            "Các đơn hàng đã thanh toán trên Chợ Số, cộng theo tuần ISO, nhóm hàng, phường xã của "
            "người bán và đơn vị.",
            WEEKLY,
            ("prices", "agriculture", "Thanh Hóa"),
            PRICE_COLUMNS,
            _market_prices,
        ),
        Dataset(
            "matching-prices",
            "Cleared prices of the matching market by category, ward and week",
            "Giá khớp của chợ ghép cung cầu theo nhóm hàng, phường xã và tuần",
            "Proposals made by the matching market's clearing rounds, at the round's price per unit; "
            "accepted ones are also in market-prices.",
            "Các đề xuất của các phiên ghép cung cầu, theo giá mỗi đơn vị của phiên; đề xuất được chấp "
            "nhận cũng có trong market-prices.",
            WEEKLY,
            ("prices", "matching", "Thanh Hóa"),
            PRICE_COLUMNS,
            _matching_prices,
        ),
        Dataset(
            "fee-collections",
            "Public-service fee collections by service and month",
            "Thu phí, lệ phí theo dịch vụ và tháng",
            "Fee notices paid through Chợ Số, summed per month, agency and service.",
            "Các thông báo phí, lệ phí đã nộp qua Chợ Số, cộng theo tháng, cơ quan và dịch vụ.",
            MONTHLY,
            ("fees", "public services", "Thanh Hóa"),
            FEE_COLUMNS,
            _fee_collections,
        ),
    )
}

NOT_FOUND = N_("This page or object does not exist.")


def dataset(name: str) -> Dataset:
    found = DATASETS.get(name)
    if found is None:
        raise NotFound(NOT_FOUND)
    return found


def rows_of(session: Session, name: str, w: Window) -> list[dict[str, Any]]:
    return dataset(name).build(session, w)


def schema_of(d: Dataset) -> dict[str, Any]:
    """A JSON Schema of one row (nullable figures: suppressed cells)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            c.name: {"type": [c.type, "null"], "description": c.en, "title": c.vi} for c in d.columns
        },
        "required": [c.name for c in d.columns],
    }


def catalogue(base_url: str, *, modified: date) -> dict[str, Any]:
    """The DCAT-style catalogue (JSON-LD) of every dataset."""
    api = f"{base_url}/api/v1/open-data/datasets"
    return {
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/"},
        "@type": "dcat:Catalog",
        "dct:title": {"vi": "Dữ liệu mở Chợ Số", "en": "Chợ Số open data"},
        "dct:publisher": PUBLISHER,
        "dct:license": LICENSE,
        "dct:modified": modified.isoformat(),
        "dcat:dataset": [
            {
                "@type": "dcat:Dataset",
                "dct:identifier": d.name,
                "dct:title": {"vi": d.title_vi, "en": d.title_en},
                "dct:description": {"vi": d.description_vi, "en": d.description_en},
                "dct:license": LICENSE,
                "dct:rights": RIGHTS,
                "dct:accrualPeriodicity": d.frequency,
                "dct:spatial": "Thanh Hóa, Việt Nam",
                "dct:language": ["vi", "en"],
                "dcat:keyword": list(d.keywords),
                "dct:conformsTo": {"@id": f"{api}/{d.name}/schema"},
                "schema": schema_of(d),
                "dcat:distribution": [
                    {
                        "@type": "dcat:Distribution",
                        "dcat:mediaType": media,
                        "dcat:downloadURL": f"{api}/{d.name}?format={fmt}",
                        "dct:license": LICENSE,
                    }
                    for fmt, media in (("json", "application/json"), ("csv", "text/csv"))
                ],
            }
            for d in DATASETS.values()
        ],
    }


def to_csv(d: Dataset, rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.name for c in d.columns])
    for row in rows:
        writer.writerow(["" if row[c.name] is None else _text(row[c.name]) for c in d.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value  # a service or agency name must never run as a spreadsheet formula
    return value
