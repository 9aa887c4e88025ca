"""Password reset and e-mail verification, through a real SMTP server (aiosmtpd, tests/mail_sink.py).

The messages are read as delivered; their links are followed like a person would. On
PostgreSQL the e-mail jobs run in the run's real Celery worker.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from choso import jobs
from choso.audit import AuditEntry
from choso.db import session_scope, utcnow
from market.account_models import AccountToken, OutgoingEmail
from market.models import ApiToken, OrganisationKind, Role, User, UserSession
from tests import factories
from tests.conftest import eventually, wait_for_jobs
from tests.mail_sink import MailSink, link_in
from tests.payments.helpers import bearer
from tests.support import (
    PASSWORD,
    api_register,
    api_token,
    buyer_payload,
    csrf_from,
    page_csrf,
    page_login,
    totp_code_for,
)

NEW_PASSWORD = "Mùa-gặt-2027!"


def ask_reset(client: TestClient, email: str):
    return client.post("/api/v1/auth/password-reset", json={"email": email})


def reset_page_submit(client: TestClient, path: str, password: str, confirm: str | None = None):
    form = client.get(path)
    assert form.status_code == 200, form.text
    return client.post(
        path,
        data={"password": password, "password_confirm": confirm or password, "csrf_token": csrf_from(form)},
        follow_redirects=False,
    )


def audit_actions(db: Session, object_type: str | None = None) -> list[str]:
    query = select(AuditEntry.action).order_by(col(AuditEntry.id))
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    return list(db.exec(query).all())


def test_registration_sends_a_utf8_verification_email_whose_link_verifies_once(
    client: TestClient, mail_sink: MailSink, db: Session
) -> None:
    api_register(client, buyer_payload("lan.verify@example.vn"))
    [message] = mail_sink.wait_for("lan.verify@example.vn")
    assert message["Subject"] == "Xác nhận địa chỉ e-mail của bạn tại Chợ Số"
    assert "Nguyễn Thị Lan" in message["To"]
    assert message.get_body(("plain",)).get_content_charset() == "utf-8"  # type: ignore[union-attr]
    assert "Xin chào Nguyễn Thị Lan" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    path = link_in(message)
    assert f'href="http://127.0.0.1:8000{path}"' in html
    token = path.rsplit("/", 1)[1]
    stored = db.exec(select(AccountToken.token_hash)).all()
    assert token not in str(stored) and len(stored) == 1  # only its hash is kept

    page_login(client, "lan.verify@example.vn")
    assert "chưa được xác nhận" in client.get("/account").text
    form = client.get(path)  # opening the link changes nothing yet
    assert form.status_code == 200 and "lan.verify@example.vn" in form.text
    assert db.exec(select(User.email_verified_at)).one() is None
    done = client.post(path, data={"csrf_token": csrf_from(form)})
    assert done.status_code == 200 and "đã được xác nhận" in done.text
    db.rollback()  # a new snapshot
    assert db.exec(select(User.email_verified_at)).one() is not None
    assert "Địa chỉ e-mail của bạn đã được xác nhận" in client.get("/account").text

    again = client.post(path, data={"csrf_token": csrf_from(client.get("/account"))})
    assert again.status_code == 400  # once only
    assert client.get(path).status_code == 400


def test_verification_without_csrf_is_refused(client: TestClient, mail_sink: MailSink) -> None:
    api_register(client, buyer_payload("csrf.verify@example.vn"))
    path = link_in(mail_sink.wait_for("csrf.verify@example.vn")[0])
    assert client.post(path, data={}).status_code == 403


def test_resend_is_for_the_logged_in_owner_and_rate_limited(
    client: TestClient, mail_sink: MailSink, make_client
) -> None:
    anonymous = make_client()
    refused = anonymous.post(
        "/account/verify-email/resend", data={"csrf_token": page_csrf(anonymous)}, follow_redirects=False
    )
    assert refused.status_code in (303, 401)  # to the login page
    user = factories.user(email="resend@example.vn")
    assert user.email_verified_at is None
    page_login(client, user.email)
    for _ in range(3):
        sent = client.post(
            "/account/verify-email/resend",
            data={"csrf_token": csrf_from(client.get("/account"))},
            follow_redirects=False,
        )
        assert sent.status_code == 303
    over = client.post("/account/verify-email/resend", data={"csrf_token": csrf_from(client.get("/account"))})
    assert over.status_code == 429
    messages = mail_sink.wait_for(user.email, 3)
    assert len({link_in(message) for message in messages}) == 3

    headers = api_token(client, user.email)
    state = client.get("/api/v1/me/email-verification", headers=headers).json()
    assert state == {"email": user.email, "verified": False, "verified_at": None}
    assert client.get("/api/v1/me/email-verification").status_code == 401
    assert client.post("/api/v1/me/email-verification/resend").status_code == 401
    # The API's link confirms too.
    token = link_in(messages[0]).rsplit("/", 1)[1]
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 204
    assert client.get("/api/v1/me/email-verification", headers=headers).json()["verified"] is True
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 400


def test_password_reset_by_link_ends_every_login_and_the_link_works_once(
    client: TestClient, make_client, mail_sink: MailSink, db: Session
) -> None:
    user = factories.user(email="minh@example.vn")
    other_browser = make_client()
    assert page_login(other_browser, user.email).status_code == 303
    old_token = api_token(client, user.email)
    assert client.get("/api/v1/me", headers=old_token).status_code == 200

    visitor = make_client()
    forgot = visitor.get("/password/forgot")
    sent = visitor.post("/password/forgot", data={"email": user.email, "csrf_token": csrf_from(forgot)})
    assert sent.status_code == 200 and "Kiểm tra e-mail" in sent.text
    [message] = mail_sink.wait_for(user.email)
    assert message["Subject"] == "Đặt lại mật khẩu Chợ Số"
    path = link_in(message)
    assert path.startswith("/password/reset/")

    mismatch = reset_page_submit(visitor, path, NEW_PASSWORD, "Khác-hẳn-2027!")
    assert mismatch.status_code == 422
    weak = reset_page_submit(visitor, path, "aaaaaaaa")
    assert weak.status_code == 422
    done = reset_page_submit(visitor, path, NEW_PASSWORD)
    assert done.status_code == 200 and "Đã đổi mật khẩu" in done.text

    # Every earlier login is dead: the other browser, the API token.
    assert other_browser.get("/account", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me", headers=old_token).status_code == 401
    db.rollback()  # a new snapshot
    assert db.exec(select(UserSession).where(UserSession.user_id == user.id)).all() == []
    assert all(row.revoked_at for row in db.exec(select(ApiToken).where(ApiToken.user_id == user.id)))
    # The old password no longer works, the new one does.
    assert page_login(make_client(), user.email).status_code == 401
    assert page_login(make_client(), user.email, NEW_PASSWORD).status_code == 303
    # Used once: the link is dead now.
    assert visitor.get(path).status_code == 400
    again = visitor.post(
        path,
        data={
            "password": "Lần-nữa-2027!",
            "password_confirm": "Lần-nữa-2027!",
            "csrf_token": csrf_from(visitor.get("/password/forgot")),
        },
    )
    assert again.status_code == 400
    # Told by e-mail, audited, and the address counts as verified.
    changed = mail_sink.wait_for(user.email, 2)[1]
    assert changed["Subject"] == "Mật khẩu Chợ Số của bạn đã được đổi"
    assert "testclient" in changed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "account.password_reset" in audit_actions(db)
    assert db.exec(select(User.email_verified_at).where(User.id == user.id)).one() is not None


def test_the_api_gives_the_same_answer_for_unknown_addresses(client: TestClient, mail_sink: MailSink) -> None:
    user = factories.user(email="known@example.vn")
    known = ask_reset(client, user.email)
    unknown = ask_reset(client, "nobody-here@example.vn")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers.get("content-length") == unknown.headers.get("content-length")
    wait_for_jobs()
    mail_sink.wait_for(user.email)
    assert mail_sink.to("nobody-here@example.vn") == []
    # The page too (CSRF tokens aside).
    pages = []
    for email in (user.email, "nobody-here@example.vn"):
        form = client.get("/password/forgot")
        answer = client.post("/password/forgot", data={"email": email, "csrf_token": csrf_from(form)})
        pages.append((answer.status_code, re.sub(r'value="[^"]+"', "", answer.text)))
    assert pages[0] == pages[1]


def test_reset_requests_are_rate_limited_per_email_whether_or_not_it_exists(client: TestClient) -> None:
    user = factories.user(email="limited@example.vn")
    for email in (user.email, "ghost@example.vn"):
        answers = [ask_reset(client, email).status_code for _ in range(4)]
        assert answers == [202, 202, 202, 429]
    assert "Retry-After" in ask_reset(client, user.email).headers


def test_reset_requests_are_rate_limited_per_address(client: TestClient) -> None:
    answers = [ask_reset(client, f"many{n}@example.vn").status_code for n in range(11)]
    assert answers == [202] * 10 + [429]


def test_api_confirm_checks_the_password_rules_and_refuses_expired_links(
    client: TestClient, mail_sink: MailSink, db: Session
) -> None:
    user = factories.user(email="api.reset@example.vn")
    old = api_token(client, user.email)
    ask_reset(client, user.email)
    token = link_in(mail_sink.wait_for(user.email)[0]).rsplit("/", 1)[1]
    confirm = "/api/v1/auth/password-reset/confirm"
    short = client.post(confirm, json={"token": token, "password": "ngắn"})
    assert short.status_code == 422 and short.json()["error"]["code"] == "invalid_input"
    same_as_email = client.post(confirm, json={"token": token, "password": "api.reset@example.vn"})
    assert same_as_email.status_code == 422
    unknown = client.post(confirm, json={"token": "em_" + "x" * 43, "password": NEW_PASSWORD})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_link"

    assert client.post(confirm, json={"token": token, "password": NEW_PASSWORD}).status_code == 204
    assert client.get("/api/v1/me", headers=old).status_code == 401
    assert client.post(confirm, json={"token": token, "password": NEW_PASSWORD}).status_code == 400
    api_token(client, user.email, NEW_PASSWORD)

    # A link past its hour is refused.
    ask_reset(client, user.email)
    late = link_in(mail_sink.wait_for(user.email, 3)[-1]).rsplit("/", 1)[1]  # [1] is "password changed"
    wait_for_jobs()
    with session_scope() as session:  # the link's hour has passed
        row = session.exec(select(AccountToken).where(AccountToken.used_at == None)).one()  # noqa: E711
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
        session.commit()
    expired = client.post(confirm, json={"token": late, "password": "Hết-hạn-2027!"})
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "invalid_link"
    assert client.get(f"/password/reset/{late}").status_code == 400


def test_a_down_smtp_server_is_tried_again_until_it_takes_the_message(
    client: TestClient, mail_sink: MailSink, db: Session
) -> None:
    user = factories.user(email="retry@example.vn")
    mail_sink.stop()
    try:
        assert ask_reset(client, user.email).status_code == 202

        def first_try_failed() -> OutgoingEmail | None:
            db.rollback()  # a new snapshot
            row = db.exec(select(OutgoingEmail)).first()
            return row if row is not None and row.attempts == 1 and row.last_error else None

        failed = eventually(first_try_failed)
        assert failed.sent_at is None and failed.failed_at is None
        assert db.exec(select(AccountToken)).all() == []  # the failed try's link is gone
    finally:
        mail_sink.start()
    time.sleep(1.1)  # CHOSO_SMTP_RETRY_SECONDS=1 in the tests
    jobs.dispatch(jobs.task_by_name("market.retry_emails"))
    [message] = mail_sink.wait_for(user.email)
    wait_for_jobs()
    db.rollback()  # a new snapshot
    row = db.exec(select(OutgoingEmail)).one()
    assert row.sent_at is not None and row.attempts == 2
    token = link_in(message).rsplit("/", 1)[1]
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204


def test_an_officer_created_by_an_operator_chooses_a_password_from_the_emailed_link(
    client: TestClient, mail_sink: MailSink, db: Session
) -> None:
    operator = factories.user(Role.OPERATOR, email="ops.mail@example.vn")
    headers = bearer(operator)  # a token as after the login (and its second factor)
    created = client.post(
        "/api/v1/operator/agency-officers",
        headers=headers,
        json={
            "email": "canbo@example.vn",
            "password": "Tạm-thời-2026!",
            "full_name": "Trần Văn Bình",
            "agency_name": "UBND phường Hạc Thành",
            "address": {"ward_code": 14797},
        },
    )
    assert created.status_code == 201, created.text
    [setup] = mail_sink.wait_for("canbo@example.vn")  # instead of a verification link
    assert setup["Subject"] == "Tài khoản cán bộ Chợ Số của bạn"
    token = link_in(setup).rsplit("/", 1)[1]
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    assert page_login(client, "canbo@example.vn", NEW_PASSWORD).status_code == 303
    assert "user.create_agency_officer" in audit_actions(db)


def test_reset_endpoints_refuse_bad_input_with_4xx(client: TestClient) -> None:
    assert ask_reset(client, "not-an-email").status_code == 422
    assert client.post("/api/v1/auth/password-reset", json={"email": "a@b.vn", "x": 1}).status_code == 422
    confirm = client.post("/api/v1/auth/password-reset/confirm", json={"token": "", "password": NEW_PASSWORD})
    assert confirm.status_code == 422
    assert client.get("/password/reset/" + "x" * 201).status_code == 422
    assert client.get("/verify-email/nonsense").status_code == 400
    form = client.get("/password/forgot")
    bad = client.post("/password/forgot", data={"email": "", "csrf_token": csrf_from(form)})
    assert bad.status_code == 422
    assert client.post("/password/forgot", data={"email": "a@b.vn"}).status_code == 403  # no CSRF


def test_a_reset_also_ends_a_login_waiting_for_its_second_step(
    client: TestClient, make_client, mail_sink: MailSink
) -> None:
    _agency, officer = factories.staff(OrganisationKind.AGENCY)  # enrolled in TOTP by the factory
    attacker = make_client()
    halfway = attacker.post(
        "/login",
        data={"email": officer.email, "password": PASSWORD, "csrf_token": page_csrf(attacker)},
        follow_redirects=False,
    )
    assert halfway.headers["location"] == "/login/totp"  # the old password opened the first step
    ask_reset(client, officer.email)
    token = link_in(mail_sink.wait_for(officer.email)[0]).rsplit("/", 1)[1]
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert client.post("/api/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    form = {"code": totp_code_for(officer.email), "csrf_token": page_csrf(attacker, "/login/totp")}
    second = attacker.post("/login/totp", data=form, follow_redirects=False)
    assert second.status_code == 303 and second.headers["location"].startswith("/login")
    assert attacker.get("/account", follow_redirects=False).headers["location"].startswith("/login")
