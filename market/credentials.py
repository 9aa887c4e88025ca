"""Browser sessions and API tokens: lifetimes by role, listing and revoking one's own, and
how recently the password was given.

Rules:

* A credential ends at the earliest of: its absolute cap, counted from its creation (buyers
  and producers: ``session_days`` / ``api_token_days``; operators and agency officers:
  ``session_hours_staff`` for both); its idle timeout, counted from its last use (buyers and
  producers: ``session_idle_minutes`` / ``api_token_idle_days``; staff:
  ``session_idle_minutes_staff``); its revocation or logout. Settings apply at once to
  existing credentials.
* The last use is written at most once per :data:`TOUCH_INTERVAL`, in a transaction of its
  own after the caller's lookup has ended, so that page views stay read-only for the rest.
* ``reauthenticated_at`` (sessions) and ``authenticated_at`` (tokens) say when the password
  was last given; sensitive actions ask for it again after ``reauth_minutes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from choso import audit
from choso.db import get_engine, utcnow
from choso.errors import NotFound
from choso.i18n import N_
from choso.settings import get_settings
from market import security
from market.models import ApiToken, Role, User, UserSession
from market.totp_models import LoginChallenge

log = logging.getLogger(__name__)

STAFF_ROLES = frozenset({Role.OPERATOR, Role.AGENCY_OFFICER})
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta


def session_lifetime(role: str) -> Lifetime:
    settings = get_settings()
    if role in STAFF_ROLES:
        return Lifetime(
            timedelta(minutes=settings.session_idle_minutes_staff),
            timedelta(hours=settings.session_hours_staff),
        )
    return Lifetime(timedelta(minutes=settings.session_idle_minutes), timedelta(days=settings.session_days))


# A personal token (made by its owner for an integration, market.tokens) lasts until its own
# expires_at, chosen within a year, whatever the role: revocation and the audit log watch it.
PERSONAL_TOKEN_MAX_DAYS = 365
PERSONAL_TOKEN_LIFETIME = Lifetime(
    timedelta(days=PERSONAL_TOKEN_MAX_DAYS), timedelta(days=PERSONAL_TOKEN_MAX_DAYS)
)


def token_lifetime(role: str) -> Lifetime:
    settings = get_settings()
    if role in STAFF_ROLES:
        return session_lifetime(role)
    return Lifetime(timedelta(days=settings.api_token_idle_days), timedelta(days=settings.api_token_days))


def is_alive(created_at: datetime, last_used_at: datetime, lifetime: Lifetime, now: datetime) -> bool:
    """Within both the absolute cap and the idle timeout (pure)."""
    return created_at + lifetime.absolute > now and last_used_at + lifetime.idle > now


def is_recent(authenticated_at: datetime, now: datetime) -> bool:
    """Was the password given recently enough for a sensitive action? (pure)"""
    return now - authenticated_at <= timedelta(minutes=get_settings().reauth_minutes)


@dataclass(frozen=True)
class Credential:
    """Who is calling, and with what: kept by the web layer for the request."""

    user: User
    kind: Literal["session", "token"]
    id: int
    authenticated_at: datetime

    @property
    def recently_authenticated(self) -> bool:
        return is_recent(self.authenticated_at, utcnow())


# --- browser sessions -----------------------------------------------------------------------


def start_session(session: Session, user: User, *, ip_address: str = "", user_agent: str = "") -> str:
    now = utcnow()
    token = security.new_token("sess")
    session.add(
        UserSession(
            token_hash=security.token_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + session_lifetime(user.role).absolute,
            last_seen_at=now,
            reauthenticated_at=now,
            ip_address=ip_address[:45],
            user_agent=user_agent[:200],
        )
    )
    session.commit()
    return token


def session_credential(session: Session, token: str) -> Credential | None:
    """The caller of a browser session token, if the session is alive and its user active."""
    row = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == UserSession.user_id)
        .where(UserSession.token_hash == security.token_digest(token))
    ).first()
    session.commit()  # end the read: what the request does next never runs inside it
    now = utcnow()
    if row is None or not _session_alive(row[0], row[1], now):
        return None
    user_session, user = row
    if now - user_session.last_seen_at >= TOUCH_INTERVAL:
        _touch(UserSession, "last_seen_at", user_session.id or 0, now)
    return Credential(user, "session", user_session.id or 0, user_session.reauthenticated_at)


def _session_alive(row: UserSession, user: User, now: datetime) -> bool:
    lifetime = session_lifetime(user.role)
    return (
        user.is_active and row.expires_at > now and is_alive(row.created_at, row.last_seen_at, lifetime, now)
    )


def end_session(session: Session, token: str) -> None:
    session.exec(delete(UserSession).where(col(UserSession.token_hash) == security.token_digest(token)))
    session.commit()


def list_sessions(session: Session, user: User) -> list[UserSession]:
    """The user's live browser sessions, most recently used first."""
    rows = session.exec(
        select(UserSession)
        .where(UserSession.user_id == user.id)
        .order_by(col(UserSession.last_seen_at).desc(), col(UserSession.id).desc())
    ).all()
    now = utcnow()
    return [row for row in rows if _session_alive(row, user, now)]


def revoke_session(
    session: Session, user: User, session_id: int, *, actor: audit.Actor | None = None
) -> None:
    """End one of the user's own sessions; someone else's is "not found". Audited."""
    result = session.exec(
        delete(UserSession).where(col(UserSession.id) == session_id, col(UserSession.user_id) == user.id)
    )
    if not result.rowcount:
        session.commit()  # nothing changed; a rollback would expire the caller, whom the 404 page shows
        raise NotFound(N_("No such session."))
    _audit_revocation(session, user, actor, "session.revoke", "user_session", session_id)
    session.commit()


def _audit_revocation(
    session: Session, user: User, actor: audit.Actor | None, action: str, object_type: str, object_id: object
) -> None:
    who = actor or audit.Actor(user.id, str(user.role), user.organisation_id)
    audit.record(session, who, action=action, object_type=object_type, object_id=str(object_id))


def end_other_sessions(
    session: Session, user: User, keep_id: int | None, *, actor: audit.Actor | None = None
) -> int:
    """End every session of the user but ``keep_id``; how many ended. Audited."""
    statement = delete(UserSession).where(col(UserSession.user_id) == user.id)
    if keep_id is not None:
        statement = statement.where(col(UserSession.id) != keep_id)
    ended = session.exec(statement).rowcount or 0
    _audit_revocation(session, user, actor, "session.revoke_others", "user", user.id)
    session.commit()
    return ended


# --- API tokens -----------------------------------------------------------------------------


def issue_api_token(session: Session, user: User, name: str = "api") -> tuple[str, ApiToken]:
    now = utcnow()
    token = security.new_token("chs")
    row = ApiToken(
        token_hash=security.token_digest(token),
        user_id=user.id,
        name=name,
        created_at=now,
        expires_at=now + token_lifetime(user.role).absolute,
        last_used_at=now,
        authenticated_at=now,
    )
    session.add(row)
    session.commit()
    return token, row


def token_credential(session: Session, token: str) -> Credential | None:
    """The caller of an API token that is alive (not revoked, expired or idle too long)."""
    row = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == ApiToken.user_id)
        .where(ApiToken.token_hash == security.token_digest(token))
    ).first()
    session.commit()
    now = utcnow()
    if row is None or not _token_alive(row[0], row[1], now):
        return None
    api_token, user = row
    if now - api_token.last_used_at >= TOUCH_INTERVAL:
        _touch(ApiToken, "last_used_at", api_token.id or 0, now)
    return Credential(user, "token", api_token.id or 0, api_token.authenticated_at)


def _token_alive(row: ApiToken, user: User, now: datetime) -> bool:
    lifetime = PERSONAL_TOKEN_LIFETIME if row.personal else token_lifetime(user.role)
    return (
        user.is_active
        and row.revoked_at is None
        and row.expires_at > now
        and is_alive(row.created_at, row.last_used_at, lifetime, now)
    )


def revoke_api_token(session: Session, token: str) -> None:
    session.exec(
        update(ApiToken)
        .where(col(ApiToken.token_hash) == security.token_digest(token), col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    session.commit()


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's live API tokens, most recently used first."""
    rows = session.exec(
        select(ApiToken)
        .where(ApiToken.user_id == user.id)
        .order_by(col(ApiToken.last_used_at).desc(), col(ApiToken.id).desc())
    ).all()
    now = utcnow()
    return [row for row in rows if _token_alive(row, user, now)]


def revoke_token(session: Session, user: User, token_id: int, *, actor: audit.Actor | None = None) -> None:
    """Revoke one of the user's own tokens; someone else's (or a revoked one) is "not found". Audited."""
    result = session.exec(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            col(ApiToken.user_id) == user.id,
            col(ApiToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if not result.rowcount:
        session.commit()  # nothing changed; a rollback would expire the caller, whom the 404 page shows
        raise NotFound(N_("No such token."))
    _audit_revocation(session, user, actor, "api_token.revoke", "api_token", token_id)
    session.commit()


def end_every_login(session: Session, user_id: int, now: datetime) -> tuple[int, int]:
    """End every browser session and API token of the user, and the logins half-way through
    their second step (market.totp), in the caller's transaction: (sessions, tokens) ended.
    A password reset and an operator's reset of two-factor authentication do it."""
    session.exec(delete(LoginChallenge).where(col(LoginChallenge.user_id) == user_id))  # type: ignore[call-overload]
    sessions = session.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))  # type: ignore[call-overload]
    tokens = session.exec(  # type: ignore[call-overload]
        update(ApiToken)
        .where(col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return sessions.rowcount or 0, tokens.rowcount or 0


# --- shared ---------------------------------------------------------------------------------


def mark_reauthenticated(session: Session, credential: Credential) -> None:
    """The password was just given again in this session or for this token."""
    now = utcnow()
    if credential.kind == "session":
        statement = update(UserSession).where(col(UserSession.id) == credential.id)
        statement = statement.values(reauthenticated_at=now, last_seen_at=now)
    else:
        statement = update(ApiToken).where(col(ApiToken.id) == credential.id)
        statement = statement.values(authenticated_at=now, last_used_at=now)
    session.exec(statement)
    session.commit()


def _touch(model: type[UserSession] | type[ApiToken], column: str, row_id: int, now: datetime) -> None:
    # Best effort: a busy database only makes the idle clock a little early for this request.
    table = model.__table__  # type: ignore[attr-defined]
    try:
        with get_engine().begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.id == row_id, table.c[column] < now - TOUCH_INTERVAL / 2)
                .values({column: now})
            )
    except OperationalError:
        log.warning("could not record the use of %s %s", table.name, row_id, exc_info=True)


def purge(session: Session, now: datetime) -> int:
    """Delete sessions and tokens that can no longer be used (the caller commits)."""
    removed = 0
    for staff in (True, False):
        roles = [role for role in Role if (role in STAFF_ROLES) == staff]
        users = select(User.id).where(col(User.role).in_(roles))
        session_life = session_lifetime(roles[0])
        token_life = token_lifetime(roles[0])
        for statement in (
            delete(UserSession).where(
                col(UserSession.user_id).in_(users),
                or_(
                    col(UserSession.expires_at) <= now,
                    col(UserSession.created_at) <= now - session_life.absolute,
                    col(UserSession.last_seen_at) <= now - session_life.idle,
                ),
            ),
            delete(ApiToken).where(
                col(ApiToken.user_id).in_(users),
                col(ApiToken.personal).is_(False),
                or_(
                    col(ApiToken.revoked_at).is_not(None),
                    col(ApiToken.expires_at) <= now,
                    col(ApiToken.created_at) <= now - token_life.absolute,
                    col(ApiToken.last_used_at) <= now - token_life.idle,
                ),
            ),
        ):
            removed += session.exec(statement).rowcount or 0  # type: ignore[call-overload]
    personal = delete(ApiToken).where(
        col(ApiToken.personal).is_(True),
        or_(col(ApiToken.revoked_at).is_not(None), col(ApiToken.expires_at) <= now),
    )
    return removed + (session.exec(personal).rowcount or 0)
