"""The caller's own account: profile, notifications, browser sessions and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from market import credentials, notifications
from market.models import Notification, Organisation, User
from web.actors import actor_of
from web.api.schemas import ApiTokenOut, NotificationOut, SessionOut, UserOut
from web.deps import DB, ObjectId, api_user, caller_credential

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


@router.get("/me/sessions", response_model=list[SessionOut])
def my_sessions(user: Caller, session: DB) -> list[SessionOut]:
    """The caller's live browser sessions, most recently used first."""
    return [SessionOut.of(row) for row in credentials.list_sessions(session, user)]


@router.delete("/me/sessions/{session_id}", status_code=204)
def end_my_session(request: Request, session_id: ObjectId, user: Caller, session: DB) -> Response:
    """Log one of the caller's browsers out."""
    credentials.revoke_session(session, user, session_id, actor=actor_of(request, user))
    return Response(status_code=204)


@router.get("/me/tokens", response_model=list[ApiTokenOut])
def my_tokens(request: Request, user: Caller, session: DB) -> list[ApiTokenOut]:
    """The caller's live API tokens, most recently used first; `current` marks this one."""
    current = caller_credential(request).id
    return [ApiTokenOut.of(row, current) for row in credentials.list_tokens(session, user)]


@router.delete("/me/tokens/{token_id}", status_code=204)
def revoke_my_token(request: Request, token_id: ObjectId, user: Caller, session: DB) -> Response:
    """Revoke one of the caller's API tokens (this one too, if its id is given)."""
    credentials.revoke_token(session, user, token_id, actor=actor_of(request, user))
    return Response(status_code=204)
