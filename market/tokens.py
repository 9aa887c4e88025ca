"""Personal API tokens: made by their owner (for a script or an integration), named, with an
expiry of 1 to 365 days chosen at creation. Shown once; only the SHA-256 is stored (as for
every token, market.credentials), and each creation is audited in its own transaction.
Listing and revoking are market.credentials.list_tokens / revoke_token (one's own only).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from choso import audit
from choso.audit import Actor
from choso.db import utcnow
from choso.errors import InvalidInput
from choso.i18n import N_
from market import security
from market.credentials import PERSONAL_TOKEN_MAX_DAYS
from market.models import ApiToken, User


def create_personal_token(
    session: Session, user: User, actor: Actor, *, name: str, expires_in_days: int
) -> tuple[str, ApiToken]:
    """A new token of ``user``'s (the token itself, returned only here, and its row)."""
    if not 1 <= expires_in_days <= PERSONAL_TOKEN_MAX_DAYS:
        raise InvalidInput(N_("A token lasts from 1 to 365 days."), field="expires_in_days")
    name = name.strip()
    if not name:
        raise InvalidInput(N_("Give the token a name."), field="name")
    now = utcnow()
    token = security.new_token("chs")
    row = ApiToken(
        token_hash=security.token_digest(token),
        user_id=user.id,
        name=name[:80],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days),
        last_used_at=now,
        authenticated_at=now,
        personal=True,
    )
    session.add(row)
    session.flush()
    after = {"name": row.name, "expires_at": row.expires_at.isoformat()}
    audit.record(
        session,
        actor,
        action="api_token.created",
        object_type="api_token",
        object_id=row.id or 0,
        after=after,
    )
    session.commit()
    session.refresh(row)
    return token, row
