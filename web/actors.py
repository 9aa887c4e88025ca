"""Who acts in a request, as the audit log records it."""

from __future__ import annotations

from fastapi import Request

from choso.audit import Actor
from market.models import User


def actor_of(request: Request, user: User) -> Actor:
    client = request.client.host if request.client else None
    return Actor(
        user_id=user.id, role=str(user.role), organisation_id=user.organisation_id, ip_address=client
    )
