"""Sending e-mail with the standard library (``email`` + ``smtplib``). No database.

``CHOSO_SMTP_HOST`` unset: nothing is sent. In sandbox mode the whole message is written to
the log instead (so a trial install can follow reset and verification links from the
server's output); outside sandbox only a warning that it was not sent (links are secrets).

Errors are sorted for the caller's retry rule: :class:`MailUnavailable` (the server is down,
busy, or answered 4xx: try again later) or :class:`MailRejected` (5xx: trying again will not
help).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr

from choso.settings import Settings, get_settings

log = logging.getLogger(__name__)


class MailUnavailable(Exception):
    """The message was not taken now; it may be later."""


class MailRejected(Exception):
    """The server refused the message for good (a 5xx answer)."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None
    to_name: str = ""


def build_message(mail: Mail, settings: Settings) -> EmailMessage:
    """A UTF-8 message: plain text, with an HTML alternative if given (pure)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = formataddr((mail.to_name, mail.to)) if mail.to_name else mail.to
    message["Subject"] = mail.subject
    domain = parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "choso.vn"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(mail.text, charset="utf-8")
    if mail.html:
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
    return message


def send(mail: Mail, settings: Settings | None = None) -> str:
    """Send ``mail``; ``"sent"``, or ``"logged"`` when no SMTP server is configured."""
    settings = settings or get_settings()
    message = build_message(mail, settings)
    if not settings.smtp_host:
        _log_instead(message, mail, settings)
        return "logged"
    try:
        with _connect(settings) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise MailUnavailable(f"{error.smtp_code} {error.smtp_error!r}") from error
        raise MailRejected(f"{error.smtp_code} {error.smtp_error!r}") from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _text in error.recipients.values()]
        if all(400 <= code < 500 for code in codes):
            raise MailUnavailable(str(error.recipients)) from error
        raise MailRejected(str(error.recipients)) from error
    except (OSError, smtplib.SMTPException) as error:  # refused, reset, timed out, TLS…
        raise MailUnavailable(f"{type(error).__name__}: {error}") from error
    return "sent"


def _connect(settings: Settings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.smtp_ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
    try:
        smtp.ehlo()
        if settings.smtp_starttls and not settings.smtp_ssl:
            smtp.starttls(context=context)  # SMTPNotSupportedError if not offered: never in the clear
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _log_instead(message: EmailMessage, mail: Mail, settings: Settings) -> None:
    if settings.sandbox:
        log.info(
            "e-mail not sent (no CHOSO_SMTP_HOST), sandbox copy:\nTo: %s\nSubject: %s\n\n%s",
            message["To"],
            mail.subject,
            mail.text,
        )
    else:
        log.warning("e-mail to %s not sent: CHOSO_SMTP_HOST is not set", mail.to)
