"""Account e-mail: what is sent (password reset, address verification, password changed), and
how — queued in the action's transaction, sent by a job, tried again while the server is down.

Rules:

* :func:`queue` adds an :class:`OutgoingEmail` row to the caller's transaction and enqueues the
  job ``market.send_email`` by name through the outbox: no action, no e-mail; a rollback takes
  both away.
* The job claims the row (a conditional UPDATE, so two runs never send it twice), renders the
  message in the user's language, makes the link's token if the kind has one (stored as a
  SHA-256 only, committed *before* the message leaves so the link works when it arrives),
  and hands it to SMTP. A server that is down, or answers 4xx, gets the message again after
  ``smtp_retry_seconds`` doubled per try (up to ``smtp_retry_max_seconds``, at most
  ``smtp_max_attempts`` tries), by the periodic job ``market.retry_emails``; the token of a
  try that failed is deleted with it. A 5xx answer gives up at once.
* Delivery is at least once: a run that dies between the server's acceptance and its commit
  is tried again after the claim lapses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from choso import mail
from choso.db import utcnow
from choso.i18n import N_, current_locale, format_local_datetime, gettext_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from market import security
from market.account_models import AccountToken, OutgoingEmail, TokenPurpose
from market.models import User

log = logging.getLogger(__name__)

SEND_TASK = "market.send_email"
RESET_LIFETIME = timedelta(hours=1)
VERIFY_LIFETIME = timedelta(hours=48)
STAFF_SETUP_LIFETIME = timedelta(hours=48)


@dataclass(frozen=True)
class Kind:
    subject: str
    paragraphs: tuple[str, ...]  # message ids; %(name)s, %(link)s, %(hours)s… filled at send time
    purpose: TokenPurpose | None = None
    lifetime: timedelta = timedelta(0)
    path: str = ""  # the link: <public url><path><token>


KINDS: dict[str, Kind] = {
    "password_reset": Kind(
        N_("Reset your Chợ Số password"),
        (
            N_("Hello %(name)s,"),
            N_("Someone (we hope you) asked to reset the password of your Chợ Số account."),
            N_("Choose a new password here, within %(hours)s hour(s); the link works once:"),
            "%(link)s",
            N_("If you did not ask for this, ignore this e-mail: your password stays as it is."),
        ),
        TokenPurpose.PASSWORD_RESET,
        RESET_LIFETIME,
        "/password/reset/",
    ),
    "verify_email": Kind(
        N_("Confirm your e-mail address for Chợ Số"),
        (
            N_("Hello %(name)s,"),
            N_("Confirm that this address is yours by opening this link within %(hours)s hour(s):"),
            "%(link)s",
            N_("If you did not open a Chợ Số account, ignore this e-mail."),
        ),
        TokenPurpose.VERIFY_EMAIL,
        VERIFY_LIFETIME,
        "/verify-email/",
    ),
    "staff_setup": Kind(
        N_("Your Chợ Số officer account"),
        (
            N_("Hello %(name)s,"),
            N_("An operator opened a Chợ Số officer account for you with this address."),
            N_("Choose your own password here, within %(hours)s hour(s); the link works once:"),
            "%(link)s",
        ),
        TokenPurpose.PASSWORD_RESET,
        STAFF_SETUP_LIFETIME,
        "/password/reset/",
    ),
    "password_changed": Kind(
        N_("Your Chợ Số password was changed"),
        (
            N_("Hello %(name)s,"),
            N_(
                "The password of your Chợ Số account was changed on %(when)s from the address "
                "%(address)s. Every browser and API token of the account was logged out."
            ),
            N_("If this was not you, ask for a new password at once: %(link)s"),
        ),
        path="/password/forgot",
    ),
    "totp_reset": Kind(
        N_("Two-factor authentication of your Chợ Số account was reset"),
        (
            N_("Hello %(name)s,"),
            N_(
                "On %(when)s a Chợ Số operator removed the two-factor authentication of your "
                "account, as asked when an authenticator is lost. Every browser and API token "
                "of the account was logged out."
            ),
            N_(
                "Log in with your password and set up two-factor authentication again with your "
                "new phone. If you did not ask for this, change your password at once: %(link)s"
            ),
        ),
        path="/password/forgot",
    ),
}


# --- queueing (in the caller's transaction) ---------------------------------------------------


def queue(session: Session, user: User, kind: str, *, dedupe_key: str, **params: Any) -> None:
    """Add the e-mail ``kind`` to ``user`` to the session's transaction, and its job (flushes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    row = OutgoingEmail(user_id=user.id or 0, kind=kind, params=params, dedupe_key=dedupe_key[:120])
    session.add(row)
    session.flush()
    enqueue_after_commit(session, SEND_TASK, email_id=row.id)


# --- tokens ---------------------------------------------------------------------------------


def find_live_token(
    session: Session, raw: str, purpose: TokenPurpose, now: datetime
) -> tuple[AccountToken, User] | None:
    """The unused, unexpired token ``raw`` of ``purpose`` and its user, if the address it was
    sent to is still the account's and the account is active."""
    if not raw or len(raw) > 200:
        return None
    row = session.exec(
        select(AccountToken, User)
        .join(User, col(User.id) == AccountToken.user_id)
        .where(AccountToken.token_hash == security.token_digest(raw), AccountToken.purpose == purpose)
    ).first()
    if row is None:
        return None
    token, user = row
    if (
        token.used_at is not None
        or token.expires_at <= now
        or token.email != user.email
        or not user.is_active
    ):
        return None
    return token, user


def use_tokens(session: Session, user_id: int, purpose: TokenPurpose, token_id: int, now: datetime) -> bool:
    """Mark the token used, and every other open one of its kind for the user: True if this
    call did it (a concurrent use of the same link gets False)."""
    used = session.exec(  # type: ignore[call-overload]
        update(AccountToken)
        .where(col(AccountToken.id) == token_id, col(AccountToken.used_at).is_(None))
        .values(used_at=now)
    )
    if not used.rowcount:
        return False
    session.exec(  # type: ignore[call-overload]
        update(AccountToken)
        .where(
            col(AccountToken.user_id) == user_id,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
        )
        .values(used_at=now)
    )
    return True


# --- sending (the job) ----------------------------------------------------------------------


def _claim(session: Session, email_id: int, now: datetime) -> bool:
    lease = timedelta(seconds=get_settings().smtp_timeout_seconds * 4 + 60)
    claimed = session.exec(  # type: ignore[call-overload]
        update(OutgoingEmail)
        .where(
            col(OutgoingEmail.id) == email_id,
            col(OutgoingEmail.sent_at).is_(None),
            col(OutgoingEmail.failed_at).is_(None),
            col(OutgoingEmail.next_attempt_at) <= now,
        )
        .values(attempts=col(OutgoingEmail.attempts) + 1, next_attempt_at=now + lease)
    )
    session.commit()
    return bool(claimed.rowcount)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` tries (pure but for the settings)."""
    settings = get_settings()
    return min(
        settings.smtp_retry_seconds * 2 ** min(max(attempts - 1, 0), 30), settings.smtp_retry_max_seconds
    )


def send_email(session: Session, email_id: int, *, now: datetime | None = None) -> str:
    """Send one queued e-mail: ``sent``/``logged``, ``retry`` (tried again later), ``failed``
    (given up) or ``skipped`` (already sent, given up, not due, or being sent elsewhere)."""
    now = now or utcnow()
    if not _claim(session, email_id, now):
        return "skipped"
    email = session.get(OutgoingEmail, email_id)
    user = session.get(User, email.user_id) if email else None
    if email is None or user is None or not user.is_active:
        return _finish(session, email_id, failed=True, error="no active account")
    kind = KINDS[email.kind]
    token_id, link = _link(session, user, kind, now)
    message = _render(user, kind, {**email.params, "link": link})
    try:
        outcome = mail.send(message)
    except mail.MailUnavailable as error:
        return _retry_later(session, email, token_id, str(error))
    except mail.MailRejected as error:
        return _finish(session, email_id, failed=True, error=str(error), token_id=token_id)
    _finish(session, email_id, failed=False)
    return outcome


def _link(session: Session, user: User, kind: Kind, now: datetime) -> tuple[int | None, str]:
    base = get_settings().public_url.rstrip("/")
    if kind.purpose is None:
        return None, base + kind.path
    raw = security.new_token("em")
    token = AccountToken(
        user_id=user.id or 0,
        purpose=kind.purpose,
        token_hash=security.token_digest(raw),
        email=user.email,
        created_at=now,
        expires_at=now + kind.lifetime,
    )
    session.add(token)
    session.commit()  # the link must work by the time the message arrives
    return token.id, f"{base}{kind.path}{raw}"


def _render(user: User, kind: Kind, params: dict[str, Any]) -> mail.Mail:
    locale = user.locale if user.locale in ("vi", "en") else "vi"
    context = current_locale.set(locale)
    try:
        values = {"name": user.full_name, "hours": int(kind.lifetime.total_seconds() // 3600), **params}
        if "when" in values and isinstance(values["when"], str):
            values["when"] = format_local_datetime(datetime.fromisoformat(values["when"]))
        subject = gettext_(kind.subject)
        paragraphs = [
            gettext_(text) % values if text != "%(link)s" else values["link"] for text in kind.paragraphs
        ]
    finally:
        current_locale.reset(context)
    text = "\n\n".join(paragraphs) + "\n\n-- \nChợ Số\n"
    html = "".join(_html_paragraph(paragraph, values["link"]) for paragraph in paragraphs)
    return mail.Mail(
        to=user.email,
        to_name=user.full_name,
        subject=subject,
        text=text,
        html=f"<html><body>{html}</body></html>",
    )


def _html_paragraph(paragraph: str, link: str) -> str:
    escaped = escape(paragraph)
    if link and link in paragraph:
        escaped = escaped.replace(escape(link), f'<a href="{escape(link)}">{escape(link)}</a>')
    return f"<p>{escaped}</p>"


def _retry_later(session: Session, email: OutgoingEmail, token_id: int | None, error: str) -> str:
    if email.attempts >= get_settings().smtp_max_attempts:
        return _finish(session, email.id or 0, failed=True, error=error, token_id=token_id)
    if token_id is not None:
        session.exec(delete(AccountToken).where(col(AccountToken.id) == token_id))  # type: ignore[call-overload]
    delay = timedelta(seconds=retry_delay(email.attempts))
    session.exec(  # type: ignore[call-overload]
        update(OutgoingEmail)
        .where(col(OutgoingEmail.id) == email.id)
        .values(next_attempt_at=utcnow() + delay, last_error=error[:500])
    )
    session.commit()
    log.warning("e-mail %s not taken (%s); try %s again in %s", email.id, error, email.attempts + 1, delay)
    return "retry"


def _finish(
    session: Session, email_id: int, *, failed: bool, error: str = "", token_id: int | None = None
) -> str:
    if token_id is not None:
        session.exec(delete(AccountToken).where(col(AccountToken.id) == token_id))  # type: ignore[call-overload]
    values: dict[str, Any] = (
        {"failed_at": utcnow(), "last_error": error[:500]} if failed else {"sent_at": utcnow()}
    )
    session.exec(update(OutgoingEmail).where(col(OutgoingEmail.id) == email_id).values(**values))  # type: ignore[call-overload]
    session.commit()
    if failed:
        log.error("e-mail %s given up: %s", email_id, error)
    return "failed" if failed else "sent"


def due_emails(session: Session, *, now: datetime | None = None, batch: int = 50) -> list[int]:
    """Ids of e-mails waiting for a try whose time has come (oldest first)."""
    rows = session.exec(
        select(OutgoingEmail.id)
        .where(
            col(OutgoingEmail.sent_at).is_(None),
            col(OutgoingEmail.failed_at).is_(None),
            col(OutgoingEmail.next_attempt_at) <= (now or utcnow()),
        )
        .order_by(col(OutgoingEmail.next_attempt_at), col(OutgoingEmail.id))
        .limit(batch)
    ).all()
    session.commit()
    return [row for row in rows if row is not None]


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Delete tokens past their life and e-mails done more than 30 days ago. Idempotent."""
    now = now or utcnow()
    old = now - timedelta(days=30)
    removed = session.exec(delete(AccountToken).where(col(AccountToken.expires_at) <= now)).rowcount or 0  # type: ignore[call-overload]
    removed += (
        session.exec(  # type: ignore[call-overload]
            delete(OutgoingEmail).where(
                (col(OutgoingEmail.sent_at) <= old) | (col(OutgoingEmail.failed_at) <= old)
            )
        ).rowcount
        or 0
    )
    session.commit()
    return removed
