"""Password reset and e-mail verification by e-mail link (the use cases; the messages and their
delivery are in market.account_email).

Rules:

* Asking for a reset link answers the same whether or not the address has an account (no
  enumeration), and is rate-limited per client address and per e-mail address, counted
  whether or not the account exists. The link is a random token, stored as a SHA-256 only,
  valid for one hour and once; using it voids every other reset link of the account.
* A new password follows the registration rules and is hashed with argon2id in the bounded
  password gate. Setting it ends every browser session and API token of the account, proves
  the address (it is marked verified), is audited, and is announced by e-mail — all in one
  transaction.
* Verification: registration sends a link (48 h, once); opening it and confirming marks the
  address verified. An unverified account may do everything a verified one may: its state is
  shown on the account page, with a rate-limited "send the link again".
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from choso import audit
from choso.db import utcnow
from choso.errors import DomainError, InvalidInput
from choso.i18n import N_
from choso.settings import get_settings
from market import account_email, credentials, parties, security, throttle
from market.account_models import TokenPurpose
from market.models import User

HOUR = timedelta(hours=1)
RESEND_MAX_PER_HOUR = 3


class LinkInvalid(DomainError):
    """The link is unknown, used, expired, or for an address the account no longer has."""

    status_code = 400
    code = "invalid_link"


def _request_limits(email: str, ip_address: str) -> list[throttle.Limit]:
    settings = get_settings()
    message = N_("Too many password reset requests. Try again in %(minutes)s min.")
    return [
        throttle.Limit("reset-ip", ip_address[:45], settings.password_reset_max_per_ip, HOUR, message),
        throttle.Limit("reset-email", email, settings.password_reset_max_per_email, HOUR, message),
    ]


def request_reset(session: Session, email: str, *, ip_address: str) -> None:
    """Send a reset link to ``email`` if an active account has it; nothing tells whether one does."""
    email = parties.normalize_email(email)[:254]
    now = utcnow()
    throttle.reserve(session, _request_limits(email, ip_address), now)
    user = session.exec(select(User).where(User.email == email, User.is_active == True)).first()  # noqa: E712
    if user is not None:
        key = f"password-reset:{user.id}:{security.new_token('r')}"
        account_email.queue(session, user, "password_reset", dedupe_key=key)
    session.commit()


def check_reset_link(session: Session, token: str) -> User:
    """The account a reset link is for, or LinkInvalid. Reads only."""
    found = account_email.find_live_token(session, token, TokenPurpose.PASSWORD_RESET, utcnow())
    session.commit()
    if found is None:
        raise LinkInvalid(N_("This link is invalid, already used or expired. Ask for a new one."))
    return found[1]


def reset_password(session: Session, token: str, password: str, *, ip_address: str) -> User:
    """Set the password of the reset link's account, and end every login of it."""
    user = check_reset_link(session, token)
    _check_new_password(password, user.email)
    with parties.password_slot():
        password_hash = security.hash_password(password)
    now = utcnow()
    found = account_email.find_live_token(session, token, TokenPurpose.PASSWORD_RESET, now)
    if found is None or found[1].id != user.id:
        session.rollback()
        raise LinkInvalid(N_("This link is invalid, already used or expired. Ask for a new one."))
    row, user = found
    if not account_email.use_tokens(session, user.id or 0, TokenPurpose.PASSWORD_RESET, row.id or 0, now):
        session.rollback()  # the same link, used by a concurrent request
        raise LinkInvalid(N_("This link is invalid, already used or expired. Ask for a new one."))
    user.password_hash = password_hash
    user.email_verified_at = user.email_verified_at or now  # the link came to this address
    session.add(user)
    ended = credentials.end_every_login(session, user.id or 0, now)
    audit.record(
        session,
        audit.Actor(user.id, str(user.role), user.organisation_id, ip_address),
        action="account.password_reset",
        object_type="user",
        object_id=user.id or 0,
        after={"sessions_ended": ended[0], "tokens_revoked": ended[1]},
    )
    account_email.queue(
        session,
        user,
        "password_changed",
        dedupe_key=f"password-changed:{user.id}:{row.id}",
        when=now.isoformat(),
        address=ip_address[:45],
    )
    session.commit()
    return user


def _check_new_password(password: str, email: str) -> None:
    if not 8 <= len(password) <= 128:
        raise InvalidInput(N_("The password must have between 8 and 128 characters."), field="password")
    parties._check_password_quality(password, email)


# --- e-mail verification --------------------------------------------------------------------


def queue_verification(session: Session, user: User) -> None:
    """In the caller's transaction: send ``user`` a link to confirm their address."""
    key = f"verify-email:{user.id}:{security.new_token('v')}"
    account_email.queue(session, user, "verify_email", dedupe_key=key)


def check_verification_link(session: Session, token: str) -> User:
    found = account_email.find_live_token(session, token, TokenPurpose.VERIFY_EMAIL, utcnow())
    session.commit()
    if found is None:
        raise LinkInvalid(N_("This link is invalid, already used or expired. Ask for a new one."))
    return found[1]


def verify_email(session: Session, token: str) -> User:
    """Mark the link's address verified (once)."""
    now = utcnow()
    found = account_email.find_live_token(session, token, TokenPurpose.VERIFY_EMAIL, now)
    if found is None or not account_email.use_tokens(
        session, found[1].id or 0, TokenPurpose.VERIFY_EMAIL, found[0].id or 0, now
    ):
        session.rollback()
        raise LinkInvalid(N_("This link is invalid, already used or expired. Ask for a new one."))
    user = found[1]
    user.email_verified_at = user.email_verified_at or now
    session.add(user)
    session.commit()
    return user


def resend_verification(session: Session, user: User) -> bool:
    """Send the verification link again (rate-limited per account); False if already verified."""
    if user.email_verified_at is not None:
        return False
    limit = throttle.Limit(
        "verify-resend",
        str(user.id),
        RESEND_MAX_PER_HOUR,
        HOUR,
        N_("The link was sent several times already. Try again in %(minutes)s min."),
    )
    throttle.reserve(session, [limit], utcnow())
    fresh = session.get(User, user.id)
    if fresh is None or fresh.email_verified_at is not None:
        session.commit()
        return False
    queue_verification(session, fresh)
    session.commit()
    return True
