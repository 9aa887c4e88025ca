"""Cookies, CSRF binding and security headers (issue 5 item 7); API docs without a CDN (item 9)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from choso.settings import Settings, get_settings
from tests.support import api_register, buyer_payload, page_csrf, page_login

STATIC = Path(__file__).resolve().parent.parent / "web" / "static" / "swagger-ui"


@pytest.fixture
def https_site(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The site as deployed: a public https URL, reached over https."""
    monkeypatch.setattr(get_settings(), "public_url", "https://cho.thanhhoa.gov.vn")
    with TestClient(app, base_url="https://testserver") as client:
        yield client


def set_cookies(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined]


def test_cookies_are_secure_host_cookies_over_https(https_site: TestClient) -> None:
    api_register(https_site, buyer_payload())
    response = page_login(https_site, "lan@example.vn")
    assert response.status_code == 303
    cookies = set_cookies(response)
    assert {cookie.split("=")[0] for cookie in cookies} == {
        "__Host-choso_session",
        "__Host-choso_csrf",
        "__Host-choso_lang",
    }
    for cookie in cookies:
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert "secure" in attributes and "httponly" in attributes and "path=/" in attributes
        assert not any(part.startswith("domain=") for part in attributes)
    assert https_site.get("/account").status_code == 200  # and the site reads them back


def test_hsts_when_served_over_https(https_site: TestClient) -> None:
    assert https_site.get("/").headers["Strict-Transport-Security"].startswith("max-age=63072000")


def test_no_hsts_on_a_local_http_run(client: TestClient) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_local_http_run_keeps_plain_cookies(client: TestClient) -> None:
    response = client.get("/login")
    [cookie] = set_cookies(response)
    assert cookie.startswith("choso_csrf=")
    assert "secure" not in cookie.lower()


@pytest.mark.parametrize(
    ("public_url", "cookie_secure", "expected"),
    [
        ("http://127.0.0.1:8000", None, None),  # a development run: the request decides
        ("http://localhost:8000", None, None),
        ("https://cho.thanhhoa.gov.vn", None, True),
        ("http://cho.thanhhoa.gov.vn", None, True),  # outside localhost: on, whatever the scheme
        ("https://cho.thanhhoa.gov.vn", False, False),  # explicitly off (e.g. a LAN demo)
        ("http://127.0.0.1:8000", True, True),
    ],
)
def test_cookie_security_follows_the_public_url(
    public_url: str, cookie_secure: bool | None, expected: bool | None
) -> None:
    settings = Settings(public_url=public_url, cookie_secure=cookie_secure)
    assert settings.cookies_secure_by_default is expected


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/api/v1/products", "/healthz", "/nothing-here"):
        headers = client.get(path).headers
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin", path
        assert "camera=()" in headers["Permissions-Policy"], path
        assert "payment=()" in headers["Permissions-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_csrf_token_from_another_session_is_refused(make_client: Callable[[], TestClient]) -> None:
    """The attacker has an account too: a (seed, token) pair valid in their own session, and a
    way to plant the seed cookie in the victim's browser. Bound to the session, it is useless."""
    attacker, victim = make_client(), make_client()
    api_register(attacker, buyer_payload(email="mallory@example.vn"))
    api_register(victim, buyer_payload())
    page_login(attacker, "mallory@example.vn")
    page_login(victim, "lan@example.vn")
    attackers_token = page_csrf(attacker, "/account")
    victim.cookies.set("choso_csrf", attacker.cookies["choso_csrf"])
    forged = victim.post("/logout", data={"csrf_token": attackers_token}, follow_redirects=False)
    assert forged.status_code == 403
    assert victim.get("/account", follow_redirects=False).status_code == 200  # still logged in
    # the victim's own token still works
    own = victim.post("/logout", data={"csrf_token": page_csrf(victim, "/account")}, follow_redirects=False)
    assert own.status_code == 303


def test_csrf_token_of_the_logged_out_page_does_not_work_inside_a_session(client: TestClient) -> None:
    api_register(client, buyer_payload())
    anonymous_token = page_csrf(client, "/login")
    anonymous_seed = client.cookies["choso_csrf"]
    page_login(client, "lan@example.vn")
    client.cookies.set("choso_csrf", anonymous_seed)  # even with the seed it was made for
    assert client.post("/logout", data={"csrf_token": anonymous_token}).status_code == 403


# --- item 9: the API docs come from our own files -------------------------------------------


def test_api_docs_load_nothing_from_another_origin(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/static/swagger-ui/") for source in sources), sources
    assert "cdn" not in page.text.lower()
    assert "<script>" not in page.text  # no inline script: the strict CSP holds for scripts
    policy = page.headers["Content-Security-Policy"]
    assert "script-src" not in policy and "default-src 'self'" in policy
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert 'data-openapi-url="/api/openapi.json"' in page.text
    assert client.get("/api/openapi.json").json()["info"]["title"]


def test_vendored_swagger_ui_is_the_published_package() -> None:
    manifest = (STATIC / "SOURCE.txt").read_text()
    recorded = dict(
        (name, digest)
        for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", manifest, flags=re.MULTILINE)
    )
    assert set(recorded) == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    assert (STATIC / "LICENSE").exists()
