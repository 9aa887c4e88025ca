"""Making one's own API token from the account's security page (shown once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from choso.errors import DomainError
from market import credentials, tokens
from market.credentials import STAFF_ROLES
from market.models import User
from web.actors import actor_of
from web.deps import DB, caller_credential, page_reauthenticated, page_user
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()


def token_creator(request: Request, user: Annotated[User, Depends(page_user)]) -> User:
    """Anyone may make tokens; operators and officers only with the password given recently."""
    if user.role in STAFF_ROLES:
        return page_reauthenticated()(request, user)
    return user


@router.post("/account/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request, session: DB, user: Annotated[User, Depends(token_creator)]
) -> Response:
    form = await request.form()
    name = form_text(form, "name", 80)
    days_text = form_text(form, "expires_in_days", 4)
    try:
        days = int(days_text) if days_text.isdecimal() else 0
        token, row = tokens.create_personal_token(
            session, user, actor_of(request, user), name=name, expires_in_days=days
        )
    except DomainError as exc:
        context = {
            "sessions": credentials.list_sessions(session, user),
            "tokens": credentials.list_tokens(session, user),
            "current_session_id": caller_credential(request).id,
            "token_errors": form_errors_from(exc),
            "token_values": {"name": name, "expires_in_days": days_text},
        }
        return render(request, "account_security.html", context, status=exc.status_code)
    return render(request, "account/token_created.html", {"token": token, "row": row})
