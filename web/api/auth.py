"""Registration and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from market import credentials, parties, totp
from market.models import Organisation, User
from web.actors import actor_of
from web.api.schemas import ReauthRequest, TokenOut, TokenRequest, UserOut
from web.deps import DB, api_user, bearer_token, caller_credential, client_ip

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=201, response_model=UserOut)
def register(data: parties.Registration, request: Request, session: DB) -> UserOut:
    """Open a buyer or producer account (a producer gives its business and tax code).
    Rate-limited per client address (429 with Retry-After)."""
    user = parties.register(session, data, client_ip=client_ip(request))
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return UserOut.of(user, organisation)


@router.post("/token", response_model=TokenOut)
def issue_token(data: TokenRequest, request: Request, session: DB) -> TokenOut:
    """Exchange email and password for a bearer token (rate-limited like the login page).
    Operators and agency officers, and anyone who set up two-factor authentication, also give
    `totp_code` (or a single-use `recovery_code`): without it 401 `totp_required`; staff who
    have not enrolled yet get 401 `totp_enrolment_required` (enrol by logging in on the site)."""
    user = parties.authenticate(session, data.email, data.password, client_ip(request))
    second = {"code": data.totp_code, "recovery_code": data.recovery_code}
    totp.check_api_login(session, user, actor_of(request, user), **second)
    token, row = credentials.issue_api_token(session, user, data.name)
    return TokenOut(access_token=token, expires_at=row.expires_at)


@router.post("/logout", status_code=204)
def revoke_token(request: Request, session: DB, _user: Annotated[User, Depends(api_user)]) -> Response:
    """Revoke the token this request was made with."""
    token = bearer_token(request)
    if token:
        credentials.revoke_api_token(session, token)
    return Response(status_code=204)


@router.post("/reauthenticate", status_code=204)
def reauthenticate(
    data: ReauthRequest, request: Request, session: DB, _user: Annotated[User, Depends(api_user)]
) -> Response:
    """Give the password again for the token this request was made with. Sensitive actions
    (bank accounts, payouts, refunds) accept a token only within CHOSO_REAUTH_MINUTES of its
    issue or of this call; otherwise they answer 401 `reauthentication_required` with
    `WWW-Authenticate: Bearer error="insufficient_user_authentication", max_age=…` (RFC 9470).
    Rate-limited like a login."""
    parties.reauthenticate(session, caller_credential(request), data.password, client_ip(request))
    return Response(status_code=204)
