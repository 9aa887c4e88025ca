"""The control room and an organisation's dashboard, on a real market: an order bought and paid
by a signed bank notification, a fee notice, a stuck outbox row and a failed job."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.db import session_scope, utcnow
from choso.observability import JobFailure
from choso.outbox import JobOutbox
from market.models import User
from operations import charts
from operations.periods import window
from tests import shop_helpers
from tests.payments.helpers import bearer
from tests.support import make_operator, page_login


def _operator() -> dict[str, str]:
    make_operator("ops-dash@example.vn")
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == "ops-dash@example.vn")).one()
    return bearer(user)


def _market(client: TestClient) -> tuple[shop_helpers.Producer, dict[str, object]]:
    producer = shop_helpers.producer(40_000, 15_000)
    _buyer, headers = shop_helpers.buyer()
    account = shop_helpers.platform_account()
    checkout = shop_helpers.buy(client, headers, (producer.products[0], 2), (producer.products[1], 1))
    shop_helpers.pay(client, account, checkout["payment_request"])
    return producer, checkout


def test_operator_dashboard_counts_what_happened(client: TestClient, db: Session) -> None:
    producer, _checkout = _market(client)
    with session_scope() as session:
        session.add(
            JobOutbox(task="market.notify", args=[], kwargs={}, created_at=utcnow() - timedelta(minutes=5))
        )
        session.add(JobFailure(task="payments.process_webhook_event", error="ValueError: boom"))
        session.commit()
    auth = _operator()
    body = client.get("/api/v1/dashboard/operator?range=today", headers=auth).json()
    assert body["window"]["range"] == "today"
    assert body["sales"]["gmv_vnd"] == 95_000 and body["sales"]["paid_orders"] == 1
    assert {row["status"]: row["orders"] for row in body["sales"]["orders_by_state"]} == {"paid": 1}
    assert body["payments"]["received_by_channel"] == {"vietqr": 95_000, "card": 0}
    assert body["payments"]["outcomes"]["by_state"] == {"paid": 1}
    assert body["payments"]["outcomes"]["success_rate"]["vietqr"] == 1.0
    assert body["system"]["jobs_waiting"] >= 1 and body["system"]["oldest_seconds"] >= 299
    assert body["system"]["job_failures"] == [{"task": "payments.process_webhook_event", "failures": 1}]
    assert body["waiting"]["webhooks_pending"] == 0 and body["matching"]["rounds"] == 0
    # Drill-down lists behind the figures.
    orders = client.get("/api/v1/dashboard/operator/lists/orders?range=7d&filter=paid", headers=auth).json()
    assert orders["total"] == 1 and orders["items"][0]["total_vnd"] == 95_000
    none = client.get(
        "/api/v1/dashboard/operator/lists/orders?range=7d&filter=completed", headers=auth
    ).json()
    assert none["total"] == 0
    failures = client.get("/api/v1/dashboard/operator/lists/job-failures?range=today", headers=auth).json()
    assert failures["items"][0]["error"] == "ValueError: boom"
    bad = client.get("/api/v1/dashboard/operator/lists/orders?filter=nonsense", headers=auth)
    assert bad.status_code == 422
    # A window in the past sees nothing; a reversed or too long one is refused.
    old = client.get(
        "/api/v1/dashboard/operator?range=custom&from=2020-01-01&to=2020-01-31", headers=auth
    ).json()
    assert old["sales"]["gmv_vnd"] == 0
    assert (
        client.get(
            "/api/v1/dashboard/operator?range=custom&from=2020-02-01&to=2020-01-01", headers=auth
        ).status_code
        == 422
    )
    assert (
        client.get(
            "/api/v1/dashboard/operator?range=custom&from=2020-01-01&to=2021-06-01", headers=auth
        ).status_code
        == 422
    )
    # Days far outside any window are refused, never an overflow.
    for query in ("range=custom&from=0001-01-01&to=0001-01-02", "range=custom&from=9999-12-30&to=9999-12-31"):
        assert client.get(f"/api/v1/dashboard/operator?{query}", headers=auth).status_code == 422
    assert client.get("/api/v1/operator/audit?to=9999-12-31", headers=auth).status_code == 422
    assert (
        TestClient(client.app).get("/api/v1/open-data/datasets/market-prices?to=0001-01-01").status_code
        == 422
    )
    # The producer's own dashboard shows the same sale.
    own = client.get("/api/v1/dashboard/organisation?range=30d", headers=producer.headers).json()
    assert own["organisation_id"] == producer.organisation_id
    assert own["sales"]["gmv_vnd"] == 95_000 and own["money"]["payable_balance_vnd"] == 0


def test_dashboard_pages_render_charts_and_lists(client: TestClient) -> None:
    _market(client)
    make_operator("ops-page@example.vn")
    assert page_login(client, "ops-page@example.vn").status_code == 303
    page = client.get("/operator/dashboard?range=30d")
    assert page.status_code == 200
    assert page.text.count("<svg") >= 4 and "95.000" in page.text
    assert "<script" not in page.text.split("<main>")[1]
    listing = client.get("/operator/dashboard/lists/payments?range=today&filter=vietqr")
    assert listing.status_code == 200 and "95.000" in listing.text
    refused = client.get("/operator/dashboard?range=custom&from=2026-02-01&to=2025-01-01")
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert client.get("/operator/dashboard/lists/nothing").status_code == 404


def test_windows_and_charts_are_pure() -> None:
    w = window("7d")
    assert len(w.days()) == 7 and w.end - w.start == timedelta(days=7)
    svg = charts.bars([("01/01", 10), ("02/01", 0)], title="<b>t</b>")
    assert svg.startswith("<svg") and "&lt;b&gt;" in svg and "<b>" not in svg
    assert "style=" not in svg and "<script" not in svg
    assert charts.hbars([], title="empty").endswith("</svg>")
