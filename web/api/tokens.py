"""Creating one's own API tokens (listing and revoking them: web.api.account)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from choso.text import SafeText
from market import tokens
from market.credentials import PERSONAL_TOKEN_MAX_DAYS, STAFF_ROLES
from market.models import User
from web.actors import actor_of
from web.deps import DB, api_reauthenticated, api_user

router = APIRouter(tags=["account"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=80)
    expires_in_days: int = Field(ge=1, le=PERSONAL_TOKEN_MAX_DAYS)


class TokenCreated(BaseModel):
    id: int
    name: str
    token: str = Field(description="Shown only in this answer; store it now.")
    created_at: datetime
    expires_at: datetime


def token_creator(request: Request, user: Annotated[User, Depends(api_user)]) -> User:
    """Anyone may make tokens; operators and officers only with the password given recently."""
    if user.role in STAFF_ROLES:
        return api_reauthenticated()(request, user)
    return user


@router.post("/me/tokens", status_code=201, response_model=TokenCreated)
def create_my_token(
    data: TokenCreate, request: Request, session: DB, user: Annotated[User, Depends(token_creator)]
) -> TokenCreated:
    """Make a named API token lasting `expires_in_days` (1–365) for a script or integration.
    The token is in this answer only. Operators and officers need a recent password
    (`POST /auth/reauthenticate`; else 401 `reauthentication_required`). Audited."""
    token, row = tokens.create_personal_token(
        session, user, actor_of(request, user), name=data.name, expires_in_days=data.expires_in_days
    )
    return TokenCreated(
        id=row.id or 0, name=row.name, token=token, created_at=row.created_at, expires_at=row.expires_at
    )
