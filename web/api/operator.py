"""Operator back office: accounts the public cannot create for themselves."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import col, select

from market import parties, totp
from market.models import Organisation, Role, User
from web.actors import actor_of
from web.api.schemas import ErrorOut, UserOut
from web.deps import DB, MAX_ID, ObjectId, api_reauthenticated, api_role

router = APIRouter(prefix="/operator", tags=["operator"])

Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
RecentOperator = Annotated[User, Depends(api_reauthenticated(Role.OPERATOR))]

_TOTP_RESET_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "`reauthentication_required`: give the password again "
        "(`POST /auth/reauthenticate`) or get a new token",
    },
    403: {
        "model": ErrorOut,
        "description": "Not an operator; `four_eyes`: one's own (another operator must)",
    },
    404: {"model": ErrorOut, "description": "No such user"},
    409: {"model": ErrorOut, "description": "The user has no two-factor authentication"},
}


@router.get("/users", response_model=list[UserOut])
def list_users(
    _operator: Operator,
    session: DB,
    role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[UserOut]:
    query = select(User, Organisation).outerjoin(Organisation, col(Organisation.id) == User.organisation_id)
    if role is not None:
        query = query.where(User.role == role)
    rows = session.exec(query.order_by(col(User.id)).limit(limit).offset(offset)).all()
    return [UserOut.of(user, org) for user, org in rows]


@router.post("/agency-officers", status_code=201, response_model=UserOut)
def create_agency_officer(
    request: Request, operator: Operator, data: parties.AgencyOfficerIn, session: DB
) -> UserOut:
    """Open an officer account (its agency created if new); the officer is sent a link to choose
    their own password. Audited."""
    officer = parties.create_agency_officer(session, operator, data, actor=actor_of(request, operator))
    return UserOut.of(officer, session.get(Organisation, officer.organisation_id))


@router.delete("/users/{user_id}/totp", status_code=204, responses=_TOTP_RESET_ERRORS)
def reset_totp(request: Request, user_id: ObjectId, operator: RecentOperator, session: DB) -> Response:
    """Remove a user's two-factor authentication (a lost authenticator): they log in with the
    password alone, and enrol again. Another operator's only (four eyes), with a token issued or
    re-confirmed within `CHOSO_REAUTH_MINUTES`. Ends the user's sessions and tokens; audited
    (`totp.reset_by_operator`); the user is told by e-mail and notification."""
    totp.reset_by_operator(session, operator, user_id=user_id, actor=actor_of(request, operator))
    return Response(status_code=204)
