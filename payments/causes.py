"""What a payment request pays for decides where settled money goes and what happens next.

The payments domain does not know orders or fee notices; their domains register a handler
for their ``cause_type`` (at import of their service module) and payments calls it inside
the same transaction as the settlement, expiry or cancellation. The default (``manual``)
credits the payee's payable account and does nothing else.
"""

from __future__ import annotations

from typing import Protocol

from sqlmodel import Session

from payments import ledger
from payments.models import PaymentRequest


class CauseHandler(Protocol):
    def credit_account(self, request: PaymentRequest) -> str:
        """The ledger account credited with a settlement collected on the platform's account."""
        ...

    def on_paid(self, session: Session, request: PaymentRequest) -> None: ...

    def on_closed(self, session: Session, request: PaymentRequest) -> None:
        """Called when an open request expires or is cancelled (release what it reserved)."""
        ...


class ManualCause:
    def credit_account(self, request: PaymentRequest) -> str:
        return ledger.payable(request.payee_organisation_id)

    def on_paid(self, session: Session, request: PaymentRequest) -> None:
        return None

    def on_closed(self, session: Session, request: PaymentRequest) -> None:
        return None


_HANDLERS: dict[str, CauseHandler] = {"manual": ManualCause()}


def register(cause_type: str, handler: CauseHandler) -> None:
    _HANDLERS[cause_type] = handler


def handler_for(cause_type: str) -> CauseHandler:
    if cause_type not in _HANDLERS:
        _import_declared_handlers()
    try:
        return _HANDLERS[cause_type]
    except KeyError:
        raise LookupError(f"no payment cause handler for {cause_type!r}") from None


def _import_declared_handlers() -> None:
    """Import the modules that domains list in ``Domain.extra["payment_causes"]`` (they register
    their handlers on import), so that any process, not only one that happened to import the
    domain's services, can settle its requests."""
    import importlib

    from choso.domains import all_domains

    for domain in all_domains():
        for module in domain.extra.get("payment_causes", ()):
            importlib.import_module(module)
