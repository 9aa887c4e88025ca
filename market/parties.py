"""Parties and authentication: registration, login with rate limit, browser sessions, API tokens.

Services own their transactions: each public function that changes data commits it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from choso.db import utcnow
from choso.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied, RateLimited
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from choso.text import NoControlCharacters
from market import security
from market.models import (
    ApiToken,
    LoginFailure,
    Organisation,
    OrganisationKind,
    Role,
    User,
    UserSession,
)
from market.places import THANH_HOA, resolve_place
from market.taxcode import normalize_tax_code

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), NoControlCharacters
]
OrgName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NoControlCharacters
]
TaxCodeText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20), NoControlCharacters
]  # checked later
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 .-]{8,20}$"), NoControlCharacters
]
# argon2 takes any length, but an unbounded password is a cheap way to burn our CPU.
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]

SELF_REGISTERED_ROLES = (Role.BUYER, Role.PRODUCER)


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province_code: int = THANH_HOA
    ward_code: int
    street: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoControlCharacters] = ""
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class Registration(BaseModel):
    """What a buyer or producer gives to open an account."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Password
    full_name: Name
    phone: Phone | None = None
    role: Role = Role.BUYER
    address: AddressIn | None = None
    organisation_name: OrgName | None = None
    tax_code: TaxCodeText | None = None
    locale: Annotated[str, StringConstraints(pattern=r"^(vi|en)$")] = "vi"

    @model_validator(mode="after")
    def _producer_has_business(self) -> Registration:
        if self.role == Role.PRODUCER and not (self.organisation_name and self.tax_code):
            raise ValueError(N_("A producer registers with the business name and its tax code."))
        return self


class AgencyOfficerIn(BaseModel):
    """An operator opens an officer account for a government agency (created if new)."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: Password
    full_name: Name
    agency_name: OrgName
    agency_tax_code: TaxCodeText | None = None
    address: AddressIn


def normalize_email(email: str) -> str:
    return email.strip().lower()


def _apply_address(target: User | Organisation, address: AddressIn | None) -> None:
    if address is None:
        return
    place = resolve_place(address.province_code, address.ward_code)
    target.province_code = place.province_code
    target.ward_code = place.ward_code
    target.street = address.street
    target.latitude = address.latitude
    target.longitude = address.longitude


def _check_password_quality(password: str, email: str) -> None:
    if password.strip().lower() == email or password.lower() in email:
        raise InvalidInput(N_("The password must not be your email address."), field="password")
    if len(set(password)) < 4:
        raise InvalidInput(N_("The password is too simple."), field="password")


def _ensure_email_free(session: Session, email: str) -> None:
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict(N_("An account with this email already exists."), field="email")


def _producer_organisation(session: Session, data: Registration, tax_code: str) -> Organisation:
    if session.exec(select(Organisation.id).where(Organisation.tax_code == tax_code)).first() is not None:
        raise Conflict(N_("A business with this tax code is already registered."), field="tax_code")
    organisation = Organisation(
        kind=OrganisationKind.PRODUCER, name=data.organisation_name or "", tax_code=tax_code
    )
    _apply_address(organisation, data.address)
    return organisation


@contextmanager
def _committed_unless_taken(session: Session) -> Iterator[None]:
    """Flush and commit what the block adds; a lost race on a unique column (two requests
    for the same email or tax code at once) becomes the same 409 the pre-checks give."""
    try:
        yield
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(N_("An account with this email or tax code already exists.")) from None


def register(session: Session, data: Registration) -> User:
    if data.role not in SELF_REGISTERED_ROLES:
        raise PermissionDenied(N_("This role cannot be chosen at registration."), field="role")
    email = normalize_email(str(data.email))
    _check_password_quality(data.password, email)
    tax_code = normalize_tax_code(data.tax_code or "") if data.role == Role.PRODUCER else None
    password_hash = security.hash_password(data.password)  # slow: before the transaction starts
    _ensure_email_free(session, email)

    user = User(
        email=email,
        full_name=data.full_name,
        phone=data.phone,
        password_hash=password_hash,
        role=data.role,
        locale=data.locale,
    )
    _apply_address(user, data.address)
    with _committed_unless_taken(session):
        if tax_code is not None:  # a producer: the business comes with the account
            organisation = _producer_organisation(session, data, tax_code)
            session.add(organisation)
            session.flush()
            user.organisation_id = organisation.id
        session.add(user)
        session.flush()
        _welcome(session, user)
    return user


def create_agency_officer(session: Session, operator: User, data: AgencyOfficerIn) -> User:
    if operator.role != Role.OPERATOR:
        raise PermissionDenied(N_("Only operators can do this."))
    email = normalize_email(str(data.email))
    _check_password_quality(data.password, email)
    tax_code = normalize_tax_code(data.agency_tax_code) if data.agency_tax_code else None
    password_hash = security.hash_password(data.password)
    _ensure_email_free(session, email)
    with _committed_unless_taken(session):
        agency = session.exec(
            select(Organisation).where(
                Organisation.kind == OrganisationKind.AGENCY, Organisation.name == data.agency_name
            )
        ).first()
        if agency is None:
            agency = Organisation(kind=OrganisationKind.AGENCY, name=data.agency_name, tax_code=tax_code)
            _apply_address(agency, data.address)
            session.add(agency)
            session.flush()
        officer = User(
            email=email,
            full_name=data.full_name,
            password_hash=password_hash,
            role=Role.AGENCY_OFFICER,
            organisation_id=agency.id,
        )
        session.add(officer)
        session.flush()
        _welcome(session, officer)
    return officer


def _welcome(session: Session, user: User) -> None:
    enqueue_after_commit(
        session,
        "market.deliver_notification",
        user_id=user.id,
        kind="welcome",
        params={"name": user.full_name},
        dedupe_key=f"welcome:{user.id}",
    )


# --- login and its rate limit -------------------------------------------------------------


def _failures_since(
    session: Session, since: datetime, *, email: str | None = None, ip: str | None = None
) -> tuple[int, datetime | None]:
    query = select(func.count(), func.min(LoginFailure.failed_at)).where(LoginFailure.failed_at > since)
    if email is not None:
        query = query.where(LoginFailure.email == email)
    if ip is not None:
        query = query.where(LoginFailure.ip_address == ip)
    count, oldest = session.exec(query).one()
    return int(count), oldest


def _check_rate_limit(session: Session, email: str, ip: str, now: datetime) -> None:
    settings = get_settings()
    window = timedelta(seconds=settings.login_window_seconds)
    for limit, key in (
        (settings.login_max_failures, {"email": email}),
        (settings.login_max_failures_per_ip, {"ip": ip}),
    ):
        count, oldest = _failures_since(session, now - window, **key)
        if count >= limit and oldest is not None:
            retry_after = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise RateLimited(
                N_("Too many failed logins. Try again in %(minutes)s min."),
                params={"minutes": max(1, -(-retry_after // 60))},
                headers={"Retry-After": str(retry_after)},
            )


def authenticate(session: Session, email: str, password: str, ip_address: str) -> User:
    """The active user with these credentials, or NotAuthenticated / RateLimited.

    While an account (or an address) is over its failure limit even the right password is
    refused, or guessing could simply go on. The deliberately slow argon2 check runs between
    two short transactions, never while holding a database lock.
    """
    email = normalize_email(email)[:254]
    ip_address = ip_address[:45]
    now = utcnow()
    _check_rate_limit(session, email, ip_address, now)
    user = session.exec(select(User).where(User.email == email)).first()
    session.commit()  # end the read; what follows is CPU only

    password = password[:1024]
    password_ok = security.verify_password(user.password_hash if user else None, password)
    stale_hash = user is not None and password_ok and security.password_needs_rehash(user.password_hash)
    new_hash = security.hash_password(password) if stale_hash else None

    if user is None or not password_ok or not user.is_active:
        session.add(LoginFailure(email=email, ip_address=ip_address, failed_at=now))
        session.commit()
        raise NotAuthenticated(N_("Wrong email or password."))
    session.exec(delete(LoginFailure).where(LoginFailure.email == email))
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = now
    session.add(user)
    session.commit()
    return user


# --- browser sessions -----------------------------------------------------------------------


def start_session(session: Session, user: User) -> str:
    token = security.new_token("sess")
    session.add(
        UserSession(
            token_hash=security.token_digest(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(days=get_settings().session_days),
        )
    )
    session.commit()
    return token


def user_for_session(session: Session, token: str) -> User | None:
    """The active user of a browser session token, or None."""
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == security.token_digest(token))
    ).first()
    user = session.get(User, row.user_id) if row is not None and row.expires_at > utcnow() else None
    return _end_read(session, user)


def _end_read(session: Session, user: User | None) -> User | None:
    # Every request looks its caller up first; ending that read here means whatever the
    # request does next (argon2, rendering) never runs inside a transaction, which on
    # SQLite would hold the write lock.
    session.commit()
    return user if user is not None and user.is_active else None


def end_session(session: Session, token: str) -> None:
    session.exec(delete(UserSession).where(UserSession.token_hash == security.token_digest(token)))
    session.commit()


# --- API tokens -----------------------------------------------------------------------------


def issue_api_token(session: Session, user: User, name: str = "api") -> tuple[str, ApiToken]:
    token = security.new_token("chs")
    row = ApiToken(
        token_hash=security.token_digest(token),
        user_id=user.id,
        name=name,
        expires_at=utcnow() + timedelta(days=get_settings().api_token_days),
    )
    session.add(row)
    session.commit()
    return token, row


def user_for_api_token(session: Session, token: str) -> User | None:
    """The active user of an API token that is neither revoked nor expired, or None."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == security.token_digest(token))).first()
    usable = row is not None and row.revoked_at is None and row.expires_at > utcnow()
    user = session.get(User, row.user_id) if row is not None and usable else None
    return _end_read(session, user)


def revoke_api_token(session: Session, token: str) -> None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == security.token_digest(token))).first()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()


def purge_expired_credentials(session: Session) -> int:
    """Delete expired sessions and tokens and failures older than the window. Idempotent."""
    now = utcnow()
    window = timedelta(seconds=get_settings().login_window_seconds)
    removed = 0
    for statement in (
        delete(UserSession).where(UserSession.expires_at <= now),
        delete(ApiToken).where(ApiToken.expires_at <= now),
        delete(LoginFailure).where(LoginFailure.failed_at <= now - window),
    ):
        removed += session.exec(statement).rowcount or 0
    session.commit()
    return removed


def create_operator(session: Session, *, email: str, full_name: str, password: str) -> User:
    """An operator account (from the CLI: operators cannot register themselves)."""
    email = normalize_email(email)
    data = Registration.model_validate({"email": email, "password": password, "full_name": full_name})
    _check_password_quality(data.password, email)
    password_hash = security.hash_password(data.password)
    _ensure_email_free(session, email)
    user = User(email=email, full_name=data.full_name, password_hash=password_hash, role=Role.OPERATOR)
    with _committed_unless_taken(session):
        session.add(user)
    return user
