"""The health endpoint reports database and broker."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from choso.settings import get_settings
from tests import backend


def test_healthz_reports_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == ("ok" if backend.BACKEND == "postgres" else "embedded")
    assert body["status"] == "ok"


def test_healthz_is_503_when_broker_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "redis_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "broker": "unreachable"}


def test_healthz_is_503_when_database_is_unreachable(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import web.app

    def broken() -> None:
        raise ConnectionError("database down")

    monkeypatch.setattr(web.app, "check_database", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
