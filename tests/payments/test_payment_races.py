"""Races around one payment request: settle, expire, number receipts — one consistent end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, col, select

from choso.db import session_scope, utcnow
from market.models import OrganisationKind
from payments import ledger, requests
from payments.models import Payment, PaymentRequest, Receipt
from tests import factories


def race(*actions: Callable[[], object]) -> list[BaseException | None]:
    """Run the actions at the same moment on threads; what each raised (or None)."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[BaseException | None] = [None] * len(actions)

    def run(index: int, action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def pay(request: PaymentRequest, txn: str, amount_vnd: int) -> Callable[[], object]:
    def action() -> object:
        with session_scope() as session:
            incoming = requests.IncomingPayment(
                provider="sepay",
                provider_txn_id=txn,
                amount_vnd=amount_vnd,
                received_at=utcnow(),
                bank_account_id=request.bank_account_id,
                reference_code=request.reference_code,
            )
            return requests.settle_bank_credits(session, [incoming])

    return action


def setup_request(amount_vnd: int = 100_000) -> PaymentRequest:
    org, _owner = factories.staff(OrganisationKind.PRODUCER)
    account = factories.bank_account(org.id)
    return factories.payment_request(org.id or 0, account.id or 0, amount_vnd)


def assert_ledger_clean() -> None:
    with session_scope() as session:
        assert ledger.check(session) == []


def test_two_full_payments_racing_settle_once_and_hold_the_other_for_refund(db: Session) -> None:
    request = setup_request()
    outcomes = race(pay(request, "a", 100_000), pay(request, "b", 100_000))
    assert outcomes == [None, None]
    db.rollback()
    final = db.get_one(PaymentRequest, request.id)
    assert (final.status, final.received_vnd) == ("paid", 100_000)
    payments = db.exec(select(Payment).order_by(col(Payment.id))).all()
    assert sorted(p.excess_vnd for p in payments) == [0, 100_000]
    assert len(db.exec(select(Receipt)).all()) == 1
    assert_ledger_clean()


def test_expiry_racing_a_payment_ends_paid_or_expired_with_the_money_kept(db: Session) -> None:
    for attempt in range(6):
        request = setup_request()

        def expire(request_id: int = request.id or 0) -> object:
            with session_scope() as session:
                done = requests.expire_one(session, request_id, now=utcnow() + timedelta(days=1))
                session.commit()
                return done

        outcomes = race(pay(request, f"p{attempt}", 100_000), expire)
        assert outcomes == [None, None]
        db.rollback()
        final = db.get_one(PaymentRequest, request.id)
        payment = db.exec(select(Payment).where(Payment.provider_txn_id == f"p{attempt}")).one()
        if final.status == "paid":
            assert (payment.status, payment.excess_vnd) == ("settled", 0)
        else:
            assert final.status == "expired"
            assert (payment.status, payment.excess_vnd) == ("refund_due", 100_000)
    assert_ledger_clean()


def test_receipt_numbers_stay_gapless_under_parallel_payments(db: Session) -> None:
    org, _owner = factories.staff(OrganisationKind.AGENCY)
    account = factories.bank_account(org.id)
    batch = [factories.payment_request(org.id or 0, account.id or 0, 20_000 + i) for i in range(12)]
    outcomes = race(*(pay(r, f"t{i}", r.amount_vnd) for i, r in enumerate(batch)))
    assert outcomes == [None] * len(batch)
    db.rollback()
    numbers = sorted(db.exec(select(Receipt.number).where(Receipt.organisation_id == org.id)).all())
    assert numbers == list(range(1, len(batch) + 1))
    assert_ledger_clean()
