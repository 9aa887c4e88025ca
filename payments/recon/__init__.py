"""Bank reconciliation, the pure core: statement parsers, memo reading and the matching rules.

Nothing here touches the database or the job queue. The application layer reads a statement
(``read_statement``), builds the expected payments from its open payment requests, calls
``reconcile`` (passing the ``dedup_key()`` of lines it already stored as ``seen``) and stores
what comes back. ``choso recon`` is the command-line face of the same functions.
"""

from payments.recon.errors import StatementError
from payments.recon.formats import FORMATS, detect_format, read_expected, read_statement, read_statement_file
from payments.recon.matcher import ExpectedBook, Policy, reconcile
from payments.recon.model import (
    Category,
    ExpectedPayment,
    LineResult,
    Reconciliation,
    Rule,
    Statement,
    StatementLine,
)
from payments.recon.tabular import LAYOUTS, Layout

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "Category",
    "ExpectedBook",
    "ExpectedPayment",
    "Layout",
    "LineResult",
    "Policy",
    "Reconciliation",
    "Rule",
    "Statement",
    "StatementError",
    "StatementLine",
    "detect_format",
    "read_expected",
    "read_statement",
    "read_statement_file",
    "reconcile",
]
