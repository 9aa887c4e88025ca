"""Server-rendered pages. Every unsafe request to them must carry a valid CSRF token."""

from fastapi import APIRouter, Depends

from web.deps import csrf_protect
from web.pages import account, auth, cards, fees, matching, payments, public, reconciliation, shop

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
for module in (public, auth, account, payments, cards, fees, shop, reconciliation, matching):
    router.include_router(module.router)

# Operations (issue 12): dashboards, the audit log, pilots, open data.
from web.pages import audit_log, dashboard, opendata, pilots  # noqa: E402

for module in (dashboard, audit_log, opendata, pilots):
    router.include_router(module.router)

# Fees (issue 9): a fee notice paid by card from its public link, without an account.
from web.pages import fee_cards  # noqa: E402

router.include_router(fee_cards.router)

# Cards, refunds and payouts (issue 7): the staff pages of refunds and payout batches.
from web.pages import payouts, refunds  # noqa: E402

for module in (refunds, payouts):
    router.include_router(module.router)

# Accounts (issue 12): two-factor authentication (the login's second step, enrolment).
from web.pages import tokens, totp  # noqa: E402

for module in (totp, tokens):
    router.include_router(module.router)

# Accounts (issue 12): password reset and e-mail verification by link.
from web.pages import password  # noqa: E402

router.include_router(password.router)
