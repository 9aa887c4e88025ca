"""Stock that never oversells, under real concurrency.

* 200 buyers try to buy the last 50 units at the same instant: exactly 50 units are sold, the
  stock never goes below zero, every loser gets a clear 409, the ledger stays sound. On
  PostgreSQL the buyers are real HTTP clients of a running ``choso serve`` (with the run's
  real Celery worker); on SQLite they are threads through the app.
* The same checkout sent 10 times at once with one idempotency key makes one set of orders.
* The expiry of a checkout races a late payment: either it is paid and the stock stays sold,
  or it expired, the payment is kept for refund, and the stock came back exactly once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, func, select

from choso.db import session_scope, utcnow
from market.models import CartItem, Checkout, Order, OrderLine, OrderStatus, Product, Role, StockState
from payments import requests
from payments.models import Payment, PaymentRequest, PaymentStatus, RequestStatus
from tests import backend, factories
from tests.payments.helpers import bearer
from tests.shop_helpers import (
    add,
    buy,
    buyer,
    checkout,
    ledger_problems,
    platform_account,
    producer,
    stock_of,
)

ROOT = Path(__file__).resolve().parent.parent
BUYERS, UNITS, PRICE = 200, 50, 10_000

Post = Callable[[str, dict[str, object], dict[str, str]], tuple[int, dict[str, object]]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def post(client: TestClient) -> Iterator[Post]:
    """POST to the app: through a real ``choso serve`` on PostgreSQL, through the app on SQLite."""
    if backend.BACKEND != "postgres":
        yield lambda path, body, headers: _answer(client.post(path, json=body, headers=headers))
        return
    port = _free_port()
    with tempfile.TemporaryFile() as log:  # never a pipe: a full pipe would stall the server's logging
        server = subprocess.Popen(
            [sys.executable, "-m", "choso.cli", "--log-level", "WARNING", "serve", "--port", str(port)],
            env=os.environ.copy(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(server, base)
            pool = httpx.Client(base_url=base, timeout=120, limits=httpx.Limits(max_connections=BUYERS))
            yield lambda path, body, headers: _answer(pool.post(path, json=body, headers=headers))
            pool.close()
        finally:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-5000:])  # shown by pytest on failure


def _wait_until_up(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("choso serve exited (its log follows the test's output)")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("choso serve did not start")


def _answer(response: httpx.Response) -> tuple[int, dict[str, object]]:
    return response.status_code, response.json()


def test_200_buyers_for_the_last_50_units_sell_exactly_50(post: Post, db: Session) -> None:
    account = platform_account()
    farm = producer(PRICE, stock=UNITS)
    product = farm.products[0]
    buyers = [factories.user(Role.BUYER) for _ in range(BUYERS)]
    with session_scope() as session:  # every buyer has the product in the cart (stock allowed it)
        session.add_all(
            CartItem(user_id=b.id or 0, product_id=product.id or 0, quantity=1, price_seen_vnd=PRICE)
            for b in buyers
        )
        session.commit()
    tokens = [bearer(b) for b in buyers]
    barrier = threading.Barrier(BUYERS)

    def attempt(index: int) -> tuple[int, dict[str, object]]:
        headers = {**tokens[index], "Idempotency-Key": f"last-units-{index:04d}"}
        barrier.wait()
        return post("/api/v1/checkout", {"expected_total_vnd": PRICE}, headers)

    with ThreadPoolExecutor(BUYERS) as pool:
        answers = list(pool.map(attempt, range(BUYERS)))
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: UNITS, 409: BUYERS - UNITS}, statuses
    losers = {body["error"]["code"] for status, body in answers if status == 409}  # type: ignore[index]
    assert losers == {"insufficient_stock"}
    assert stock_of(db, product) == 0
    db.rollback()
    assert db.exec(select(func.sum(OrderLine.quantity))).one() == UNITS
    assert db.exec(select(func.count()).select_from(Order)).one() == UNITS
    # the winners pay: the money settles into order clearing, the ledger stays sound
    winners = [body for status, body in answers if status == 201]
    credits = [
        requests.IncomingPayment(
            provider="sandbox",
            provider_txn_id=f"last-{body['id']}",
            amount_vnd=PRICE,
            received_at=utcnow(),
            bank_account_id=account.id,
            reference_code=body["payment_request"]["reference_code"],  # type: ignore[index]
        )
        for body in winners
    ]
    with session_scope() as session:
        requests.settle_bank_credits(session, credits)
    db.rollback()
    assert (
        db.exec(select(func.count()).select_from(Order).where(Order.status == OrderStatus.PAID)).one()
        == UNITS
    )
    assert stock_of(db, product) == 0
    assert ledger_problems() == []


def test_the_same_checkout_sent_ten_times_at_once_makes_one_set_of_orders(
    client: TestClient, db: Session
) -> None:
    platform_account()
    farm, coop = producer(10_000), producer(20_000)
    _user, headers = buyer()
    add(client, headers, farm.products[0], 2)
    add(client, headers, coop.products[0], 1)
    barrier = threading.Barrier(10)

    def attempt(_: int) -> tuple[int, object]:
        barrier.wait()
        response = checkout(client, headers, 40_000, key="double-click-000001")
        return response.status_code, response.json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(attempt, range(10)))
    assert {status for status, _ in answers} == {201}, answers
    assert len({str(body) for _, body in answers}) == 1  # every answer is the same checkout
    db.rollback()
    assert db.exec(select(func.count()).select_from(Checkout)).one() == 1
    assert db.exec(select(func.count()).select_from(Order)).one() == 2
    assert db.exec(select(func.count()).select_from(PaymentRequest)).one() == 1
    assert stock_of(db, farm.products[0]) == 18 and stock_of(db, coop.products[0]) == 19


ROUNDS = 8


def test_expiry_racing_a_late_payment_never_gives_stock_back_twice(client: TestClient, db: Session) -> None:
    account = platform_account()
    farm = producer(10_000, stock=ROUNDS * 3)
    outcomes: list[str] = []
    for round_ in range(ROUNDS):
        _user, headers = buyer()
        body = buy(client, headers, (farm.products[0], 3))
        request_id = body["payment_request"]["id"]
        credit = requests.IncomingPayment(
            provider="sandbox",
            provider_txn_id=f"race-{round_}",
            amount_vnd=30_000,
            received_at=utcnow(),
            bank_account_id=account.id,
            reference_code=body["payment_request"]["reference_code"],
        )
        _race(request_id, credit)
        outcomes.append(_outcome(db, body["id"], request_id, f"race-{round_}"))
    sold = 3 * outcomes.count("paid")
    assert stock_of(db, farm.products[0]) == ROUNDS * 3 - sold  # never released twice, never lost
    assert ledger_problems() == []


def _race(request_id: int, credit: requests.IncomingPayment) -> None:
    """The periodic expiry and the bank's late notice, released at the same instant."""
    barrier = threading.Barrier(2)

    def expire() -> None:
        barrier.wait()
        with session_scope() as session:
            requests.expire_one(session, request_id, now=utcnow() + timedelta(hours=1))
            session.commit()

    def pay_late() -> None:
        barrier.wait()
        with session_scope() as session:
            requests.settle_bank_credits(session, [credit])

    threads = [threading.Thread(target=expire), threading.Thread(target=pay_late)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _outcome(db: Session, checkout_id: int, request_id: int, txn: str) -> str:
    db.rollback()
    request = db.get_one(PaymentRequest, request_id)
    order = db.exec(select(Order).where(Order.checkout_id == checkout_id)).one()
    payment = db.exec(select(Payment).where(Payment.provider_txn_id == txn)).one()
    if request.status == RequestStatus.PAID:
        assert order.status == OrderStatus.PAID and order.stock_state == StockState.CONSUMED
        assert payment.status == PaymentStatus.SETTLED
        return "paid"
    assert request.status == RequestStatus.EXPIRED
    assert order.status == OrderStatus.EXPIRED and order.stock_state == StockState.RELEASED
    assert payment.status == PaymentStatus.REFUND_DUE and payment.excess_vnd == 30_000
    return "expired"


def test_stock_is_never_negative_in_the_database(db: Session) -> None:
    """The last line of defence under the conditional UPDATE: a CHECK refuses negative stock."""
    farm = producer(10_000, stock=1)
    with pytest.raises(IntegrityError), session_scope() as session:
        product = session.get_one(Product, farm.products[0].id)
        product.stock = -1
        session.add(product)
        session.commit()
