"""Errors of reconciliation input: where in the file (when known) and why."""

from __future__ import annotations


class StatementError(ValueError):
    """A statement (or an expected-payments file) that cannot be read."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason
