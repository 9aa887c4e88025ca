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
from choso.settings import get_settings
from market import parties
from market.models import Role, User
from market.places import THANH_HOA, wards_of
from web.deps import (
    CSRF_COOKIE,
    DB,
    SESSION_COOKIE,
    client_ip,
    new_csrf_seed,
    page_user_optional,
    set_cookie,
)
from web.i18n import LOCALE_COOKIE, LOCALE_COOKIE_SECONDS
from web.pages import shop
from web.pages.common import form_errors_from, form_text, render, safe_next

router = APIRouter()
Viewer = Annotated[User | None, Depends(page_user_optional)]


def _logged_in(request: Request, session: Session, user: User, target: str) -> RedirectResponse:
    """Start a fresh browser session for ``user`` and send them on.

    The browser's previous session (if any) ends, and the CSRF seed is replaced, so that
    nothing chosen before the login (by whoever had this browser, or planted a cookie)
    carries over into it. The user's language becomes the page language.
    """
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        parties.end_session(session, previous)
    token = parties.start_session(session, user)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, SESSION_COOKIE, token, max_age=get_settings().session_days * 24 * 3600)
    set_cookie(response, CSRF_COOKIE, new_csrf_seed())
    set_cookie(response, LOCALE_COOKIE, user.locale, max_age=LOCALE_COOKIE_SECONDS)
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
    password = form_text(form, "password", 1024)
    errors: dict[str, str] = {}
    try:
        if password != form_text(form, "password_confirm", 1024):
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
        user = await _in_thread(parties.register, session, data)
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
            parties.authenticate, session, email, form_text(form, "password", 1024), client_ip(request)
        )
    except DomainError as exc:
        error = form_errors_from(exc)["__all__"]
        context = {"next": target, "email": email, "error": error}
        return render(request, "login.html", context, status=exc.status_code, headers=exc.headers)
    return await _in_thread(_logged_in, request, session, user, target)


@router.post("/logout")
def logout(request: Request, session: DB) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        parties.end_session(session, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def _in_thread(function: Any, *args: Any) -> Any:
    # argon2 and the database block; keep them off the event loop.
    return await run_in_threadpool(function, *args)
