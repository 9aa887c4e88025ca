"""A logged-in user's own page, and the operator's back office."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, select

from choso.errors import DomainError
from market import credentials, notifications, parties, totp
from market.models import Organisation, Product, Role, User
from market.places import THANH_HOA, describe, wards_of
from market.taxcode import format_tax_code
from web.actors import actor_of
from web.deps import DB, ObjectId, caller_credential, page_reauthenticated, page_role, page_user
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
RecentOperator = Annotated[User, Depends(page_reauthenticated(Role.OPERATOR))]


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, session: DB, user: Annotated[User, Depends(page_user)]) -> HTMLResponse:
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    items = notifications.for_user(session, user.id or 0)
    return render(
        request,
        "account.html",
        {
            "organisation": organisation,
            "organisation_tax_code": format_tax_code(organisation.tax_code)
            if organisation and organisation.tax_code
            else "",
            "place": describe(user.province_code, user.ward_code),
            "notifications": [(n, notifications.render(n)) for n in items],
        },
    )


@router.get("/account/security", response_class=HTMLResponse)
def account_security(
    request: Request, session: DB, user: Annotated[User, Depends(page_user)]
) -> HTMLResponse:
    """The user's browser sessions and API tokens, each of which can be ended here."""
    context = {
        "sessions": credentials.list_sessions(session, user),
        "tokens": credentials.list_tokens(session, user),
        "current_session_id": caller_credential(request).id,
    }
    return render(request, "account_security.html", context)


@router.post("/account/sessions/{session_id}/end")
def end_session(
    request: Request, session_id: ObjectId, session: DB, user: Annotated[User, Depends(page_user)]
) -> Response:
    credentials.revoke_session(session, user, session_id, actor=actor_of(request, user))
    return RedirectResponse("/account/security", status_code=303)


@router.post("/account/sessions/end-others")
def end_other_sessions(request: Request, session: DB, user: Annotated[User, Depends(page_user)]) -> Response:
    credentials.end_other_sessions(
        session, user, keep_id=caller_credential(request).id, actor=actor_of(request, user)
    )
    return RedirectResponse("/account/security", status_code=303)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: ObjectId, session: DB, user: Annotated[User, Depends(page_user)]
) -> Response:
    credentials.revoke_token(session, user, token_id, actor=actor_of(request, user))
    return RedirectResponse("/account/security", status_code=303)


def _operator_context(session: DB) -> dict[str, object]:
    role_counts = dict(session.exec(select(User.role, func.count()).group_by(User.role)).all())
    organisations = session.exec(select(Organisation).order_by(col(Organisation.name))).all()
    product_count = session.exec(select(func.count()).select_from(Product)).one()
    return {
        "role_counts": role_counts,
        "organisations": organisations,
        "product_count": product_count,
        "wards": wards_of(THANH_HOA),
        "format_tax_code": format_tax_code,
    }


@router.get("/operator", response_class=HTMLResponse)
def operator_home(request: Request, session: DB, _operator: Operator) -> HTMLResponse:
    return render(request, "operator.html", {**_operator_context(session), "values": {}, "errors": {}})


@router.post("/operator/agency-officers", response_class=HTMLResponse)
async def operator_create_officer(request: Request, session: DB, operator: Operator) -> Response:
    form = await request.form()
    fields = ("email", "full_name", "agency_name", "agency_tax_code", "ward_code", "street")
    values = {name: form_text(form, name, 254) for name in fields}
    try:
        data = parties.AgencyOfficerIn.model_validate(
            {
                "email": values["email"],
                "password": form_text(form, "password", 1024),
                "full_name": values["full_name"],
                "agency_name": values["agency_name"],
                "agency_tax_code": values["agency_tax_code"] or None,
                "address": {"ward_code": values["ward_code"], "street": values["street"]},
            }
        )
        parties.create_agency_officer(session, operator, data, actor=actor_of(request, operator))
    except (ValidationError, DomainError) as exc:
        status = exc.status_code if isinstance(exc, DomainError) else 422
        context = {**_operator_context(session), "values": values, "errors": form_errors_from(exc)}
        return render(request, "operator.html", context, status=status)
    return RedirectResponse("/operator?created=1", status_code=303)


# --- the operator's user page: a lost authenticator --------------------------------------------


@router.get("/operator/users", response_class=HTMLResponse)
def operator_find_user(request: Request, session: DB, _operator: Operator, email: str = "") -> Response:
    """Find an account by its e-mail address and open its page."""
    found = parties.find_user_by_email(session, email[:254]) if email.strip() else None
    if found is not None:
        return RedirectResponse(f"/operator/users/{found.id}", status_code=303)
    context = {"state": None, "email": email[:254], "error": None}
    return render(request, "account/operator_user.html", context, status=404 if email.strip() else 200)


@router.get("/operator/users/{user_id}", response_class=HTMLResponse)
def operator_user(request: Request, user_id: ObjectId, session: DB, _operator: Operator) -> HTMLResponse:
    """One account as an operator sees it, with its two-factor authentication state."""
    return _user_page(request, session, user_id)


@router.post("/operator/users/{user_id}/totp/reset", response_class=HTMLResponse)
def operator_reset_totp(
    request: Request, user_id: ObjectId, session: DB, operator: RecentOperator
) -> Response:
    """Remove the user's second factor (a lost phone): another operator only, with the password
    given recently; audited, and the user is told by e-mail."""
    try:
        totp.reset_by_operator(session, operator, user_id=user_id, actor=actor_of(request, operator))
    except DomainError as exc:
        if exc.status_code == 404:
            raise
        return _user_page(request, session, user_id, error=exc.translated(), status=exc.status_code)
    return RedirectResponse(f"/operator/users/{user_id}?reset=1", status_code=303)


def _user_page(
    request: Request, session: DB, user_id: int, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    state = totp.state_of(session, user_id)
    organisation = (
        session.get(Organisation, state.user.organisation_id) if state.user.organisation_id else None
    )
    context = {"state": state, "organisation": organisation, "email": "", "error": error}
    return render(request, "account/operator_user.html", context, status=status)
