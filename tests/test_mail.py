"""choso.mail against real SMTP servers (aiosmtpd): the message as a mail client reads it, and
which failures are worth another try."""

from __future__ import annotations

import dataclasses
import logging
from email import message_from_bytes, policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from choso import mail
from choso.settings import Settings, get_settings
from tests.mail_sink import MailSink, free_port

MESSAGE = mail.Mail(
    to="lan@example.vn",
    to_name="Nguyễn Thị Lan",
    subject="Đặt lại mật khẩu Chợ Số",
    text="Xin chào Nguyễn Thị Lan,\n\nhttp://127.0.0.1:8000/password/reset/em_x",
    html="<p>Xin chào Nguyễn Thị Lan,</p>",
)


def settings_for(port: int, **changes: Any) -> Settings:
    return get_settings().model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, **changes})


def test_a_delivered_message_is_utf8_text_with_an_html_alternative(mail_sink: MailSink) -> None:
    # The run's sink keeps every test's mail (registrations write to lan@example.vn too): an
    # address of this test's own.
    message = dataclasses.replace(MESSAGE, to="mail.format@example.vn")
    assert mail.send(message, settings_for(mail_sink.port)) == "sent"
    [received] = mail_sink.wait_for("mail.format@example.vn")
    assert received["Subject"] == "Đặt lại mật khẩu Chợ Số"
    assert received["From"] == "Chợ Số <no-reply@choso.vn>"
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content().startswith("Xin chào")  # type: ignore[union-attr]
    assert received.get_body(("html",)).get_content().startswith("<p>Xin chào")  # type: ignore[union-attr]
    raw = mail.build_message(MESSAGE, get_settings()).as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0].lower()  # headers are RFC 2047-encoded
    assert message_from_bytes(raw, policy=policy.default)["Message-ID"].endswith("@choso.vn>")


def test_no_server_configured_logs_the_message_in_sandbox(caplog: pytest.LogCaptureFixture) -> None:
    settings = get_settings().model_copy(update={"smtp_host": "", "sandbox": True})
    with caplog.at_level(logging.INFO, logger="choso.mail"):
        assert mail.send(MESSAGE, settings) == "logged"
    assert "/password/reset/em_x" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="choso.mail"):
        assert mail.send(MESSAGE, settings.model_copy(update={"sandbox": False})) == "logged"
    assert "not sent" in caplog.text and "/password/reset/" not in caplog.text  # links are secrets


def test_a_server_that_is_not_there_is_worth_another_try() -> None:
    with pytest.raises(mail.MailUnavailable):
        mail.send(MESSAGE, settings_for(free_port(), smtp_timeout_seconds=5))


class _Answer:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return self.reply


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 try later", mail.MailUnavailable), ("550 5.1.1 no such user", mail.MailRejected)],
)
def test_4xx_is_tried_again_and_5xx_is_given_up(reply: str, error: type[Exception]) -> None:
    controller = Controller(_Answer(reply), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with pytest.raises(error):
            mail.send(MESSAGE, settings_for(controller.port))
    finally:
        controller.stop()


def test_starttls_is_required_when_on(mail_sink: MailSink) -> None:
    # The sink offers no STARTTLS: the message must not go out in the clear.
    message = dataclasses.replace(MESSAGE, to="tls.only@example.vn")
    with pytest.raises(mail.MailUnavailable):
        mail.send(message, settings_for(mail_sink.port, smtp_starttls=True))
    assert mail_sink.to("tls.only@example.vn") == []
