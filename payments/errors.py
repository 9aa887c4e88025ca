"""Errors of the payments domain, each with its own stable code."""

from __future__ import annotations

from choso.errors import Conflict, InvalidInput, NotAuthenticated


class IdempotencyKeyReused(Conflict):
    """The same idempotency key came with different content."""

    code = "idempotency_key_reused"


class InsufficientFunds(Conflict):
    """A posting would take a no-overdraft account below zero."""

    code = "insufficient_funds"


class RequestNotOpen(Conflict):
    code = "payment_request_not_open"


class UnknownBankAccount(InvalidInput):
    code = "unknown_bank_account"


class WebhookRejected(NotAuthenticated):
    code = "webhook_rejected"
