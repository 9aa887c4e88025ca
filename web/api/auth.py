"""Registration and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from market import parties
from market.models import Organisation, User
from web.api.schemas import TokenOut, TokenRequest, UserOut
from web.deps import DB, api_user, bearer_token, client_ip

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/register", status_code=201, response_model=UserOut)
def register(data: parties.Registration, session: DB) -> UserOut:
    """Open a buyer or producer account (a producer gives its business and tax code)."""
    user = parties.register(session, data)
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return UserOut.of(user, organisation)


@router.post("/token", response_model=TokenOut)
def issue_token(data: TokenRequest, request: Request, session: DB) -> TokenOut:
    """Exchange email and password for a bearer token (rate-limited like the login page)."""
    user = parties.authenticate(session, data.email, data.password, client_ip(request))
    token, row = parties.issue_api_token(session, user, data.name)
    return TokenOut(access_token=token, expires_at=row.expires_at)


@router.post("/logout", status_code=204)
def revoke_token(request: Request, session: DB, _user: Annotated[User, Depends(api_user)]) -> Response:
    """Revoke the token this request was made with."""
    token = bearer_token(request)
    if token:
        parties.revoke_api_token(session, token)
    return Response(status_code=204)
