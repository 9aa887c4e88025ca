"""Hypothesis drives random payments, over/under payments, expiries, suspense and reversals;
after every step every transaction sums to zero and every balance equals its postings."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from sqlmodel import func, select

from choso.db import session_scope, utcnow
from market.models import OrganisationKind
from payments import ledger, requests
from payments.models import Payment, PaymentRequest
from tests import factories

_txn = itertools.count(1)
amounts = st.integers(min_value=1, max_value=2_000_000)


class LedgerMachine(RuleBasedStateMachine):
    requests = Bundle("requests")

    @initialize()
    def organisation(self) -> None:
        from tests.conftest import reset_database

        reset_database()  # each example starts from an empty ledger
        self.unreversed: list[int] = []  # payment transactions not reversed yet, in posting order
        org, _ = factories.staff(OrganisationKind.PRODUCER)
        self.org_id = org.id or 0
        self.account_id = factories.bank_account(org.id).id or 0
        self.platform_account_id = factories.bank_account(None).id or 0

    @rule(target=requests, amount=amounts, on_platform=st.booleans())
    def open_request(self, amount: int, on_platform: bool) -> int:
        account = self.platform_account_id if on_platform else self.account_id
        return factories.payment_request(self.org_id, account, amount).id or 0

    def _pay(self, amount: int, reference: str | None, account_id: int) -> None:
        with session_scope() as session:
            incoming = requests.IncomingPayment(
                provider="sepay",
                provider_txn_id=f"h{next(_txn)}",
                amount_vnd=amount,
                received_at=utcnow(),
                bank_account_id=account_id,
                reference_code=reference,
            )
            payment = requests.settle_bank_credits(session, [incoming])[0]
            self.unreversed.append(payment.ledger_transaction_id or 0)

    @rule(request_id=requests, amount=amounts)
    def pay(self, request_id: int, amount: int) -> None:
        with session_scope() as session:
            request = session.get_one(PaymentRequest, request_id)
            reference, account = request.reference_code, request.bank_account_id
        self._pay(amount, reference, account)

    @rule(amount=amounts)
    def pay_without_reference(self, amount: int) -> None:
        self._pay(amount, None, self.account_id)

    @rule(request_id=requests)
    def expire(self, request_id: int) -> None:
        with session_scope() as session:
            requests.expire_one(session, request_id, now=utcnow() + timedelta(days=365))
            session.commit()

    @rule(data=st.data())
    def reverse_a_payment(self, data: st.DataObject) -> None:
        if not self.unreversed:
            return
        target = self.unreversed.pop(data.draw(st.integers(0, len(self.unreversed) - 1)))
        with session_scope() as session:
            ledger.reverse(session, transaction_id=target, key=f"reverse:{target}", memo="correction")
            session.commit()

    @invariant()
    def ledger_is_sound(self) -> None:
        with session_scope() as session:
            assert ledger.check(session) == []

    @invariant()
    def requests_count_what_they_received(self) -> None:
        with session_scope() as session:
            for request in session.exec(select(PaymentRequest)).all():
                applied = session.exec(
                    select(func.coalesce(func.sum(Payment.amount_vnd - Payment.excess_vnd), 0)).where(
                        Payment.request_id == request.id
                    )
                ).one()
                assert request.received_vnd == applied
                assert request.received_vnd <= request.amount_vnd
                assert (request.status == "paid") == (request.received_vnd == request.amount_vnd)


LedgerMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
)


TestLedgerMachine = LedgerMachine.TestCase
