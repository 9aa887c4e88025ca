"""Registration, login and logout pages (session cookie)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from choso.errors import DomainError, InvalidInput
from choso.i18n import N_, current_locale
from market import credentials, parties
from market.models import Role, User
from market.places import THANH_HOA, wards_of
from web.deps import (
    CSRF_COOKIE,
    DB,
    SESSION_COOKIE,
    caller_credential,
    client_ip,
    delete_cookie,
    new_csrf_seed,
    page_user,
    page_user_optional,
    read_cookie,
    set_cookie,
    user_agent,
)
from web.i18n import LOCALE_COOKIE, LOCALE_COOKIE_SECONDS
from web.pages import shop, totp
from web.pages.common import form_errors_from, form_password, form_text, render, safe_next

router = APIRouter()
Viewer = Annotated[User | None, Depends(page_user_optional)]


def _logged_in(request: Request, session: Session, user: User, target: str) -> RedirectResponse:
    """Start a fresh browser session for ``user`` and send them on.

    The browser's previous session (if any) ends, and the CSRF seed is replaced, so that
    nothing chosen before the login (by whoever had this browser, or planted a cookie)
    carries over into it. The user's language becomes the page language.
    """
    previous = read_cookie(request, SESSION_COOKIE)
    if previous:
        credentials.end_session(session, previous)
    token = credentials.start_session(
        session, user, ip_address=client_ip(request), user_agent=user_agent(request)
    )
    lifetime = credentials.session_lifetime(user.role).absolute
    response = RedirectResponse(target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(lifetime.total_seconds()))
    set_cookie(request, response, CSRF_COOKIE, new_csrf_seed())
    set_cookie(request, response, LOCALE_COOKIE, user.locale, max_age=LOCALE_COOKIE_SECONDS)
    shop.merge_visitor_cart(request, session, user, response)  # a visitor's cart joins the buyer's
    return response


def _register_context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {"values": values, "errors": errors, "wards": wards_of(THANH_HOA)}


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, _viewer: Viewer) -> HTMLResponse:
    return render(request, "register.html", _register_context({"role": "buyer"}, {}))


@router.post("/register", response_class=HTMLResponse)
async def register_submit(request: Request, session: DB, _viewer: Viewer) -> Response:
    form = await request.form()
    fields = ("email", "full_name", "phone", "role", "organisation_name", "tax_code", "ward_code", "street")
    values = {name: form_text(form, name, 254) for name in fields}
    password = form_password(form, "password")
    errors: dict[str, str] = {}
    try:
        if password != form_password(form, "password_confirm"):
            raise InvalidInput(N_("The two passwords differ."), field="password_confirm")
        data = parties.Registration.model_validate(
            {
                "email": values["email"],
                "password": password,
                "full_name": values["full_name"],
                "phone": values["phone"] or None,
                "role": values["role"] or Role.BUYER,
                "organisation_name": values["organisation_name"] or None,
                "tax_code": values["tax_code"] or None,
                "address": {"ward_code": values["ward_code"], "street": values["street"]}
                if values["ward_code"]
                else None,
                "locale": current_locale.get(),
            }
        )
        user = await _in_thread(_register, session, data, client_ip(request))
    except (ValidationError, DomainError) as exc:
        errors = form_errors_from(exc)
        status = exc.status_code if isinstance(exc, DomainError) else 422
        return render(request, "register.html", _register_context(values, errors), status=status)
    return await _in_thread(_logged_in, request, session, user, "/account")


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, _viewer: Viewer, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, session: DB) -> Response:
    form = await request.form()
    email = form_text(form, "email", 254)
    target = safe_next(form_text(form, "next", 500))
    try:
        user = await _in_thread(
            parties.authenticate, session, email, form_password(form, "password"), client_ip(request)
        )
    except DomainError as exc:
        error = form_errors_from(exc)["__all__"]
        context = {"next": target, "email": email, "error": error}
        return render(request, "login.html", context, status=exc.status_code, headers=exc.headers)
    return await _in_thread(totp.after_password, request, session, user, target)  # 2FA when due


@router.post("/logout")
def logout(request: Request, session: DB) -> RedirectResponse:
    token = read_cookie(request, SESSION_COOKIE)
    if token:
        credentials.end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    delete_cookie(request, response, SESSION_COOKIE)
    return response


@router.get("/reauth", response_class=HTMLResponse)
def reauth_form(
    request: Request, _user: Annotated[User, Depends(page_user)], next: str | None = None
) -> HTMLResponse:
    """Enter the password again before a sensitive action; then back to ``next``."""
    return render(request, "reauth.html", {"next": safe_next(next), "error": None})


@router.post("/reauth", response_class=HTMLResponse)
async def reauth_submit(
    request: Request, session: DB, _user: Annotated[User, Depends(page_user)]
) -> Response:
    form = await request.form()
    target = safe_next(form_text(form, "next", 500))
    try:
        await _in_thread(
            parties.reauthenticate,
            session,
            caller_credential(request),
            form_password(form, "password"),
            client_ip(request),
        )
    except DomainError as exc:
        error = form_errors_from(exc)["__all__"]
        context = {"next": target, "error": error}
        return render(request, "reauth.html", context, status=exc.status_code, headers=exc.headers)
    return RedirectResponse(target, status_code=303)


def _register(session: Session, data: parties.Registration, ip_address: str) -> User:
    return parties.register(session, data, client_ip=ip_address)


async def _in_thread(function: Any, *args: Any) -> Any:
    # argon2 and the database block; keep them off the event loop.
    return await run_in_threadpool(function, *args)
