"""Two-factor authentication pages: the login's second step, enrolment, recovery codes.

A login whose password was right but whose second step is due holds only a challenge cookie
(market.totp.LoginChallenge), never a session cookie: every other page still sees a visitor
and sends them to /login. Staff who have not enrolled are sent to enrol; enrolled users give
a code or a recovery code.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from choso.errors import DomainError
from market import totp
from market.models import User
from payments.qr_render import render_svg
from web.actors import actor_of
from web.deps import DB, delete_cookie, page_reauthenticated, page_user, read_cookie, set_cookie
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
CHALLENGE_COOKIE = "choso_2fa"
LoggedIn = Annotated[User, Depends(page_user)]


def after_password(request: Request, session: Session, user: User, target: str) -> Response:
    """Where a login goes once the password is right: a session, or the second step first."""
    from web.pages.auth import _logged_in  # the login page imports this module

    step = totp.second_step(session, user)
    session.commit()
    if step is None:
        return _logged_in(request, session, user, target)
    if step == "enrol":
        totp.pending_secret(session, user)
    token = totp.start_challenge(session, user, step, target)
    response = RedirectResponse("/login/totp" if step == "verify" else "/login/totp/enrol", status_code=303)
    set_cookie(
        request, response, CHALLENGE_COOKIE, token, max_age=int(totp.CHALLENGE_LIFETIME.total_seconds())
    )
    return response


def _challenge(request: Request, session: Session, purpose: totp.SecondStep) -> User | None:
    token = read_cookie(request, CHALLENGE_COOKIE)
    found = totp.find_challenge(session, token, purpose) if token else None
    return found[1] if found else None


def _target(request: Request, session: Session, purpose: totp.SecondStep) -> str:
    token = read_cookie(request, CHALLENGE_COOKIE) or ""
    found = totp.find_challenge(session, token, purpose)
    return found[0].target if found else "/account"


def _start_over() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _finish_login(request: Request, session: Session, user: User, purpose: totp.SecondStep) -> Response:
    from web.pages.auth import _logged_in

    target = _target(request, session, purpose)
    totp.end_challenge(session, read_cookie(request, CHALLENGE_COOKIE) or "")
    response = _logged_in(request, session, user, target)
    delete_cookie(request, response, CHALLENGE_COOKIE)
    return response


# --- the second step of a login -----------------------------------------------------------


@router.get("/login/totp", response_class=HTMLResponse)
def second_step_form(request: Request, session: DB) -> Response:
    if _challenge(request, session, "verify") is None:
        return _start_over()
    return render(request, "account/totp_verify.html", {"error": None})


@router.post("/login/totp", response_class=HTMLResponse)
async def second_step_submit(request: Request, session: DB) -> Response:
    form = await request.form()
    code, recovery = form_text(form, "code", 20), form_text(form, "recovery_code", 40)
    return await run_in_threadpool(_second_step, request, session, code, recovery)


def _second_step(request: Request, session: Session, code: str, recovery: str) -> Response:
    user = _challenge(request, session, "verify")
    if user is None:
        return _start_over()
    try:
        totp.verify(session, user, actor_of(request, user), code=code, recovery_code=recovery)
    except DomainError as exc:
        context = {"error": form_errors_from(exc).popitem()[1]}
        return render(
            request, "account/totp_verify.html", context, status=exc.status_code, headers=exc.headers
        )
    return _finish_login(request, session, user, "verify")


# --- enrolment while logging in (staff who must use it) -------------------------------------


def _enrol_context(session: Session, user: User, action: str, error: str | None) -> dict[str, Any]:
    secret = totp.pending_secret(session, user)
    uri = totp.provisioning_uri(user, secret)
    qr = "data:image/svg+xml;base64," + base64.b64encode(render_svg(uri, box_size=6)).decode()
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"secret": grouped, "qr": qr, "action": action, "error": error, "required": totp.is_required(user)}


@router.get("/login/totp/enrol", response_class=HTMLResponse)
def login_enrol_form(request: Request, session: DB) -> Response:
    user = _challenge(request, session, "enrol")
    if user is None or totp.find_credential(session, user.id or 0) is None:
        return _start_over()
    return render(
        request, "account/totp_enrol.html", _enrol_context(session, user, "/login/totp/enrol", None)
    )


@router.post("/login/totp/enrol", response_class=HTMLResponse)
async def login_enrol_submit(request: Request, session: DB) -> Response:
    form = await request.form()
    return await run_in_threadpool(_login_enrol, request, session, form_text(form, "code", 20))


def _login_enrol(request: Request, session: Session, code: str) -> Response:
    user = _challenge(request, session, "enrol")
    if user is None:
        return _start_over()
    try:
        codes = totp.confirm_enrolment(session, user, code, actor_of(request, user))
    except DomainError as exc:
        context = _enrol_context(session, user, "/login/totp/enrol", form_errors_from(exc).popitem()[1])
        return render(
            request, "account/totp_enrol.html", context, status=exc.status_code, headers=exc.headers
        )
    target = _target(request, session, "enrol")
    redirect = _finish_login(request, session, user, "enrol")
    page = render(request, "account/totp_codes.html", {"codes": codes, "next": target})
    for value in redirect.headers.getlist("set-cookie"):  # the new session starts with this page
        page.headers.append("set-cookie", value)
    return page


# --- one's own two-factor settings (logged in) ----------------------------------------------


@router.get("/account/totp", response_class=HTMLResponse)
def totp_settings(request: Request, session: DB, user: LoggedIn) -> HTMLResponse:
    context = {
        "enrolled": totp.is_enrolled(session, user),
        "required": totp.is_required(user),
        "codes_left": totp.recovery_codes_left(session, user),
    }
    return render(request, "account/totp.html", context)


@router.post("/account/totp/enrol", response_class=HTMLResponse)
async def account_enrol(request: Request, session: DB, user: LoggedIn) -> Response:
    """Without a code: show the secret to scan; with one: confirm it and show recovery codes."""
    form = await request.form()
    return await run_in_threadpool(_account_enrol, request, session, user, form_text(form, "code", 20))


def _account_enrol(request: Request, session: Session, user: User, code: str) -> Response:
    try:
        if not code:
            context = _enrol_context(session, user, "/account/totp/enrol", None)
            return render(request, "account/totp_enrol.html", context)
        codes = totp.confirm_enrolment(session, user, code, actor_of(request, user))
    except DomainError as exc:
        if totp.is_enrolled(session, user):
            return RedirectResponse("/account/totp", status_code=303)
        context = _enrol_context(session, user, "/account/totp/enrol", form_errors_from(exc).popitem()[1])
        return render(
            request, "account/totp_enrol.html", context, status=exc.status_code, headers=exc.headers
        )
    return render(request, "account/totp_codes.html", {"codes": codes, "next": "/account/totp"})


@router.post("/account/totp/recovery-codes", response_class=HTMLResponse)
def regenerate_codes(
    request: Request, session: DB, user: Annotated[User, Depends(page_reauthenticated())]
) -> HTMLResponse:
    """New recovery codes (the old ones stop working); needs the password given recently."""
    codes = totp.regenerate_recovery_codes(session, user, actor_of(request, user))
    return render(request, "account/totp_codes.html", {"codes": codes, "next": "/account/totp"})


@router.post("/account/totp/disable")
def disable(
    request: Request, session: DB, user: Annotated[User, Depends(page_reauthenticated())]
) -> Response:
    """Turn two-factor authentication off (not for operators and officers); needs the password."""
    totp.disable(session, user, actor_of(request, user))
    return RedirectResponse("/account/totp", status_code=303)
