"""Password reset and e-mail verification by e-mail link (see market.password_reset)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from choso.i18n import N_, gettext_
from choso.text import SafeText
from market import parties, password_reset
from market.models import User
from web.deps import DB, api_user, client_ip

router = APIRouter(tags=["auth"])

LinkToken = Annotated[SafeText, Field(min_length=1, max_length=200)]
SENT = N_("If an account has this address, a link to choose a new password is on its way.")


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class PasswordResetAccepted(BaseModel):
    status: str = "accepted"
    message: str


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken
    password: parties.Password


class EmailVerificationConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken


class EmailVerificationOut(BaseModel):
    email: str
    verified: bool
    verified_at: datetime | None


@router.post("/auth/password-reset", status_code=202, response_model=PasswordResetAccepted)
def request_password_reset(
    data: PasswordResetRequest, request: Request, session: DB
) -> PasswordResetAccepted:
    """Send a link to choose a new password (valid 1 hour, once). The answer is the same whether
    or not the address has an account. Rate-limited per client address and per e-mail (429)."""
    password_reset.request_reset(session, str(data.email), ip_address=client_ip(request))
    return PasswordResetAccepted(message=gettext_(SENT))


@router.post("/auth/password-reset/confirm", status_code=204)
def confirm_password_reset(data: PasswordResetConfirm, request: Request, session: DB) -> Response:
    """Set a new password with the token from the e-mailed link. Every browser session and API
    token of the account ends; the owner is told by e-mail. 400 `invalid_link` for an unknown,
    used or expired token."""
    password_reset.reset_password(session, data.token, data.password, ip_address=client_ip(request))
    return Response(status_code=204)


@router.post("/auth/verify-email", status_code=204)
def confirm_email(data: EmailVerificationConfirm, session: DB) -> Response:
    """Mark the address verified with the token from the e-mailed link (48 hours, once)."""
    password_reset.verify_email(session, data.token)
    return Response(status_code=204)


@router.get("/me/email-verification", response_model=EmailVerificationOut)
def my_email_verification(user: Annotated[User, Depends(api_user)]) -> EmailVerificationOut:
    """Whether the caller's address is verified."""
    verified_at = user.email_verified_at
    return EmailVerificationOut(email=user.email, verified=verified_at is not None, verified_at=verified_at)


@router.post("/me/email-verification/resend", status_code=204)
def resend_email_verification(user: Annotated[User, Depends(api_user)], session: DB) -> Response:
    """Send the verification link again (nothing if already verified); 3 per hour (429)."""
    password_reset.resend_verification(session, user)
    return Response(status_code=204)
