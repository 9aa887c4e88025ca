"""Pages of password reset and e-mail verification by link (see market.password_reset).

Opening a link only shows a form: the change (new password, verified address) is a POST with
a CSRF token, so a mail scanner that follows links changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from choso.errors import DomainError, InvalidInput
from choso.i18n import N_
from market import password_reset
from market.models import User
from web.deps import DB, SESSION_COOKIE, client_ip, delete_cookie, page_user, page_user_optional
from web.errors import error_response
from web.pages.common import form_errors_from, form_password, form_text, render

router = APIRouter()
LinkToken = Annotated[str, Path(min_length=1, max_length=200)]
Viewer = Annotated[User | None, Depends(page_user_optional)]


@router.get("/password/forgot", response_class=HTMLResponse)
def forgot_form(request: Request, _viewer: Viewer) -> HTMLResponse:
    return render(request, "account/password_forgot.html", {"email": "", "error": None})


@router.post("/password/forgot", response_class=HTMLResponse)
async def forgot_submit(request: Request, session: DB, _viewer: Viewer) -> Response:
    """The same page whether or not the address has an account."""
    form = await request.form()
    email = form_text(form, "email", 254)
    try:
        if "@" not in email:
            raise InvalidInput(N_("Enter your e-mail address."), field="email")
        await run_in_threadpool(password_reset.request_reset, session, email, ip_address=client_ip(request))
    except DomainError as exc:
        context = {"email": email, "error": form_errors_from(exc).popitem()[1]}
        return render(
            request, "account/password_forgot.html", context, status=exc.status_code, headers=exc.headers
        )
    return render(request, "account/password_forgot_sent.html")


@router.get("/password/reset/{token}", response_class=HTMLResponse)
def reset_form(request: Request, token: LinkToken, session: DB, _viewer: Viewer) -> HTMLResponse:
    try:
        user = password_reset.check_reset_link(session, token)
    except DomainError as exc:
        return render(
            request, "account/link_invalid.html", {"error": exc.translated()}, status=exc.status_code
        )
    return render(request, "account/password_reset.html", {"account_email": user.email, "errors": {}})


@router.post("/password/reset/{token}", response_class=HTMLResponse)
async def reset_submit(request: Request, token: LinkToken, session: DB, _viewer: Viewer) -> Response:
    form = await request.form()
    password = form_password(form, "password")
    try:
        if password != form_password(form, "password_confirm"):
            raise InvalidInput(N_("The two passwords differ."), field="password_confirm")
        await run_in_threadpool(
            password_reset.reset_password, session, token, password, ip_address=client_ip(request)
        )
    except password_reset.LinkInvalid as exc:
        return render(
            request, "account/link_invalid.html", {"error": exc.translated()}, status=exc.status_code
        )
    except DomainError as exc:
        context = {"account_email": "", "errors": form_errors_from(exc)}
        return render(
            request, "account/password_reset.html", context, status=exc.status_code, headers=exc.headers
        )
    response = render(request, "account/password_reset_done.html")
    delete_cookie(request, response, SESSION_COOKIE)  # every login of the account has ended
    return response


@router.get("/verify-email/{token}", response_class=HTMLResponse)
def verify_form(request: Request, token: LinkToken, session: DB, _viewer: Viewer) -> HTMLResponse:
    try:
        user = password_reset.check_verification_link(session, token)
    except DomainError as exc:
        return render(
            request, "account/link_invalid.html", {"error": exc.translated()}, status=exc.status_code
        )
    return render(request, "account/verify_email.html", {"account_email": user.email, "done": False})


@router.post("/verify-email/{token}", response_class=HTMLResponse)
def verify_submit(request: Request, token: LinkToken, session: DB, _viewer: Viewer) -> HTMLResponse:
    try:
        user = password_reset.verify_email(session, token)
    except DomainError as exc:
        return render(
            request, "account/link_invalid.html", {"error": exc.translated()}, status=exc.status_code
        )
    return render(request, "account/verify_email.html", {"account_email": user.email, "done": True})


@router.post("/account/verify-email/resend")
def resend_verification(request: Request, session: DB, user: Annotated[User, Depends(page_user)]) -> Response:
    try:
        password_reset.resend_verification(session, user)
    except DomainError as exc:  # answered here, while the session can still load the page's user
        return error_response(request, exc.status_code, exc.code, exc.translated(), headers=exc.headers)
    return RedirectResponse("/account?verification=sent", status_code=303)
