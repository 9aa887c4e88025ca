"""The caller's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from market import notifications
from market.models import Notification, Organisation, User
from web.api.schemas import NotificationOut, UserOut
from web.deps import DB, ObjectId, api_user

router = APIRouter(tags=["account"])

Caller = Annotated[User, Depends(api_user)]


@router.get("/me", response_model=UserOut)
def me(user: Caller, session: DB) -> UserOut:
    organisation = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return UserOut.of(user, organisation)


def _out(notification: Notification) -> NotificationOut:
    return NotificationOut(
        id=notification.id or 0,
        kind=notification.kind,
        message=notifications.render(notification),
        created_at=notification.created_at,
        read=notification.read_at is not None,
    )


@router.get("/me/notifications", response_model=list[NotificationOut])
def my_notifications(user: Caller, session: DB) -> list[NotificationOut]:
    """The caller's latest notifications, newest first."""
    return [_out(n) for n in notifications.for_user(session, user.id or 0)]


@router.post("/me/notifications/{notification_id}/read", response_model=NotificationOut)
def mark_notification_read(notification_id: ObjectId, user: Caller, session: DB) -> NotificationOut:
    return _out(notifications.mark_read(session, user.id or 0, notification_id))
