"""Card payments end to end per second against localstripe, beside the VietQR flow, in one run.

Starts a localstripe process (payments.localstripe) and ``choso serve`` (one process, embedded
jobs; SQLite in a temporary folder, or the database given with --database-url) on free
loopback ports, with localstripe delivering its signed webhooks to the server. Then 8 client
threads (--clients) pay --payments requests each way, and the clock stops when the ledger has
posted the last payment:

* card:   POST a payment request (staff, Idempotency-Key) → POST card-attempts (a
  PaymentIntent) → a payment method made at localstripe (what Stripe.js does in the browser)
  → Stripe.js confirms at localstripe → localstripe's payment_intent.succeeded webhook → the
  inbox job → ledger;
* card, server-side confirm: the same, but Choso's confirm endpoint confirms and posts at
  once from Stripe's answer (the webhook arrives later and changes nothing);
* VietQR: POST a payment request → GET its QR (SVG) → the bank's signed SePay webhook for the
  transfer → the inbox job → ledger.

Afterwards ``choso ledger check`` runs on the same database. localstripe waits 1 s before each
webhook it sends (its own design): with 8 clients the webhooks overlap, so the throughput is
Choso's, not that delay's; each flow's latency figure is the client's part only.

    .venv/bin/python bench/card_bench.py [--payments 200] [--clients 8] [--database-url postgresql://…/db]
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WEBHOOK_SECRET = "whsec_bench_" + secrets.token_hex(8)
SEPAY_SECRET = "bench-sepay-" + secrets.token_hex(8)


def configure(data_dir: str, stripe_url: str, database_url: str) -> dict[str, str]:
    """The environment of the server and of this process (which arranges the data)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHOSO_")}
    env.update(
        {
            "CHOSO_DATA_DIR": data_dir,
            "CHOSO_SECRET_KEY": "bench-" + secrets.token_hex(8),
            "CHOSO_SANDBOX": "true",
            "CHOSO_RUN_SCHEDULER": "false",
            "CHOSO_EMBEDDED_JOB_THREADS": "4",
            "CHOSO_SEPAY_WEBHOOK_SECRET": SEPAY_SECRET,
            "CHOSO_STRIPE_API_BASE": stripe_url,
            "CHOSO_STRIPE_SECRET_KEY": "sk_test_bench",
            "CHOSO_STRIPE_PUBLISHABLE_KEY": "pk_test_bench",
            "CHOSO_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "CHOSO_LOGIN_MAX_FAILURES_PER_IP": "100000",
        }
    )
    if database_url:
        env["CHOSO_DATABASE_URL"] = database_url
    os.environ.clear()
    os.environ.update(env)
    return env


def arrange(clients: int) -> dict[str, Any]:
    """One payee with its bank account and staff, and a payer per client thread (tokens)."""
    from choso import migrate
    from choso.db import session_scope
    from market import credentials, security
    from market.models import Organisation, OrganisationKind, Role, User
    from payments.models import BankAccount

    migrate.upgrade()
    with session_scope() as session:
        organisation = Organisation(
            kind=OrganisationKind.PRODUCER,
            name="HTX Bench",
            tax_code="0100233583",
            province_code=38,
            ward_code=14797,
            street="1 Lê Lợi",
        )
        session.add(organisation)
        session.flush()
        account = BankAccount(
            organisation_id=organisation.id,
            bank_bin="970436",
            account_number="0011000999888",
            holder_name="HTX BENCH",
        )
        hashed = security.hash_password("Bench-password-2026")
        staff = User(
            email="staff@bench.vn",
            full_name="Staff",
            password_hash=hashed,
            role=Role.PRODUCER,
            organisation_id=organisation.id,
        )
        payers = [
            User(email=f"payer{i}@bench.vn", full_name=f"Payer {i}", password_hash=hashed, role=Role.BUYER)
            for i in range(clients)
        ]
        session.add_all([account, staff, *payers])
        session.commit()
        staff_token = credentials.issue_api_token(session, staff)[0]
        payer_tokens = [credentials.issue_api_token(session, payer)[0] for payer in payers]
        return {"account": account.account_number, "staff": staff_token, "payers": payer_tokens}


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "choso.cli", "--log-level", "WARNING", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"server did not start:\n{log.read_text()}")


class Flows:
    """What one client does for one payment, each way."""

    def __init__(self, base: str, stripe_url: str, people: dict[str, Any]) -> None:
        import stripe

        self.base = base
        self.people = people
        self.stripe = stripe.StripeClient("sk_test_bench", base_addresses={"api": stripe_url})
        self.serial = itertools.count(1)
        from payments.bank_feeds import SePayFeed

        self.sepay = SePayFeed(mode="hmac", secret=SEPAY_SECRET)

    def _request(self, client: httpx.Client, amount: int, payer_id: int | None = None) -> dict[str, Any]:
        key = f"bench-{secrets.token_hex(8)}"
        answer = client.post(
            f"{self.base}/api/v1/payment-requests",
            json={"amount_vnd": amount, "description": "Bench order", "payer_name": "Payer"},
            headers={"Authorization": f"Bearer {self.people['staff']}", "Idempotency-Key": key},
        )
        answer.raise_for_status()
        return dict(answer.json())

    def card(self, client: httpx.Client, payer: str, *, server_confirm: bool) -> None:
        request = self._request(client, 150_000)
        # The payer may see the request: a staff-made request has no payer user, so the staff
        # token starts the attempt here (who starts it does not change the work measured).
        headers = {"Authorization": f"Bearer {self.people['staff']}"}
        attempt = client.post(
            f"{self.base}/api/v1/payment-requests/{request['id']}/card-attempts", headers=headers
        )
        attempt.raise_for_status()
        intent = attempt.json()
        card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"}
        method = self.stripe.v1.payment_methods.create(params={"type": "card", "card": card}).id
        if server_confirm:
            confirmed = client.post(
                f"{self.base}/api/v1/card-attempts/{intent['attempt_id']}/confirm",
                json={"payment_method": method},
                headers=headers,
            )
            confirmed.raise_for_status()
            return
        self.stripe.v1.payment_intents.update(intent["intent_id"], params={"payment_method": method})
        self.stripe.v1.payment_intents.confirm(intent["intent_id"])

    def vietqr(self, client: httpx.Client, payer: str) -> None:
        from payments.bank_feeds import BankNotification

        request = self._request(client, 150_000)
        headers = {"Authorization": f"Bearer {self.people['staff']}"}
        client.get(
            f"{self.base}/api/v1/payment-requests/{request['id']}/qr.svg", headers=headers
        ).raise_for_status()
        transfer = BankNotification(
            source="sepay",
            external_id=str(10**9 + next(self.serial) + int(time.time())),
            account_number=self.people["account"],
            bank_hint="Vietcombank",
            amount_vnd=150_000,
            direction="in",
            memo=f"MBVCB.{secrets.randbelow(10**9)}.{request['reference_code']} Thanh toan.CT",
            occurred_at=datetime.now(UTC).replace(microsecond=0),
            bank_reference=f"FT{secrets.randbelow(10**10):010d}",
            payer_name="PAYER",
        )
        body = self.sepay.encode(transfer)
        headers = {**self.sepay.signed_headers(body, datetime.now(UTC)), "Content-Type": "application/json"}
        client.post(f"{self.base}/webhooks/sepay", content=body, headers=headers).raise_for_status()


def posted(provider: str) -> int:
    """Payments of ``provider`` the ledger has posted (a payment row is written with its posting)."""
    import sqlalchemy as sa

    from choso.db import session_scope
    from payments.models import Payment

    with session_scope() as session:
        return int(
            session.execute(sa.select(sa.func.count()).where(Payment.provider == provider)).scalar_one()
        )


def run(
    name: str, flow: Callable[[httpx.Client, str], None], provider: str, total: int, people: dict[str, Any]
) -> None:
    clients = len(people["payers"])
    before = posted(provider)
    latencies: list[float] = []
    errors: list[str] = []

    def client_thread(index: int) -> None:
        count = total // clients + (1 if index < total % clients else 0)
        with httpx.Client(timeout=60) as client:
            for _ in range(count):
                started = time.perf_counter()
                try:
                    flow(client, people["payers"][index])
                except Exception as error:  # a bench reports failures, it does not stop on them
                    errors.append(repr(error)[:200])
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client_thread, range(clients)))
    sent = time.perf_counter() - started
    deadline = time.monotonic() + 120
    while posted(provider) - before < total - len(errors) and time.monotonic() < deadline:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = posted(provider) - before
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<52} {done:>4}/{total} posted  {done / elapsed:>6.1f} payments/s  "
        f"(clients done in {sent:5.1f} s, last posting at {elapsed:5.1f} s)  "
        f"client p50 {quantiles[49] * 1000:>5.0f} ms  p95 {quantiles[94] * 1000:>5.0f} ms  "
        f"errors {len(errors)}"
    )
    for error in errors[:3]:
        print("   ", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200, help="payments per flow")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file (an empty database)")
    args = parser.parse_args()

    from payments.localstripe import LocalStripe, free_port

    with tempfile.TemporaryDirectory(prefix="choso-card-bench-") as data_dir, LocalStripe() as localstripe:
        env = configure(data_dir, localstripe.url, args.database_url)
        people = arrange(args.clients)
        port = free_port()
        server = start_server(env, port, Path(data_dir) / "serve.log")
        localstripe.register_webhook(f"http://127.0.0.1:{port}/webhooks/stripe", WEBHOOK_SECRET)
        flows = Flows(f"http://127.0.0.1:{port}", localstripe.url, people)
        try:
            backend = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
            print(
                f"choso serve (1 process, {backend}, embedded jobs) + localstripe; "
                f"{args.clients} client threads; {os.cpu_count()} cores"
            )
            run("VietQR: request → QR → bank webhook → ledger", flows.vietqr, "sepay", args.payments, people)
            run(
                "card: request → intent → Stripe.js confirm → webhook",
                lambda c, p: flows.card(c, p, server_confirm=False),
                "stripe",
                args.payments,
                people,
            )
            run(
                "card: request → intent → confirm via Choso",
                lambda c, p: flows.card(c, p, server_confirm=True),
                "stripe",
                args.payments,
                people,
            )
            time.sleep(2)  # the webhooks of the server-side confirmations, deduplicated
            check = subprocess.run(
                [sys.executable, "-m", "choso.cli", "ledger", "check"],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            print("choso ledger check:", (check.stdout or check.stderr).strip().splitlines()[-1])
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
