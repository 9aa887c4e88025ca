"""Vietnamese tax codes (mã số thuế), validated by python-stdnum. Pure functions."""

from __future__ import annotations

from stdnum.exceptions import ValidationError
from stdnum.vn import mst

from choso.errors import InvalidInput
from choso.i18n import N_


def normalize_tax_code(raw: str) -> str:
    """The compact form of a valid tax code (10 digits, or 13 for a branch)."""
    try:
        return mst.validate(raw)
    except ValidationError:
        raise InvalidInput(
            N_("Invalid tax code: enter the 10-digit code (or 10-3 for a branch) of the business."),
            field="tax_code",
        ) from None


def format_tax_code(compact: str) -> str:
    return mst.format(compact)
