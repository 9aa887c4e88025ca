"""Open data: real orders from several sellers and buyers, cells under three contributors
suppressed, no personal data, CSV and JSON, the DCAT catalogue, and the per-address rate limit."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from market.models import Organisation
from operations import opendata
from payments.models import BankAccount
from tests import factories, shop_helpers

_addresses = itertools.count(10)


def anonymous(client: TestClient) -> TestClient:
    """A visitor from an address of its own (the rate limit counts per address)."""
    return TestClient(client.app, client=(f"203.0.113.{next(_addresses)}", 4321))


def _sell(client: TestClient, account: BankAccount, producer: shop_helpers.Producer, quantity: int) -> None:
    _buyer, headers = shop_helpers.buyer()
    checkout = shop_helpers.buy(client, headers, (producer.products[0], quantity))
    shop_helpers.pay(client, account, checkout["payment_request"])


def test_market_prices_suppress_cells_of_fewer_than_three_sellers(client: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    account = shop_helpers.platform_account()
    three = [shop_helpers.producer(price) for price in (20_000, 30_000, 40_000)]
    lonely = shop_helpers.producer(99_000)
    with_ward = factories.organisation()
    db.rollback()
    other_ward = db.get_one(Organisation, lonely.organisation_id)
    other_ward.ward_code = with_ward.ward_code + 1  # the lonely seller sits in a ward of its own
    db.add(other_ward)
    db.commit()
    for producer, quantity in zip(three, (1, 2, 3), strict=True):
        _sell(client, account, producer, quantity)
    _sell(client, account, lonely, 1)
    _sell(client, account, lonely, 2)

    visitor = anonymous(client)
    body = visitor.get("/api/v1/open-data/datasets/market-prices").json()
    assert body["license"].startswith("https://creativecommons.org/licenses/by/4.0")
    rows = {row["ward_code"]: row for row in body["rows"]}
    shown, hidden = rows[with_ward.ward_code], rows[other_ward.ward_code]
    assert shown["suppressed"] is False and shown["sellers"] == 3 and shown["quantity"] == 6
    assert shown["value_vnd"] == 20_000 + 60_000 + 120_000
    assert shown["average_price_vnd"] == 33_333 and shown["category"] == "rice" and shown["ward_name"]
    assert hidden["suppressed"] is True
    assert all(
        hidden[k] is None for k in ("sellers", "transactions", "quantity", "value_vnd", "average_price_vnd")
    )
    # Nothing that names a person, an order or a business.
    text = str(body)
    assert "@example.vn" not in text and "Hợp tác xã" not in text and "Người dùng" not in text
    # The same as CSV, with a BOM and empty cells where suppressed.
    download = visitor.get("/api/v1/open-data/datasets/market-prices?format=csv")
    assert download.headers["content-type"].startswith("text/csv")
    # Public and cacheable by design (web.api.opendata), unlike the private downloads.
    assert download.headers["cache-control"] == "public, max-age=900"
    assert download.headers["content-disposition"] == 'attachment; filename="market-prices.csv"'
    table = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {r["suppressed"] for r in table} == {"true", "false"}
    assert [r["quantity"] for r in table if r["suppressed"] == "true"] == [""]
    # A window before any sale is empty.
    early = visitor.get("/api/v1/open-data/datasets/market-prices?from=2020-01-01&to=2020-12-31").json()
    assert early["rows"] == []


def test_fee_cells_suppress_fewer_than_three_payers_and_neutralise_formulas() -> None:
    at = datetime(2026, 5, 10, 3, tzinfo=UTC)

    def line(payer: str, agency_id: int = 1, code: str = "HKD", amount: int = 100_000) -> dict[str, object]:
        return {
            "at": at,
            "agency_id": agency_id,
            "agency": "=HYPERLINK(1)" if agency_id == 2 else "UBND phường Hạc Thành",
            "service_code": code,
            "service_vi": "Lệ phí",
            "service_en": "Charge",
            "payer": payer,
            "amount_vnd": amount,
        }

    rows = opendata.fee_cells(
        [line("a"), line("b"), line("c"), line("c"), line("a", 2), line("b", 2), line("a", 2)]
    )
    assert [(r["agency_id"], r["payers"], r["amount_vnd"], r["suppressed"]) for r in rows] == [
        (1, 3, 400_000, False),
        (2, None, None, True),
    ]
    assert rows[0]["month"] == "2026-05"
    exported = opendata.to_csv(opendata.dataset("fee-collections"), rows).decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in exported and ",=HYPERLINK" not in exported


def test_price_cells_need_three_buyers_too() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    lines = [
        {
            "at": at,
            "category": "fruit",
            "ward_code": 1,
            "unit": "kg",
            "seller": s,
            "buyer": "b1",
            "quantity": 1,
            "value_vnd": 10,
        }
        for s in ("s1", "s2", "s3")
    ]
    (row,) = opendata.price_cells(lines)
    assert row["suppressed"] is True and row["week"] == "2026-W02"
    assert opendata.average(10, 3) == 3 and opendata.average(5, 2) == 3


def test_catalogue_page_schema_and_rate_limit(client: TestClient) -> None:
    visitor = anonymous(client)
    catalogue = visitor.get("/api/v1/open-data/catalogue").json()
    assert catalogue["@type"] == "dcat:Catalog"
    names = [d["dct:identifier"] for d in catalogue["dcat:dataset"]]
    assert names == ["market-prices", "matching-prices", "fee-collections"]
    for d in catalogue["dcat:dataset"]:
        assert d["dct:license"] == "https://creativecommons.org/licenses/by/4.0/"
        assert d["dct:accrualPeriodicity"].startswith("http://purl.org/cc/frequency/")
        assert "suppressed" in d["schema"]["properties"]
        assert {x["dcat:mediaType"] for x in d["dcat:distribution"]} == {"application/json", "text/csv"}
    schema = visitor.get("/api/v1/open-data/datasets/fee-collections/schema").json()
    assert schema["properties"]["amount_vnd"]["type"] == ["integer", "null"]
    assert visitor.get("/api/v1/open-data/datasets/people").status_code == 422
    for locale, phrase in (("vi", "Dữ liệu mở"), ("en", "Open data")):
        page = visitor.get(f"/open-data?lang={locale}")
        assert page.status_code == 200 and phrase in page.text
        assert "Chợ Số open data" in page.text and "Dữ liệu mở của Chợ Số" in page.text  # both languages
    # 60 a minute per address (a few were spent above); then 429 with Retry-After, others unaffected.
    statuses = [visitor.get("/api/v1/open-data/catalogue").status_code for _ in range(60)]
    assert statuses.count(429) > 0 and statuses[0] == 200
    refused = visitor.get("/api/v1/open-data/catalogue")
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert anonymous(client).get("/api/v1/open-data/catalogue").status_code == 200
