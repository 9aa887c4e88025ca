"""Two-factor authentication: time-based one-time passwords (RFC 6238, via pyotp) and recovery codes.

Rules:

* Operators and agency officers must use it (:func:`is_required`); anyone else may. A login
  whose password was right but whose second step is due becomes a :class:`LoginChallenge`,
  not a session: it opens only the second-step pages (a code, or enrolment for staff who
  have not enrolled yet).
* The secret is stored encrypted (Fernet, the key derived from ``CHOSO_TOTP_KEY``, else from
  ``CHOSO_SECRET_KEY``) and shown only until enrolment is confirmed by a first valid code.
* A code is accepted for the current 30-second time step or one either side, and only once:
  the step of the last accepted code is stored and an accepted code must be for a later step.
  The check-and-store is one conditional UPDATE, so two concurrent uses of a code cannot both
  pass.
* Code attempts are counted per user (``login_max_failures`` per ``login_window_seconds``)
  before the code is checked, as logins are (market.throttle); a success clears the counter.
* Ten recovery codes are shown once, at enrolment or on regeneration; only salted SHA-256
  digests are kept, and each is spent by a conditional UPDATE (single use).
* Every enrolment, failure, recovery-code use, regeneration and disabling writes an audit
  record in the transaction of the action. Each public function that changes data commits.
* A user who lost their authenticator asks an operator: :func:`reset_by_operator` removes the
  second factor (four eyes: never the operator's own; the route asks for the operator's recent
  password), ends the user's sessions and tokens (a lost phone may hold one), is audited, and
  tells the user by e-mail and notification. The user logs in with the password alone, then
  enrols again (staff must, at that login).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from choso import audit
from choso.audit import Actor
from choso.db import utcnow
from choso.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from market import account_email, credentials, security, throttle
from market.credentials import STAFF_ROLES
from market.models import Role, User
from market.totp_models import LoginChallenge, RecoveryCode, TotpCredential

ISSUER = "Chợ Số"
STEP_SECONDS = 30
WINDOW_STEPS = 1  # a code of the previous or next step is accepted too (clock drift, typing time)
RECOVERY_CODE_COUNT = 10
CHALLENGE_LIFETIME = timedelta(minutes=10)
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper

SecondStep = Literal["verify", "enrol"]


class TotpRequired(NotAuthenticated):
    code = "totp_required"


class TotpEnrolmentRequired(NotAuthenticated):
    code = "totp_enrolment_required"


class WrongCode(NotAuthenticated):
    code = "totp_invalid"


class OwnSecondFactor(PermissionDenied):
    """An operator may not reset their own second factor: another operator must (four eyes)."""

    code = "four_eyes"


# --- the secret, encrypted ------------------------------------------------------------------


def _fernet() -> Fernet:
    settings = get_settings()
    material = settings.totp_key or settings.effective_secret_key
    key = hashlib.sha256(f"choso-totp\x00{material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(row: TotpCredential) -> str:
    try:
        return _fernet().decrypt(row.secret_encrypted.encode()).decode()
    except InvalidToken:  # the key changed: the user must enrol again (an operator resets it)
        raise NotAuthenticated(
            N_("Two-factor authentication cannot be checked; contact an operator.")
        ) from None


# --- pure helpers ---------------------------------------------------------------------------


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_for(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step within the window whose code ``code`` is, if any (pure)."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    current = time_step(now)
    for step in range(current - WINDOW_STEPS, current + WINDOW_STEPS + 1):
        if hmac.compare_digest(code_for(secret, step), code):
            return step
    return None


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def _normalised_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_digest(user_id: int, code: str) -> str:
    return hashlib.sha256(f"{user_id}\x00{_normalised_recovery_code(code)}".encode()).hexdigest()


def _new_recovery_code() -> str:
    letters = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{letters[:5]}-{letters[5:]}"


def is_required(user: User) -> bool:
    return user.role in STAFF_ROLES


# --- lookups ----------------------------------------------------------------------------------


def find_credential(session: Session, user_id: int) -> TotpCredential | None:
    return session.exec(select(TotpCredential).where(TotpCredential.user_id == user_id)).first()


def is_enrolled(session: Session, user: User) -> bool:
    row = find_credential(session, user.id or 0)
    return row is not None and row.confirmed_at is not None


def second_step(session: Session, user: User) -> SecondStep | None:
    """What a login needs after the password: a code, enrolment, or nothing."""
    if is_enrolled(session, user):
        return "verify"
    return "enrol" if is_required(user) else None


def recovery_codes_left(session: Session, user: User) -> int:
    rows = session.exec(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, col(RecoveryCode.used_at).is_(None))
    ).all()
    return len(rows)


@dataclass(frozen=True)
class SecondFactorState:
    """What an operator sees of a user's second factor (never the secret or the codes)."""

    user: User
    enrolled: bool
    pending: bool  # a secret shown for enrolment, not confirmed yet
    recovery_codes_left: int
    required: bool


def state_of(session: Session, user_id: int) -> SecondFactorState:
    """A user's second-factor state, for the operator's user page; NotFound if no such user."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    row = find_credential(session, user_id)
    enrolled = row is not None and row.confirmed_at is not None
    left = recovery_codes_left(session, user) if enrolled else 0
    return SecondFactorState(user, enrolled, row is not None and not enrolled, left, is_required(user))


# --- enrolment --------------------------------------------------------------------------------


def pending_secret(session: Session, user: User) -> str:
    """The secret to show for enrolment: the pending one, or a new one. Conflict once enrolled."""
    row = find_credential(session, user.id or 0)
    if row is not None and row.confirmed_at is not None:
        raise Conflict(N_("Two-factor authentication is already set up."))
    if row is not None:
        return decrypt_secret(row)
    secret = pyotp.random_base32()
    session.add(TotpCredential(user_id=user.id, secret_encrypted=_encrypt(secret)))
    session.commit()
    return secret


def confirm_enrolment(session: Session, user: User, code: str, actor: Actor) -> list[str]:
    """The first valid code confirms the pending secret; the new recovery codes (shown once)."""
    now = utcnow()
    _reserve_attempt(session, user, now)
    row = find_credential(session, user.id or 0)
    if row is None or row.confirmed_at is not None:
        session.rollback()
        raise Conflict(N_("Start the set-up again: there is no pending secret."))
    step = matching_step(decrypt_secret(row), code, now)
    if step is None:
        _failed(session, user, actor, "enrolment")
        raise InvalidInput(
            N_("That code is not right. Check the time on your phone and try again."), field="code"
        )
    row.confirmed_at, row.last_step = now, step
    session.add(row)
    codes = _replace_recovery_codes(session, user)
    throttle.forget(session, [_attempt_limit(user)])
    audit.record(session, actor, action="totp.enrolled", object_type="user", object_id=user.id or 0)
    session.commit()
    return codes


def confirmed_credential(user_id: int, secret: str, now: datetime) -> TotpCredential:
    """An enrolled credential for a known secret, without recovery codes (test factories)."""
    return TotpCredential(user_id=user_id, secret_encrypted=_encrypt(secret), confirmed_at=now)


def regenerate_recovery_codes(session: Session, user: User, actor: Actor) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    if not is_enrolled(session, user):
        raise Conflict(N_("Two-factor authentication is not set up."))
    codes = _replace_recovery_codes(session, user)
    audit.record(
        session, actor, action="totp.recovery_codes_regenerated", object_type="user", object_id=user.id or 0
    )
    session.commit()
    return codes


def disable(session: Session, user: User, actor: Actor) -> None:
    """Turn two-factor authentication off: refused to operators and agency officers."""
    if is_required(user):
        raise PermissionDenied(N_("Your role must use two-factor authentication."))
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    removed = session.exec(delete(TotpCredential).where(col(TotpCredential.user_id) == user.id)).rowcount
    if removed:
        audit.record(session, actor, action="totp.disabled", object_type="user", object_id=user.id or 0)
    session.commit()


def reset_by_operator(session: Session, operator: User, *, user_id: int, actor: Actor) -> User:
    """Remove another user's second factor (a lost phone), end their logins, audit it and tell
    them by e-mail and notification. Conflict if they have none; NotFound if no such user."""
    if operator.role != Role.OPERATOR:
        raise PermissionDenied(N_("Your role does not allow this."))
    if user_id == operator.id:
        raise OwnSecondFactor(N_("Another operator must reset your own two-factor authentication."))
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("No such user."))
    row = find_credential(session, user_id)
    if row is None:
        session.commit()  # nothing changed; a rollback would expire the operator the page shows
        raise Conflict(N_("This user has no two-factor authentication to reset."))
    now = utcnow()
    codes_left = recovery_codes_left(session, user)
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user_id))
    session.exec(delete(TotpCredential).where(col(TotpCredential.user_id) == user_id))
    ended = credentials.end_every_login(session, user_id, now)
    throttle.forget(session, [_attempt_limit(user)])
    audit.record(
        session,
        actor,
        action="totp.reset_by_operator",
        object_type="user",
        object_id=user_id,
        before={"enrolled": row.confirmed_at is not None, "recovery_codes_left": codes_left},
        after={"sessions_ended": ended[0], "tokens_revoked": ended[1]},
    )
    _announce_reset(session, user, operator, now)
    session.commit()
    return user


def _announce_reset(session: Session, user: User, operator: User, now: datetime) -> None:
    key = f"totp-reset:{user.id}:{now.isoformat()}"
    account_email.queue(session, user, "totp_reset", dedupe_key=key, when=now.isoformat())
    enqueue_after_commit(
        session,
        "market.deliver_notification",
        user_id=user.id,
        kind="totp_reset",
        params={"by": operator.full_name},
        dedupe_key=key,
    )


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=recovery_code_digest(user.id or 0, code)))
    return codes


# --- the second step ------------------------------------------------------------------------


def verify(session: Session, user: User, actor: Actor, *, code: str = "", recovery_code: str = "") -> None:
    """Accept a TOTP code (once) or a recovery code (once), or raise WrongCode / RateLimited."""
    now = utcnow()
    _reserve_attempt(session, user, now)
    row = find_credential(session, user.id or 0)
    if row is None or row.confirmed_at is None:
        session.rollback()
        raise TotpEnrolmentRequired(N_("Set up two-factor authentication first."))
    accepted = _spend_recovery_code(session, user, recovery_code, now) if recovery_code else False
    if not recovery_code:
        step = matching_step(decrypt_secret(row), code, now)
        accepted = step is not None and _spend_step(session, row, step)
    if not accepted:
        _failed(session, user, actor, "recovery_code" if recovery_code else "code")
        raise WrongCode(N_("That code is not right, or it was already used."))
    if recovery_code:
        left = recovery_codes_left(session, user)
        audit.record(
            session,
            actor,
            action="totp.recovery_code_used",
            object_type="user",
            object_id=user.id or 0,
            after={"recovery_codes_left": left},
        )
    throttle.forget(session, [_attempt_limit(user)])
    session.commit()


def check_api_login(session: Session, user: User, actor: Actor, *, code: str, recovery_code: str) -> None:
    """The second factor of ``POST /auth/token``: required once enrolled, and from staff."""
    step = second_step(session, user)
    session.commit()
    if step == "enrol":
        raise TotpEnrolmentRequired(
            N_("Set up two-factor authentication on the website first (log in there once).")
        )
    if step == "verify" and not (code or recovery_code):
        raise TotpRequired(N_("This account needs a code from your authenticator app (totp_code)."))
    if step == "verify":
        verify(session, user, actor, code=code, recovery_code=recovery_code)


def _spend_step(session: Session, row: TotpCredential, step: int) -> bool:
    result = session.exec(
        update(TotpCredential)
        .where(
            col(TotpCredential.id) == row.id,
            or_(col(TotpCredential.last_step).is_(None), col(TotpCredential.last_step) < step),
        )
        .values(last_step=step)
    )
    return bool(result.rowcount)


def _spend_recovery_code(session: Session, user: User, code: str, now: datetime) -> bool:
    result = session.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == recovery_code_digest(user.id or 0, code),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)


def _attempt_limit(user: User) -> throttle.Limit:
    settings = get_settings()
    return throttle.Limit(
        "totp-user",
        str(user.id),
        settings.login_max_failures,
        timedelta(seconds=settings.login_window_seconds),
        N_("Too many wrong codes. Try again in %(minutes)s min."),
    )


def _reserve_attempt(session: Session, user: User, now: datetime) -> None:
    throttle.reserve(session, [_attempt_limit(user)], now)


def _failed(session: Session, user: User, actor: Actor, kind: str) -> None:
    audit.record(
        session, actor, action="totp.failed", object_type="user", object_id=user.id or 0, after={"kind": kind}
    )
    session.commit()


# --- half-authenticated logins ----------------------------------------------------------------


def start_challenge(session: Session, user: User, purpose: SecondStep, target: str) -> str:
    """A login waiting for its second step; the token goes into a cookie."""
    now = utcnow()
    session.exec(delete(LoginChallenge).where(col(LoginChallenge.expires_at) <= now))
    token = security.new_token("tfa")
    session.add(
        LoginChallenge(
            token_hash=security.token_digest(token),
            user_id=user.id,
            purpose=purpose,
            target=target[:500],
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    session.commit()
    return token


def find_challenge(session: Session, token: str, purpose: SecondStep) -> tuple[LoginChallenge, User] | None:
    row = session.exec(
        select(LoginChallenge, User)
        .join(User, col(User.id) == LoginChallenge.user_id)
        .where(LoginChallenge.token_hash == security.token_digest(token), LoginChallenge.purpose == purpose)
    ).first()
    session.commit()
    if row is None or row[0].expires_at <= utcnow() or not row[1].is_active:
        return None
    return row[0], row[1]


def end_challenge(session: Session, token: str) -> None:
    session.exec(delete(LoginChallenge).where(col(LoginChallenge.token_hash) == security.token_digest(token)))
    session.commit()
