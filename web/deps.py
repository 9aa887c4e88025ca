"""Request dependencies: database session, cookies, CSRF, who is calling, recent re-authentication.

Pages authenticate with the session cookie and are CSRF-protected; the JSON API
authenticates only with bearer tokens, so a browser's cookies never authorise an API
call and the API needs no CSRF token.

Sensitive actions (changing a bank account, approving a payout, a refund) also need the
password given recently: depend on :func:`page_reauthenticated` or :func:`api_reauthenticated`
instead of the plain role guards.
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
from market import credentials, security
from market.credentials import Credential
from market.models import Role, User

SESSION_COOKIE = "choso_session"
CSRF_COOKIE = "choso_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURE_PREFIX = "__Host-"

# Ids are 32-bit on every backend; a larger number is bad input (422), not a driver overflow.
MAX_ID = 2**31 - 1
ObjectId = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- cookies --------------------------------------------------------------------------------


def cookies_secure(request: Request) -> bool:
    """Secure cookies: decided by configuration (CHOSO_COOKIE_SECURE, else CHOSO_PUBLIC_URL),
    or, on a development run on localhost, by whether this request came over HTTPS."""
    configured = get_settings().cookies_secure_by_default
    return configured if configured is not None else request.url.scheme == "https"


def cookie_name(request: Request, name: str) -> str:
    # __Host- cookies are Secure, for this host only, for every path: a sibling subdomain or a
    # plain-http page cannot plant or overwrite them (browsers enforce it).
    return SECURE_PREFIX + name if cookies_secure(request) else name


def read_cookie(request: Request, name: str) -> str | None:
    return request.cookies.get(cookie_name(request, name))


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    """Every cookie of ours: invisible to scripts, not sent on cross-site subrequests, and
    Secure with the __Host- prefix whenever the site is served over HTTPS."""
    response.set_cookie(
        cookie_name(request, name),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookies_secure(request),
    )


def delete_cookie(request: Request, response: Response, name: str) -> None:
    secure = cookies_secure(request)
    response.delete_cookie(cookie_name(request, name), path="/", httponly=True, samesite="lax", secure=secure)


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


class ReauthenticationRequired(NotAuthenticated):
    """The password must be given again first (a sensitive action)."""

    code = "reauthentication_required"


class PageReauthenticationRequired(ReauthenticationRequired):
    """The same, on a page: the handler sends the browser to the re-authentication page."""


# --- CSRF: a random seed in a cookie, and a form token that is its HMAC under our key -------
# bound to the browser session when there is one, so that a token obtained in one session
# (say, the attacker's own) is worthless in another, even with a planted seed cookie.


def new_csrf_seed() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(request: Request, seed: str | None = None) -> str:
    seed = seed or request.state.csrf_seed
    session_token = read_cookie(request, SESSION_COOKIE)
    binding = security.token_digest(session_token) if session_token else ""
    return security.sign(get_settings().effective_secret_key, f"csrf:{seed}:{binding}")


async def csrf_protect(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    seed = read_cookie(request, CSRF_COOKIE)
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    if not seed or not submitted or not secrets.compare_digest(csrf_token_for(request, seed), submitted):
        raise PermissionDenied(
            N_("The form has expired or did not come from this site. Reload and try again.")
        )


# --- who is calling -------------------------------------------------------------------------


def page_user_optional(request: Request, session: DB) -> User | None:
    token = read_cookie(request, SESSION_COOKIE)
    credential = credentials.session_credential(session, token) if token else None
    request.state.credential = credential
    request.state.user = credential.user if credential else None
    return request.state.user


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
    credential = credentials.token_credential(session, token) if token else None
    if credential is None:
        raise NotAuthenticated(N_("A valid API token is required."), headers={"WWW-Authenticate": "Bearer"})
    request.state.credential = credential
    return credential.user


def caller_credential(request: Request) -> Credential:
    """The session or token of the request (after page_user or api_user ran)."""
    credential: Credential = request.state.credential
    return credential


def _role_guard(base: Callable[..., User], roles: tuple[Role, ...]) -> Callable[..., User]:
    # No postponed annotations in this module: FastAPI must see `base` itself, a closure
    # variable it could not resolve from a string annotation.
    def guard(user: Annotated[User, Depends(base)]) -> User:
        if roles and user.role not in roles:
            raise PermissionDenied(N_("Your role does not allow this."))
        return user

    return guard


def page_role(*roles: Role) -> Callable[..., User]:
    return _role_guard(page_user, roles)


def api_role(*roles: Role) -> Callable[..., User]:
    return _role_guard(api_user, roles)


# --- recent re-authentication, for sensitive actions ----------------------------------------


def page_reauthenticated(*roles: Role) -> Callable[..., User]:
    """A page user (of one of ``roles``, if given) who entered the password in this session
    within CHOSO_REAUTH_MINUTES. Otherwise a GET is redirected to ``/reauth?next=<this page>``
    and any other method answers 401 with the re-authentication form (returning to the page
    the form was sent from)."""

    def guard(request: Request, user: Annotated[User, Depends(page_role(*roles))]) -> User:
        if not caller_credential(request).recently_authenticated:
            raise PageReauthenticationRequired(N_("Enter your password again to continue."))
        return user

    return guard


def api_reauthenticated(*roles: Role) -> Callable[..., User]:
    """An API caller (of one of ``roles``, if given) whose token was issued, or re-confirmed
    with ``POST /api/v1/auth/reauthenticate``, within CHOSO_REAUTH_MINUTES. Otherwise 401
    ``reauthentication_required`` with an RFC 9470 step-up challenge in WWW-Authenticate."""

    def guard(request: Request, user: Annotated[User, Depends(api_role(*roles))]) -> User:
        if not caller_credential(request).recently_authenticated:
            max_age = get_settings().reauth_minutes * 60
            challenge = (
                'Bearer error="insufficient_user_authentication", '
                f'error_description="The password must be given again", max_age="{max_age}"'
            )
            raise ReauthenticationRequired(
                N_("Enter your password again to continue."), headers={"WWW-Authenticate": challenge}
            )
        return user

    return guard


def client_ip(request: Request) -> str:
    """The client's address: the TCP peer, or what a trusted proxy (CHOSO_TRUSTED_PROXIES)
    said it was; uvicorn has applied that rule before the app sees the request."""
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")[:200]
