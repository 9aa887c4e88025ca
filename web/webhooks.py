"""Incoming webhooks from payment providers: verify, store, enqueue, answer 2xx fast.

Authentication is the provider's signature, never a session or a token; the body is read
raw (the signature covers the exact bytes) and bounded by the app's body limit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from payments import stripe_webhooks, webhooks
from payments.schemas import WebhookAck
from web.api import ERROR_RESPONSES
from web.deps import DB

# Every error these routes give is documented in the schema (the same shape as the API's).
router = APIRouter(prefix="/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)


@router.post("/stripe", response_model=WebhookAck)
async def stripe_webhook(request: Request, session: DB) -> WebhookAck:
    """A Stripe event (cards and refunds). Replays are acknowledged and change nothing; a
    missing, forged or stale `Stripe-Signature` is 400 and nothing is stored."""
    body = await request.body()
    await run_in_threadpool(stripe_webhooks.accept, session, dict(request.headers), body)
    return WebhookAck()


@router.post("/{source}", response_model=WebhookAck)
async def bank_webhook(
    source: Annotated[str, Path(pattern="^(sepay|casso)$")], request: Request, session: DB
) -> WebhookAck:
    """A bank-transaction notification (SePay or Casso v2). Replays are acknowledged and
    change nothing; a bad signature is 401, a malformed body 422."""
    body = await request.body()
    await run_in_threadpool(webhooks.accept, session, source, dict(request.headers), body)
    return WebhookAck()
