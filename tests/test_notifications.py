"""Notifications: each user sees and marks only their own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import eventually
from tests.support import api_register, api_token, buyer_payload


def test_users_read_and_mark_only_their_own_notifications(client: TestClient) -> None:
    api_register(client, buyer_payload("lan@example.vn"))
    api_register(client, buyer_payload("minh@example.vn", full_name="Trần Văn Minh"))
    lan, minh = api_token(client, "lan@example.vn"), api_token(client, "minh@example.vn")

    lans = eventually(lambda: client.get("/api/v1/me/notifications", headers=lan).json())
    minhs = eventually(lambda: client.get("/api/v1/me/notifications", headers=minh).json())
    assert [n["kind"] for n in lans] == ["welcome"]
    assert "Nguyễn Thị Lan" in lans[0]["message"]
    assert "Trần Văn Minh" in minhs[0]["message"]
    assert lans[0]["read"] is False

    stolen = client.post(f"/api/v1/me/notifications/{lans[0]['id']}/read", headers=minh)
    assert stolen.status_code == 404
    assert client.get("/api/v1/me/notifications", headers=lan).json()[0]["read"] is False

    marked = client.post(f"/api/v1/me/notifications/{lans[0]['id']}/read", headers=lan)
    assert marked.status_code == 200
    assert marked.json()["read"] is True
    assert client.post(f"/api/v1/me/notifications/{lans[0]['id']}/read", headers=lan).status_code == 200
    assert client.get("/api/v1/me/notifications", headers=minh).json()[0]["read"] is False
