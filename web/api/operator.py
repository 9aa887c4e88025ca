"""Operator back office: accounts the public cannot create for themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import col, select

from market import parties
from market.models import Organisation, Role, User
from web.actors import actor_of
from web.api.schemas import UserOut
from web.deps import DB, MAX_ID, api_role

router = APIRouter(prefix="/operator", tags=["operator"])

Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]


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
