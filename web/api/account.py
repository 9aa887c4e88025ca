"""The caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from market import notifications
from market.models import Organisation, User
from web.api.schemas import NotificationOut, UserOut
from web.deps import DB, api_user

router = APIRouter(tags=["account"])

Caller = Annotated[User, Depends(api_user)]


@router.get("/me", response_model=UserOut)
def me(user: Caller, session: DB) -> UserOut:
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return UserOut.of(user, organisation)


@router.get("/me/notifications", response_model=list[NotificationOut])
def my_notifications(user: Caller, session: DB) -> list[NotificationOut]:
    return [
        NotificationOut(
            id=n.id or 0,
            kind=n.kind,
            message=notifications.render(n),
            created_at=n.created_at,
            read=n.read_at is not None,
        )
        for n in notifications.for_user(session, user.id or 0)
    ]
