"""Bank reconciliation, the pure core: statement parsers, memo reading and the matching rules.

Nothing here touches the database or the job queue. The application layer reads a statement
(``read_statement``), builds the expected payments from its open payment requests, calls
``reconcile`` (passing the ``dedup_key()`` of lines it already stored as ``seen``) and stores
what comes back. ``choso recon`` is the command-line face of the same functions.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use, so that `choso` (which loads every command group) stays quick to start.
_EXPORTS = {
    "StatementError": "payments.recon.errors",
    "FORMATS": "payments.recon.formats",
    "detect_format": "payments.recon.formats",
    "read_expected": "payments.recon.formats",
    "read_statement": "payments.recon.formats",
    "read_statement_file": "payments.recon.formats",
    "ExpectedBook": "payments.recon.matcher",
    "Policy": "payments.recon.matcher",
    "reconcile": "payments.recon.matcher",
    "Category": "payments.recon.model",
    "ExpectedPayment": "payments.recon.model",
    "LineResult": "payments.recon.model",
    "Reconciliation": "payments.recon.model",
    "Rule": "payments.recon.model",
    "Statement": "payments.recon.model",
    "StatementLine": "payments.recon.model",
    "LAYOUTS": "payments.recon.tabular",
    "Layout": "payments.recon.tabular",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'payments.recon' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
