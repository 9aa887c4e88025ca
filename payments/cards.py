"""Card payments through a card processor (Stripe), behind a small provider interface.

Rules:

* one PaymentIntent per attempt (a :class:`CardAttempt` row), created, confirmed and refunded
  with idempotency keys derived from our row ids: a call retried after a lost answer acts
  once at the processor. An intent whose creation answer was lost is never charged: nobody
  ever received its client secret;
* amounts are whole đồng, sent as they are (VND is a zero-decimal currency for Stripe); the
  metadata names our request id, reference code and attempt id;
* card numbers never reach Choso: the payer's browser hands them to Stripe.js, which gives us
  a payment method id;
* the payer is a user who may see the request, or the holder of its link token (a fee notice's
  public link, no account): a holder sees and uses only the attempts made through the link;
* a success is recorded by :func:`record_success` whoever reports it first (the webhook, the
  confirmation's answer, the return from authentication): the payment is idempotent on
  (stripe, intent id), so it posts once; an attempt's state never goes backwards;
* no database transaction is held across a call to the processor: SQLite's write lock and
  PostgreSQL's row locks must not wait on the network.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import stripe
from sqlmodel import Session, col, select

from choso import pilots
from choso.db import lock_rows, new_session, utcnow
from choso.errors import Conflict, DomainError, NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market.models import Organisation, User
from payments import links, requests, stats
from payments.errors import RequestNotOpen
from payments.links import LinkHolder
from payments.models import (
    CardAttempt,
    CardAttemptStatus,
    Payment,
    PaymentRequest,
    PaymentStatus,
    RequestStatus,
)

PROVIDER = "stripe"
STRIPE_JS = "https://js.stripe.com/v3/"
REUSABLE = frozenset(
    {
        CardAttemptStatus.REQUIRES_PAYMENT_METHOD,
        CardAttemptStatus.REQUIRES_CONFIRMATION,
        CardAttemptStatus.REQUIRES_ACTION,
    }
)
FINAL = frozenset({CardAttemptStatus.SUCCEEDED, CardAttemptStatus.CANCELED, CardAttemptStatus.FAILED})


# --- errors -------------------------------------------------------------------------------------


class CardPaymentsUnavailable(NotFound):
    code = "card_payments_unavailable"


class CardProcessorUnavailable(DomainError):
    """The processor did not answer: nothing was charged by this call; try again shortly."""

    status_code = 503
    code = "card_processor_unavailable"


class CardDeclined(DomainError):
    status_code = 402
    code = "card_declined"


class CardRejected(Conflict):
    code = "card_rejected"


class CardAttemptClosed(Conflict):
    code = "card_attempt_closed"


UNREACHABLE = N_("The card service cannot be reached right now. Nothing was charged; try again in a moment.")


# --- the provider interface ---------------------------------------------------------------------


class ProviderUnavailable(Exception):
    """No answer, or a transient failure: the same call may be tried again with the same key."""


class ProviderRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProviderDeclined(ProviderRefused):
    """The card was declined (the intent waits for another payment method)."""


class ProviderRejected(ProviderRefused):
    """The request itself was refused (invalid, not allowed, already done)."""


@dataclass(frozen=True)
class IntentInfo:
    id: str
    status: str
    amount_vnd: int
    currency: str
    client_secret: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    error_message: str = ""


@dataclass(frozen=True)
class RefundInfo:
    id: str
    status: str
    amount_vnd: int
    payment_intent: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    failure_reason: str = ""


def intent_from(data: Mapping[str, Any]) -> IntentInfo:
    """A PaymentIntent as the API or an event carries it (a plain mapping)."""
    error = data.get("last_payment_error") or {}
    received = data.get("amount_received")
    return IntentInfo(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        amount_vnd=int(received if received else data.get("amount") or 0),
        currency=str(data.get("currency") or "").lower(),
        client_secret=str(data.get("client_secret") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        error_message=str(error.get("message") or "")[:300],
    )


def refund_from(data: Mapping[str, Any]) -> RefundInfo:
    return RefundInfo(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        amount_vnd=int(data.get("amount") or 0),
        payment_intent=str(data.get("payment_intent") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
        failure_reason=str(data.get("failure_reason") or "")[:300],
    )


class CardProvider(Protocol):
    name: str

    def create_intent(
        self, *, amount_vnd: int, metadata: dict[str, str], idempotency_key: str
    ) -> IntentInfo: ...

    def retrieve_intent(self, intent_id: str) -> IntentInfo: ...

    def confirm_intent(self, intent_id: str, *, payment_method: str, idempotency_key: str) -> IntentInfo: ...

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentInfo: ...

    def create_refund(
        self, *, intent_id: str, amount_vnd: int, metadata: dict[str, str], idempotency_key: str
    ) -> RefundInfo: ...

    def retrieve_refund(self, refund_id: str) -> RefundInfo: ...


class StripeProvider:
    """The provider interface on the official SDK (Stripe, or a compatible server)."""

    name = PROVIDER

    def __init__(self, *, secret_key: str, api_base: str, timeout: float, max_network_retries: int) -> None:
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_intent(self, *, amount_vnd: int, metadata: dict[str, str], idempotency_key: str) -> IntentInfo:
        params = {
            "amount": amount_vnd,
            "currency": "vnd",
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        created = _call(self._client.v1.payment_intents.create, params=params, key=idempotency_key)
        return intent_from(created)

    def retrieve_intent(self, intent_id: str) -> IntentInfo:
        return intent_from(_call(self._client.v1.payment_intents.retrieve, intent_id))

    def confirm_intent(self, intent_id: str, *, payment_method: str, idempotency_key: str) -> IntentInfo:
        # Attach, then confirm: the two calls every Stripe-compatible server takes (localstripe
        # refuses a payment method given to confirm itself). Each has its own key.
        intents = self._client.v1.payment_intents
        _call(
            intents.update, intent_id, params={"payment_method": payment_method}, key=idempotency_key + ":pm"
        )
        return intent_from(_call(intents.confirm, intent_id, key=idempotency_key))

    def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> IntentInfo:
        return intent_from(_call(self._client.v1.payment_intents.cancel, intent_id, key=idempotency_key))

    def create_refund(
        self, *, intent_id: str, amount_vnd: int, metadata: dict[str, str], idempotency_key: str
    ) -> RefundInfo:
        params = {"payment_intent": intent_id, "amount": amount_vnd, "metadata": metadata}
        return refund_from(_call(self._client.v1.refunds.create, params=params, key=idempotency_key))

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        return refund_from(_call(self._client.v1.refunds.retrieve, refund_id))


def _call(method: Callable[..., Any], *args: Any, key: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """One SDK call, its answer as a plain dict, its failure as one of the provider errors."""
    if key is not None:
        kwargs["options"] = {"idempotency_key": key}
    try:
        return dict(method(*args, **kwargs).to_dict())
    except stripe.CardError as error:
        raise ProviderDeclined(error.code or "card_declined", _message(error)) from error
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        raise ProviderUnavailable(_message(error)) from error
    except stripe.StripeError as error:
        if (error.http_status or 0) >= 500:
            raise ProviderUnavailable(_message(error)) from error
        raise ProviderRejected(error.code or "rejected", _message(error)) from error


def _message(error: stripe.StripeError) -> str:
    return str(error.user_message or error)[:250]


def configured() -> bool:
    settings = get_settings()
    return bool(settings.stripe_secret_key and settings.stripe_publishable_key)


def provider() -> CardProvider:
    """The configured processor; card payments are unavailable without a Stripe key."""
    settings = get_settings()
    if not configured():
        raise CardPaymentsUnavailable(N_("Card payments are not available."))
    return _stripe(
        settings.stripe_secret_key,
        settings.stripe_api_base,
        settings.stripe_timeout_seconds,
        settings.stripe_max_network_retries,
    )


@lru_cache(maxsize=4)
def _stripe(secret_key: str, api_base: str, timeout: float, retries: int) -> StripeProvider:
    return StripeProvider(
        secret_key=secret_key, api_base=api_base, timeout=timeout, max_network_retries=retries
    )


def stripe_js_url() -> str:
    """Stripe.js for the card form: as configured, the sandbox server's stand-in, or Stripe's."""
    settings = get_settings()
    if settings.stripe_js_url:
        return settings.stripe_js_url
    if settings.stripe_api_base:
        return settings.stripe_api_base.rstrip("/") + "/js.stripe.com/v3/"
    return STRIPE_JS


def idempotency_key(kind: str, row_id: int, *extra: str) -> str:
    """The processor-side idempotency key of one of our calls: our row's id, scoped to this
    installation (the processor remembers keys for a day; another database reuses ids)."""
    site = hashlib.sha256(get_settings().effective_secret_key.encode()).hexdigest()[:10]
    return ":".join(("choso", site, kind, str(row_id), *extra))[:255]


# --- checkout -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    """An attempt and what the payer's browser needs to go on (Stripe.js and the secret)."""

    attempt: CardAttempt
    intent: IntentInfo | None
    publishable_key: str
    stripe_js_url: str


def _checkout(attempt: CardAttempt, intent: IntentInfo | None) -> Checkout:
    return Checkout(attempt, intent, get_settings().stripe_publishable_key, stripe_js_url())


# Card payments may be piloted (choso.pilots): a pilot's scope is the payee organisation, its ward,
# or the payer's ward. Only starting a card payment asks; one under way always finishes.
CARD_SERVICE = pilots.declare("payments.card", N_("Card payments"), usage=stats.card_usage)


def pilot_place(session: Session, request: PaymentRequest) -> pilots.Where:
    payee = session.get(Organisation, request.payee_organisation_id)
    payer = session.get(User, request.payer_user_id) if request.payer_user_id else None
    wards = [payee.ward_code if payee else None, payer.ward_code if payer else None]
    return pilots.Where.of(wards=wards, organisations=[request.payee_organisation_id])


def offered(request: PaymentRequest) -> bool:
    """Whether the pay page offers a card for this request (configured, and not outside a pilot)."""
    if not configured():
        return False
    with new_session(read_only=True) as session:
        return pilots.available(session, CARD_SERVICE, pilot_place(session, request))


# Who pays: a logged-in user who may see the request, or whoever holds its link token.
Payer = User | LinkHolder


def _request_for(session: Session, payer: Payer, request_id: int) -> PaymentRequest:
    if isinstance(payer, LinkHolder):
        request = links.get_request_by_token(session, payer.token)
        if request.id != request_id:
            raise NotFound(links.NO_SUCH_REQUEST)
        return request
    return requests.get_request_for(session, payer, request_id)


def _maker(payer: Payer) -> int | None:
    """The user an attempt is recorded as made by (none through a link)."""
    return payer.id if isinstance(payer, User) else None


def _made_by(payer: Payer) -> Any:
    """The condition on attempts made by this payer (through a link: by no user)."""
    maker = _maker(payer)
    return col(CardAttempt.created_by_id).is_(None) if maker is None else CardAttempt.created_by_id == maker


def start_checkout(session: Session, payer: Payer, request_id: int) -> Checkout:
    """An intent for what is still owed on the request: the payer's unfinished one if it still
    fits, else a new attempt. Commits; raises CardProcessorUnavailable with nothing charged."""
    processor = provider()
    request = _request_for(session, payer, request_id)
    pilots.require(session, CARD_SERVICE, pilot_place(session, request))
    _require_open(request)
    amount = request.outstanding_vnd
    reusable = session.exec(
        select(CardAttempt)
        .where(
            CardAttempt.request_id == request_id,
            _made_by(payer),
            col(CardAttempt.status).in_(REUSABLE),
            CardAttempt.amount_vnd == amount,
        )
        .order_by(col(CardAttempt.id).desc())
    ).first()
    session.commit()  # no transaction across the calls below
    if reusable is not None and reusable.intent_id:
        intent = _ask(processor.retrieve_intent, reusable.intent_id)
        if intent.status in REUSABLE:
            return _checkout(reusable, intent)
        apply_intent(session, reusable.id or 0, intent)
    attempt = CardAttempt(request_id=request_id, amount_vnd=amount, created_by_id=_maker(payer))
    session.add(attempt)
    session.commit()
    try:
        intent = processor.create_intent(
            amount_vnd=amount,
            metadata=_metadata(request, attempt),
            idempotency_key=idempotency_key("intent", attempt.id or 0),
        )
    except ProviderUnavailable as error:
        _fail_attempt(session, attempt.id or 0, f"unreachable: {error}")
        raise CardProcessorUnavailable(UNREACHABLE, headers={"Retry-After": "5"}) from None
    except ProviderRefused as error:
        _fail_attempt(session, attempt.id or 0, str(error))
        raise CardRejected(N_("The card service refused this payment.")) from None
    return _checkout(apply_intent(session, attempt.id or 0, intent), intent)


def confirm(session: Session, payer: Payer, attempt_id: int, *, payment_method: str) -> Checkout:
    """Charge the attempt's intent with a payment method made by Stripe.js. A decline leaves
    the intent waiting for another card (402); no answer leaves it as it was (503)."""
    processor = provider()
    attempt, request = attempt_for(session, payer, attempt_id)
    if attempt.status == CardAttemptStatus.SUCCEEDED:
        session.commit()
        return _checkout(attempt, None)
    if not attempt.intent_id or attempt.status not in REUSABLE:
        raise CardAttemptClosed(N_("This card payment attempt is over; start a new one."))
    _require_open(request)
    intent_id = attempt.intent_id
    session.commit()
    key = idempotency_key("confirm", attempt_id, payment_method)
    try:
        intent = processor.confirm_intent(intent_id, payment_method=payment_method, idempotency_key=key)
    except ProviderDeclined as declined:
        _end_declined(session, processor, attempt_id, intent_id, declined.message)
        raise CardDeclined(N_("The card was declined. Try another card, or pay by bank transfer.")) from None
    except ProviderUnavailable:
        raise CardProcessorUnavailable(UNREACHABLE, headers={"Retry-After": "5"}) from None
    except ProviderRejected:
        raise CardRejected(N_("The card service refused this payment.")) from None
    return _checkout(apply_intent(session, attempt_id, intent), intent)


def complete(session: Session, payer: Payer, attempt_id: int) -> Checkout:
    """The payer is back (after authentication): ask the processor how the intent stands and
    record it; a success posts the payment, once, whoever else reports it. Commits."""
    processor = provider()
    attempt, _request = attempt_for(session, payer, attempt_id)
    intent_id = attempt.intent_id
    session.commit()
    if not intent_id:
        return _checkout(attempt, None)
    intent = _ask(processor.retrieve_intent, intent_id)
    return _checkout(apply_intent(session, attempt_id, intent), intent)


def look(session: Session, payer: Payer, attempt_id: int) -> tuple[Checkout, PaymentRequest]:
    """An attempt as the processor has it now, for the card page: reads, never writes."""
    attempt, request = attempt_for(session, payer, attempt_id)
    intent = _ask(provider().retrieve_intent, attempt.intent_id) if attempt.intent_id else None
    return _checkout(attempt, intent), request


def attempt_for(session: Session, payer: Payer, attempt_id: int) -> tuple[CardAttempt, PaymentRequest]:
    """An attempt and its request, for whoever may see the request (else NotFound); through a
    link, only the attempts made through a link."""
    attempt = session.get(CardAttempt, attempt_id)
    if attempt is None or (isinstance(payer, LinkHolder) and attempt.created_by_id is not None):
        raise NotFound(N_("No such card payment."))
    try:
        request = _request_for(session, payer, attempt.request_id)
    except NotFound:
        raise NotFound(N_("No such card payment.")) from None
    return attempt, request


def _ask(call: Callable[[str], IntentInfo], intent_id: str) -> IntentInfo:
    try:
        return call(intent_id)
    except ProviderUnavailable:
        raise CardProcessorUnavailable(UNREACHABLE, headers={"Retry-After": "5"}) from None
    except ProviderRefused:
        raise CardRejected(N_("The card service refused this payment.")) from None


def _require_open(request: PaymentRequest) -> None:
    if request.status != RequestStatus.OPEN:
        raise RequestNotOpen(N_("This payment request is no longer open."))


def _metadata(request: PaymentRequest, attempt: CardAttempt) -> dict[str, str]:
    return {
        "choso_request_id": str(request.id),
        "choso_reference": request.reference_code,
        "choso_attempt_id": str(attempt.id),
        **trace(),
    }


def trace() -> dict[str, str]:
    """The id of the HTTP request (or of the job's) behind a call, to find it in our logs."""
    from choso.observability import request_id_var

    request_id = request_id_var.get()
    return {"choso_http_request_id": request_id} if request_id else {}


def _fail_attempt(session: Session, attempt_id: int, error: str) -> None:
    attempt = session.get_one(CardAttempt, attempt_id)
    if attempt.status == CardAttemptStatus.CREATING:
        attempt.status = CardAttemptStatus.FAILED
    attempt.last_error = error[:300]
    attempt.updated_at = utcnow()
    session.add(attempt)
    session.commit()


def _end_declined(
    session: Session, processor: CardProvider, attempt_id: int, intent_id: str, message: str
) -> None:
    """A decline ends the attempt (the next try gets a fresh intent); its intent is cancelled
    at the processor, best effort: nobody can confirm it again through Choso anyway."""
    lock_rows(session, CardAttempt, [attempt_id])
    attempt = session.get_one(CardAttempt, attempt_id, populate_existing=True)
    if attempt.status not in FINAL:
        attempt.status = CardAttemptStatus.FAILED
        attempt.last_error = (message or "declined")[:300]
        attempt.updated_at = utcnow()
        session.add(attempt)
    session.commit()
    with contextlib.suppress(ProviderUnavailable, ProviderRefused):
        processor.cancel_intent(intent_id, idempotency_key=idempotency_key("cancel", attempt_id))


# --- what the processor reports -----------------------------------------------------------------


def apply_intent(session: Session, attempt_id: int, intent: IntentInfo) -> CardAttempt:
    """Record what the processor says of an attempt's intent (a success posts the payment). Commits."""
    attempt = session.get_one(CardAttempt, attempt_id)
    succeeded = intent.status == CardAttemptStatus.SUCCEEDED
    if succeeded:
        lock_rows(session, PaymentRequest, [attempt.request_id])  # lock order: request, then attempt
    lock_rows(session, CardAttempt, [attempt_id])
    session.refresh(attempt)
    if attempt.intent_id is None:
        attempt.intent_id = intent.id
        session.add(attempt)
        session.flush()
    if succeeded:
        record_success(session, intent)
    else:
        _advance(attempt, intent.status, intent.error_message)
        session.add(attempt)
    session.commit()
    return attempt


def record_success(session: Session, intent: IntentInfo) -> Payment:
    """The money of a succeeded intent, recorded once (flush only). It pays the attempt's
    request; an intent we cannot tie to a request (or not in VND) goes to suspense. Money
    that is not owed any more (a second card payment, a request closed meanwhile) is sent
    back at once."""
    from payments import refunds

    attempt = session.exec(select(CardAttempt).where(CardAttempt.intent_id == intent.id)).first()
    request = _request_of(session, attempt, intent)
    if request is not None:
        lock_rows(session, PaymentRequest, [request.id or 0])  # serialises the reporters of one success
    if attempt is not None:
        lock_rows(session, CardAttempt, [attempt.id or 0])
        session.refresh(attempt)
        _advance(attempt, CardAttemptStatus.SUCCEEDED)
    existing = requests.find_payment(session, PROVIDER, intent.id)
    if existing is not None:
        return existing
    trusted = request is not None and intent.currency == "vnd"
    payment = requests.apply_incoming_payment(
        session,
        requests.IncomingPayment(
            provider=PROVIDER,
            provider_txn_id=intent.id,
            amount_vnd=intent.amount_vnd,
            received_at=utcnow(),
            request_id=request.id if trusted and request else None,
            memo=f"card payment {intent.id}",
            payer_name=request.payer_name if request else "",
            channel="card",
        ),
    )
    if payment.excess_vnd and payment.status in (PaymentStatus.SETTLED, PaymentStatus.REFUND_DUE):
        refunds.refund_automatically(session, payment, amount_vnd=payment.excess_vnd)
    return payment


def record_intent_status(session: Session, intent: IntentInfo) -> str:
    """A non-success report (failed, canceled, needs action): the attempt moves forward only."""
    attempt = session.exec(select(CardAttempt).where(CardAttempt.intent_id == intent.id)).first()
    if attempt is None:
        return f"intent {intent.id} is not ours"
    lock_rows(session, CardAttempt, [attempt.id or 0])
    session.refresh(attempt)
    before = attempt.status
    _advance(attempt, intent.status, intent.error_message)
    return f"attempt {attempt.id}: {before} -> {attempt.status}"


def _request_of(session: Session, attempt: CardAttempt | None, intent: IntentInfo) -> PaymentRequest | None:
    """Our attempt row says which request an intent pays; failing that, its metadata, if the
    request id and the reference code in it agree."""
    if attempt is not None:
        return session.get(PaymentRequest, attempt.request_id)
    raw = intent.metadata.get("choso_request_id", "")
    request = session.get(PaymentRequest, int(raw)) if raw.isdecimal() and len(raw) < 10 else None
    if request is None or request.reference_code != intent.metadata.get("choso_reference"):
        return None
    return request


_STATUSES = {status.value for status in CardAttemptStatus}


def _advance(attempt: CardAttempt, status: str, error: str = "") -> None:
    """Move an attempt to what the processor reports, never out of a final state, except that
    a success always wins (money that arrived is recorded, whatever we thought before)."""
    status = "processing" if status == "requires_capture" else status
    if status not in _STATUSES or status in (CardAttemptStatus.CREATING, CardAttemptStatus.FAILED):
        return
    if attempt.status in FINAL and not (
        status == CardAttemptStatus.SUCCEEDED and attempt.status != CardAttemptStatus.SUCCEEDED
    ):
        return
    attempt.status = CardAttemptStatus(status)
    if error:
        attempt.last_error = error[:300]
    attempt.updated_at = utcnow()
