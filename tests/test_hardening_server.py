"""Attacks on a real ``choso serve`` process: chunked bodies past the limit (issue 5 item 1;
also in process), forged X-Forwarded-For (item 3), the server banner (item 7)."""

from __future__ import annotations

import http.client
import json
import re
import select
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from choso.db import session_scope
from choso.settings import get_settings
from market import parties
from tests.servers import Server, running_server, server_env
from tests.support import PASSWORD, page_csrf

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """CHOSO_TRUSTED_PROXIES unset: nobody's forwarding headers are believed."""
    with running_server(tmp_path_factory.mktemp("serve") / "serve.log") as running:
        yield running


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The proxy on 127.0.0.1 is trusted (as a reverse proxy on the same host would be)."""
    env = server_env(CHOSO_TRUSTED_PROXIES="127.0.0.1")
    with running_server(tmp_path_factory.mktemp("proxied") / "serve.log", env=env) as running:
        yield running


def request(
    server: Server, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=payload, headers=all_headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def login(server: Server, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"email": "lan@example.vn", "password": password}
    return request(server, "POST", "/api/v1/auth/token", body, headers)[0]


@pytest.fixture
def account() -> None:
    with session_scope() as session:
        data = parties.Registration(email="lan@example.vn", password=PASSWORD, full_name="Nguyễn Thị Lan")
        parties.register(session, data)


def chunked_post(server: Server, path: str, content_type: str, limit_bytes: int) -> tuple[int, bytes, int]:
    """POST a body of up to ``limit_bytes`` with Transfer-Encoding: chunked (no length), the way
    an attacker streams one; stop sending as soon as the server answers. (status, body, sent)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        chunk = b"x" * 65536
        while sent < limit_bytes:
            if select.select([connection.sock], [], [], 0)[0]:
                return  # the server has answered
            sent += len(chunk)
            yield chunk

    try:
        connection.request(
            "POST", path, body=body(), headers={"Content-Type": content_type}, encode_chunked=True
        )
        response = connection.getresponse()
        return response.status, response.read(), sent
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/auth/register", "application/json"),
        ("/api/v1/auth/token", "application/json"),
        ("/login", "application/x-www-form-urlencoded"),
    ],
)
def test_chunked_body_past_the_limit_is_refused_while_it_streams(
    server: Server, path: str, content_type: str
) -> None:
    status, body, sent = chunked_post(server, path, content_type, limit_bytes=100 * MIB)
    assert status == 413, body[:300]
    # answered once the limit was passed, long before the 100 MiB were sent
    assert get_settings().max_body_bytes < sent < 8 * MIB
    if path.startswith("/api/"):
        assert json.loads(body)["error"]["code"] == "too_large"


def test_chunked_body_under_the_limit_is_read(server: Server) -> None:
    status, _body, _sent = chunked_post(server, "/api/v1/auth/register", "application/json", 128 * 1024)
    assert status == 422  # read, and refused for what it is (not JSON), not for its size


def test_server_does_not_advertise_itself(server: Server) -> None:
    status, headers, _body = request(server, "GET", "/healthz")
    assert status == 200
    assert "server" not in headers
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "permissions-policy" in headers


def test_untrusted_forwarded_for_does_not_change_the_client(server: Server, account: None) -> None:
    for _ in range(get_settings().login_max_failures):
        assert login(server, "guess-guess") == 401
    assert login(server, PASSWORD) == 429
    # a locked-out client claiming to be someone else is still itself
    for address in ("203.0.113.9", "198.51.100.7, 203.0.113.9"):
        assert login(server, PASSWORD, forwarded_for=address) == 429


def test_trusted_proxy_forwarded_for_is_the_client(behind_proxy: Server, account: None) -> None:
    attacker, owner = "203.0.113.9", "198.51.100.7"
    for _ in range(get_settings().login_max_failures):
        assert login(behind_proxy, "guess-guess", forwarded_for=attacker) == 401
    assert login(behind_proxy, PASSWORD, forwarded_for=attacker) == 429
    # the proxy says another client is asking: that one is not locked out
    assert login(behind_proxy, PASSWORD, forwarded_for=owner) == 200


def test_no_attack_made_the_server_fail(server: Server) -> None:
    log = server.log()
    assert "Exception in ASGI application" not in log, log[-4000:]
    failures = [line for line in log.splitlines() if re.search(r"choso\.access: \S+ \S+ 5\d\d ", line)]
    assert not [line for line in failures if "/healthz" not in line], failures


def test_body_without_a_length_is_counted_in_process_too(client: TestClient) -> None:
    def stream() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536  # 2.5 MiB, sent without Content-Length

    response = client.post(
        "/api/v1/auth/register", content=stream(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    token = page_csrf(client, "/login")
    page = client.post(
        "/login",
        content=stream(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": token},
    )
    assert page.status_code == 413
