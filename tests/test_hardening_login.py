"""Login and registration limits (issue 5 items 2, 4, 5, 12) and password handling (item 11).

Attacks reproduced: concurrent wrong passwords overshooting the limit (in threads and across
two server processes), anyone locking anyone out, unbounded concurrent argon2 work,
unthrottled registration; and passwords that differ only by spaces or Unicode form.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from choso.db import new_session, session_scope
from choso.errors import NotAuthenticated, RateLimited
from choso.settings import get_settings
from market import parties, security
from market.models import Notification, User
from tests.conftest import eventually, wait_for_jobs
from tests.servers import running_server
from tests.support import PASSWORD, api_register, buyer_payload, page_csrf

WRONG = "guess-guess-guess"


@pytest.fixture
def lan() -> int:
    with session_scope() as session:
        data = parties.Registration(email="lan@example.vn", password=PASSWORD, full_name="Nguyễn Thị Lan")
        return parties.register(session, data).id or 0


def attempt(password: str, ip: str = "10.0.0.1", email: str = "lan@example.vn") -> str:
    """One login through the domain function, in a session of its own: its outcome's name."""
    session = new_session()
    try:
        parties.authenticate(session, email, password, ip)
        return "ok"
    except NotAuthenticated:
        return "wrong"
    except RateLimited:
        return "limited"
    finally:
        session.close()


def client_at(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(address, 50000))


# --- item 2: the limit is reserved atomically -----------------------------------------------


def test_concurrent_wrong_passwords_check_no_more_than_the_limit(lan: int) -> None:
    limit = get_settings().login_max_failures
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(lambda _: attempt(WRONG), range(40)))
    assert outcomes["wrong"] <= limit  # was 27 of 40 with a limit of 5
    assert outcomes["wrong"] + outcomes["limited"] == 40
    assert attempt(PASSWORD) == "limited"  # and the account stays locked for this address


def test_limit_holds_across_two_server_processes(lan: int, tmp_path: Path) -> None:
    limit = get_settings().login_max_failures
    with running_server(tmp_path / "a.log") as first, running_server(tmp_path / "b.log") as second:

        def post(index: int) -> int:
            url = f"{(first, second)[index % 2].url}/api/v1/auth/token"
            body = {"email": "lan@example.vn", "password": WRONG}
            return httpx2.post(url, json=body, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = Counter(pool.map(post, range(32)))
    assert statuses[401] <= limit, statuses
    assert statuses[401] + statuses[429] == 32, statuses


# --- item 4: lockouts are keyed on (account, client) ----------------------------------------


def test_an_attacker_cannot_lock_the_owner_out(lan: int, db: Session) -> None:
    for _ in range(get_settings().login_max_failures):
        assert attempt(WRONG, ip="203.0.113.9") == "wrong"
    assert attempt(PASSWORD, ip="203.0.113.9") == "limited"  # the attacker's key: hard lock
    assert attempt(PASSWORD, ip="198.51.100.7") == "ok"  # the owner elsewhere: not locked

    [notice] = eventually(lambda: blocked_notices(db))
    assert notice.user_id == lan
    assert notice.params["address"] == "203.0.113.9"


def blocked_notices(db: Session) -> list[Notification]:
    db.rollback()
    return list(db.exec(select(Notification).where(Notification.kind == "login_blocked")))


def test_owner_is_told_once_per_lock(lan: int, db: Session) -> None:
    for _ in range(get_settings().login_max_failures + 3):
        attempt(WRONG, ip="203.0.113.9")
    eventually(lambda: blocked_notices(db))
    wait_for_jobs()
    assert len(blocked_notices(db)) == 1


def test_unknown_accounts_get_no_notification_and_the_same_answers(db: Session) -> None:
    outcomes = [attempt(WRONG, email="nobody@example.vn") for _ in range(6)]
    assert outcomes == ["wrong"] * 5 + ["limited"]
    db.rollback()
    assert db.exec(select(Notification)).first() is None


def test_distributed_guessing_is_slowed_down_per_address(lan: int) -> None:
    limit = get_settings().login_max_failures
    for index in range(limit):  # the account has now failed `limit` times, from many addresses
        assert attempt(WRONG, ip=f"203.0.113.{index}") == "wrong"
    assert attempt(WRONG, ip="203.0.113.100") == "wrong"
    # that address must now wait before its next try, though far below its own limit
    assert attempt(WRONG, ip="203.0.113.100") == "limited"
    assert attempt(PASSWORD, ip="198.51.100.7") == "ok"  # a fresh address is not held back


def test_shared_address_is_not_locked_by_one_account(lan: int) -> None:
    with session_scope() as session:
        data = parties.Registration(email="minh@example.vn", password=PASSWORD, full_name="Trần Văn Minh")
        parties.register(session, data)
    for _ in range(get_settings().login_max_failures + 2):
        attempt(WRONG, ip="100.64.0.1")  # one person behind a carrier's shared address
    assert attempt(PASSWORD, ip="100.64.0.1", email="minh@example.vn") == "ok"


def test_rate_limited_login_page_says_when_to_retry(client: TestClient, lan: int) -> None:
    for _ in range(get_settings().login_max_failures):
        token = page_csrf(client, "/login")
        client.post("/login", data={"email": "lan@example.vn", "password": WRONG, "csrf_token": token})
    token = page_csrf(client, "/login")
    blocked = client.post(
        "/login", data={"email": "lan@example.vn", "password": PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0


# --- item 5: argon2 work is bounded ---------------------------------------------------------


def stored_hash(db: Session) -> str:
    db.rollback()
    return db.exec(select(User.password_hash)).one()


def store_hash(password_hash: str) -> None:
    with session_scope() as session:
        user = session.exec(select(User)).one()
        user.password_hash = password_hash
        session.add(user)
        session.commit()


def test_argon2_parameters_are_owasps_and_old_hashes_are_replaced_at_login(lan: int, db: Session) -> None:
    assert stored_hash(db).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    store_hash(PasswordHasher().hash(PASSWORD))  # the library's default: 64 MiB, t=3, p=4
    assert attempt(PASSWORD) == "ok"
    assert stored_hash(db).startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_gate_bounds_concurrent_hashing_and_refuses_a_long_queue() -> None:
    gate = security.PasswordGate(slots=2, queue=3, wait_seconds=5)
    running, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def work() -> str:
        nonlocal running, peak
        try:
            with gate.slot():
                with lock:
                    running += 1
                    peak = max(peak, running)
                release.wait(5)
                with lock:
                    running -= 1
                return "ran"
        except security.GateFull:
            return "refused"

    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(work) for _ in range(10)]
        time.sleep(0.5)  # 2 running, 3 waiting, 5 refused at once
        release.set()
        outcomes = Counter(future.result() for future in futures)
    assert peak == 2
    assert outcomes == {"ran": 5, "refused": 5}


def test_busy_password_checks_answer_503_and_do_not_count(
    client: TestClient, lan: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "password_hash_concurrency", 1)
    monkeypatch.setattr(get_settings(), "password_hash_queue", 0)
    with parties._password_gate().slot():  # another request is hashing
        for _ in range(get_settings().login_max_failures + 2):
            busy = client.post("/api/v1/auth/token", json={"email": "lan@example.vn", "password": WRONG})
            assert busy.status_code == 503
            assert busy.headers["Retry-After"]
            assert busy.json()["error"]["code"] == "busy"
    # none of those counted as failures
    assert (
        client.post("/api/v1/auth/token", json={"email": "lan@example.vn", "password": PASSWORD}).status_code
        == 200
    )


# --- item 5/12: registration is rate-limited per address ------------------------------------


def test_registration_is_rate_limited_per_address(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "registration_max_per_ip", 3)
    with client_at(app, "203.0.113.50") as spammer, client_at(app, "198.51.100.8") as neighbour:
        for index in range(3):
            api_register(spammer, buyer_payload(email=f"bot{index}@example.vn"))
        refused = spammer.post("/api/v1/auth/register", json=buyer_payload(email="bot9@example.vn"))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        # probing which emails have accounts (409) counts too
        probe = spammer.post("/api/v1/auth/register", json=buyer_payload(email="bot0@example.vn"))
        assert probe.status_code == 429
        api_register(neighbour, buyer_payload(email="lan@example.vn"))


def test_registration_page_is_rate_limited_too(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_auth_pages import FORM

    monkeypatch.setattr(get_settings(), "registration_max_per_ip", 1)
    with client_at(app, "203.0.113.51") as browser:
        token = page_csrf(browser, "/register")
        first = browser.post("/register", data={**FORM, "csrf_token": token}, follow_redirects=False)
        assert first.status_code == 303
        browser.cookies.clear()
        token = page_csrf(browser, "/register")
        form = {**FORM, "email": "other@example.vn", "csrf_token": token}
        assert browser.post("/register", data=form).status_code == 429


# --- item 11 and NFC: passwords are taken as typed, on pages as in the API ------------------


@pytest.fixture
def spaced_password() -> Iterator[str]:
    yield "  Đồng-lúa 2026  "


def test_page_login_takes_the_password_as_the_api_does(client: TestClient, spaced_password: str) -> None:
    api_register(client, buyer_payload(password=spaced_password))
    token = page_csrf(client, "/login")
    form = {"email": "lan@example.vn", "password": spaced_password, "csrf_token": token}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    stripped = client.post(
        "/api/v1/auth/token", json={"email": "lan@example.vn", "password": spaced_password.strip()}
    )
    assert stripped.status_code == 401


def test_page_registration_keeps_spaces_in_the_password(client: TestClient, spaced_password: str) -> None:
    from tests.test_auth_pages import FORM

    token = page_csrf(client, "/register")
    form = {**FORM, "password": spaced_password, "password_confirm": spaced_password, "csrf_token": token}
    assert client.post("/register", data=form, follow_redirects=False).status_code == 303
    body = {"email": FORM["email"], "password": spaced_password}
    assert client.post("/api/v1/auth/token", json=body).status_code == 200


def test_password_typed_in_another_unicode_form_still_matches(client: TestClient) -> None:
    composed = unicodedata.normalize("NFC", "Đồng-lúa-2026")
    api_register(client, buyer_payload(password=composed))
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    body = {"email": "lan@example.vn", "password": decomposed}
    assert client.post("/api/v1/auth/token", json=body).status_code == 200


def test_hash_made_before_normalisation_still_matches_and_is_replaced(lan: int, db: Session) -> None:
    decomposed = unicodedata.normalize("NFD", "Đồng-lúa-2026")
    old_hash = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(decomposed)
    store_hash(old_hash)
    assert attempt(decomposed) == "ok"
    assert stored_hash(db) != old_hash
    assert attempt(unicodedata.normalize("NFC", decomposed)) == "ok"
