"""Request dependencies: database session, who is calling, CSRF.

Pages authenticate with the session cookie and are CSRF-protected; the JSON API
authenticates only with bearer tokens, so a browser's cookies never authorise an API
call and the API needs no CSRF token.
"""

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request, Response
from sqlmodel import Session

from choso.db import new_session
from choso.errors import NotAuthenticated, PermissionDenied
from choso.i18n import N_
from choso.settings import get_settings
from market import parties, security
from market.models import Role, User

SESSION_COOKIE = "choso_session"
CSRF_COOKIE = "choso_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Ids are 32-bit on every backend; a larger number is bad input (422), not a driver overflow.
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """Every cookie of ours: invisible to scripts, not sent on cross-site subrequests, and
    Secure when the site runs behind HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=get_settings().cookie_secure
    )


def get_db(request: Request) -> Iterator[Session]:
    # Safe methods never write (a rule of this app), so they get sessions that do not
    # take SQLite's write lock; on PostgreSQL both kinds are the same.
    session = new_session(read_only=request.method in SAFE_METHODS)
    try:
        yield session
    finally:
        session.close()


DB = Annotated[Session, Depends(get_db)]


class LoginRequired(NotAuthenticated):
    """A page needs a logged-in user: the handler redirects to the login page."""


# --- CSRF: a random seed in a cookie, and a form token that is its HMAC under our key ------


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(seed: str) -> str:
    return security.sign(get_settings().effective_secret_key, f"csrf:{seed}")


async def csrf_protect(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    seed = request.cookies.get(CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if (
        not seed
        or not submitted
        or not security.signature_matches(get_settings().effective_secret_key, f"csrf:{seed}", submitted)
    ):
        raise PermissionDenied(
            N_("The form has expired or did not come from this site. Reload and try again.")
        )


# --- who is calling -------------------------------------------------------------------------


def page_user_optional(request: Request, session: DB) -> User | None:
    token = request.cookies.get(SESSION_COOKIE)
    user = parties.user_for_session(session, token) if token else None
    request.state.user = user
    return user


def page_user(user: Annotated[User | None, Depends(page_user_optional)]) -> User:
    if user is None:
        raise LoginRequired(N_("Please log in first."))
    return user


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def api_user(request: Request, session: DB) -> User:
    token = bearer_token(request)
    user = parties.user_for_api_token(session, token) if token else None
    if user is None:
        raise NotAuthenticated(N_("A valid API token is required."), headers={"WWW-Authenticate": "Bearer"})
    return user


def _role_guard(base: Callable[..., User], roles: tuple[Role, ...]) -> Callable[..., User]:
    # No postponed annotations in this module: FastAPI must see `base` itself, a closure
    # variable it could not resolve from a string annotation.
    def guard(user: Annotated[User, Depends(base)]) -> User:
        if user.role not in roles:
            raise PermissionDenied(N_("Your role does not allow this."))
        return user

    return guard


def page_role(*roles: Role) -> Callable[..., User]:
    return _role_guard(page_user, roles)


def api_role(*roles: Role) -> Callable[..., User]:
    return _role_guard(api_user, roles)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
