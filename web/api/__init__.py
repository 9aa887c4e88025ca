"""The JSON API, mounted at /api/v1."""

from typing import Any

from fastapi import APIRouter

from web.api import (
    account,
    auth,
    cards,
    cart,
    catalog,
    fees,
    matching,
    operator,
    orders,
    payments,
    photos,
    places,
    reconciliation,
)
from web.api.schemas import ErrorOut

_ERRORS = {
    400: "Bad request",
    401: "No valid API token",
    403: "The caller's role does not allow this",
    404: "No such object (or not the caller's)",
    409: "Conflicts with existing data",
    413: "Request body too large",
    422: "Invalid input; `details` lists the fields",
    429: "Too many attempts; see Retry-After",
    503: "Temporarily unavailable; see Retry-After",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description} for status, description in _ERRORS.items()
}

router = APIRouter(responses=ERROR_RESPONSES)
for module in (
    auth,
    account,
    places,
    catalog,
    operator,
    payments,
    fees,
    cart,
    orders,
    cards,
    reconciliation,
    photos,
    matching,
):
    router.include_router(module.router)

# Operations (issue 12): dashboards, the audit log, pilots, open data.
from web.api import audit, dashboard, opendata, pilots  # noqa: E402

for module in (dashboard, audit, opendata, pilots):
    router.include_router(module.router)

# Accounts (issue 12): password reset and e-mail verification by link.
from web.api import password  # noqa: E402

router.include_router(password.router)

# Accounts (issue 12): one's own API tokens, created on demand.
from web.api import tokens  # noqa: E402

router.include_router(tokens.router)
