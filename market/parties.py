"""Parties and authentication: registration and login, with their rate limits.

Browser sessions and API tokens are in market.credentials, the counters in market.throttle.
Services own their transactions: each public function that changes data commits it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from choso import audit
from choso.db import utcnow
from choso.errors import Conflict, InvalidInput, NotAuthenticated, PermissionDenied, Unavailable
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from choso.settings import get_settings
from choso.text import NameRules, NoControlCharacters
from market import account_email, credentials, security, throttle
from market.models import Organisation, OrganisationKind, Role, User
from market.places import THANH_HOA, resolve_place
from market.taxcode import normalize_tax_code

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), NameRules]
OrgName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), NameRules]
TaxCodeText = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=20), NoControlCharacters
]  # checked later
Phone = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 .-]{8,20}$"), NoControlCharacters
]
# argon2 takes any length, but an unbounded password is a cheap way to burn our CPU. Passwords
# are taken as typed (no stripping, on the pages as in the API); argon2 gets their NFC form.
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]

SELF_REGISTERED_ROLES = (Role.BUYER, Role.PRODUCER)


class PasswordCheckBusy(Unavailable):
    code = "busy"


class AddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province_code: int = THANH_HOA
    ward_code: int
    street: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NameRules] = ""
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


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == normalize_email(email))).first()


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


def _registration_limit(ip_address: str) -> throttle.Limit:
    settings = get_settings()
    return throttle.Limit(
        "register-ip",
        ip_address[:45],
        settings.registration_max_per_ip,
        timedelta(seconds=settings.registration_window_seconds),
        N_("Too many registrations from your address. Try again in %(minutes)s min."),
    )


def _hash_new_password(session: Session, password: str, limit: throttle.Limit | None) -> str:
    """The hash of a new password, computed in a bounded slot after ``limit`` (if any) took
    the attempt; slow, so it runs before the caller's transaction starts."""
    if limit is not None:
        throttle.reserve(session, [limit], utcnow())
        session.commit()
    try:
        with password_slot():
            return security.hash_password(password)
    except PasswordCheckBusy:
        if limit is not None:
            throttle.refund(session, [limit])
            session.commit()
        raise


def register(session: Session, data: Registration, *, client_ip: str | None = None) -> User:
    """Open an account. From the web, ``client_ip`` is given and registrations per address are
    rate-limited; the answer for a taken email (409) says the account exists, which that
    limit keeps to a trickle (see the README's security section)."""
    if data.role not in SELF_REGISTERED_ROLES:
        raise PermissionDenied(N_("This role cannot be chosen at registration."), field="role")
    email = normalize_email(str(data.email))
    _check_password_quality(data.password, email)
    tax_code = normalize_tax_code(data.tax_code or "") if data.role == Role.PRODUCER else None
    limit = _registration_limit(client_ip) if client_ip is not None else None
    password_hash = _hash_new_password(session, data.password, limit)
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
        account_email.queue(session, user, "verify_email", dedupe_key=f"verify-email:{user.id}:registration")
    return user


def create_agency_officer(
    session: Session, operator: User, data: AgencyOfficerIn, *, actor: audit.Actor | None = None
) -> User:
    if operator.role != Role.OPERATOR:
        raise PermissionDenied(N_("Only operators can do this."))
    email = normalize_email(str(data.email))
    _check_password_quality(data.password, email)
    tax_code = normalize_tax_code(data.agency_tax_code) if data.agency_tax_code else None
    password_hash = _hash_new_password(session, data.password, None)
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
        # The officer chooses their own password from a link to this address (which proves it).
        account_email.queue(session, officer, "staff_setup", dedupe_key=f"staff-setup:{officer.id}")
        audit.record(
            session,
            actor or audit.Actor(operator.id, str(operator.role), operator.organisation_id),
            action="user.create_agency_officer",
            object_type="user",
            object_id=officer.id or 0,
            after={"email": email, "organisation_id": agency.id, "role": str(Role.AGENCY_OFFICER)},
        )
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


# --- login and its rate limits ------------------------------------------------------------
#
# Three counters per login attempt, all reserved before the password is checked:
#   (account, address)  the attacker's key: locked after login_max_failures in the window,
#                       and the account's owner is told; other addresses are not affected;
#   address             any accounts: stops one address from trying passwords on many;
#   account             any addresses: never locks; beyond login_max_failures failures it
#                       spaces each address's further attempts on the account out by a delay
#                       that doubles with every failure (up to a minute).

_ACCOUNT_DELAY_CAP = timedelta(seconds=60)


def _login_limits(email: str, ip_address: str) -> tuple[throttle.Limit, throttle.Limit, throttle.Limit]:
    settings = get_settings()
    window = timedelta(seconds=settings.login_window_seconds)
    return (
        throttle.Limit(
            "login-pair",
            f"{email}\x00{ip_address}",
            settings.login_max_failures,
            window,
            N_("Too many failed logins to this account from your address. Try again in %(minutes)s min."),
        ),
        throttle.Limit(
            "login-ip",
            ip_address,
            settings.login_max_failures_per_ip,
            window,
            N_("Too many failed logins from your address. Try again in %(minutes)s min."),
        ),
        throttle.Limit("login-account", email, None, window, N_("Too many failed logins.")),
    )


def account_delay(account_failures: int) -> timedelta:
    """How long one address waits between attempts on an account that has had this many
    failed logins in the window, from any addresses (pure)."""
    over = account_failures - get_settings().login_max_failures
    return timedelta(0) if over < 0 else min(timedelta(seconds=2**over), _ACCOUNT_DELAY_CAP)


def _password_gate() -> security.PasswordGate:
    settings = get_settings()
    return _gate(settings.password_hash_concurrency, settings.password_hash_queue)


@cache
def _gate(slots: int, queue: int) -> security.PasswordGate:
    security.return_hash_memory_promptly()  # else idle threads keep their hash buffers
    return security.PasswordGate(slots, queue)


@contextmanager
def password_slot() -> Iterator[None]:
    """Hold one of this process's password-hashing slots, or PasswordCheckBusy (503)."""
    try:
        with _password_gate().slot():
            yield
    except security.GateFull:
        raise PasswordCheckBusy(
            N_("Too many logins are being checked right now. Try again in a moment."),
            headers={"Retry-After": "2"},
        ) from None


def authenticate(
    session: Session, email: str, password: str, ip_address: str, *, audit_action: str = "auth.login"
) -> User:
    """The active user with these credentials, or NotAuthenticated / RateLimited / PasswordCheckBusy.

    The attempt is reserved on its rate limits first, so that no number of concurrent requests
    can check more passwords than the limits allow; the slow argon2 check then runs outside
    any transaction and inside a bounded slot.
    """
    email, ip_address, now = normalize_email(email)[:254], ip_address[:45], utcnow()
    limits = _login_limits(email, ip_address)
    counts = throttle.reserve(session, limits, now)
    throttle.hold_back(session, limits[0], now + account_delay(counts["login-account"].hits))
    user = session.exec(select(User).where(User.email == email)).first()
    session.commit()  # the reservation holds; what follows is CPU only

    try:
        with password_slot():
            password_ok, stale_hash = security.check_password(user.password_hash if user else None, password)
            new_hash = security.hash_password(password) if stale_hash else None
    except PasswordCheckBusy:
        throttle.refund(session, limits)  # not checked: it does not count
        session.commit()
        raise
    if user is None or not password_ok or not user.is_active:
        _after_failure(session, user, limits[0], counts["login-pair"], ip_address)
        raise NotAuthenticated(N_("Wrong email or password."))
    return _after_success(session, user, limits, new_hash, now, audit_action)


def _after_failure(
    session: Session, user: User | None, pair: throttle.Limit, count: throttle.Count, ip_address: str
) -> None:
    if user is None or pair.max_hits is None or count.hits < pair.max_hits:
        return
    # This attempt locked the account for this address: tell the owner, once per lock.
    minutes = -(-int(pair.window.total_seconds()) // 60)
    enqueue_after_commit(
        session,
        "market.deliver_notification",
        user_id=user.id,
        kind="login_blocked",
        params={"address": ip_address, "count": count.hits, "minutes": minutes},
        dedupe_key=f"login-blocked:{user.id}:{pair.key_hash[:16]}:{count.window_start.isoformat()}",
    )
    session.commit()


def _after_success(
    session: Session,
    user: User,
    limits: Sequence[throttle.Limit],
    new_hash: str | None,
    now: datetime,
    audit_action: str,
) -> User:
    pair, address, account = limits
    throttle.forget(session, [pair, account])  # the owner is in: their counters start over
    throttle.refund(session, [address])  # a success is not a failure
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = now
    session.add(user)
    if user.role in credentials.STAFF_ROLES:  # an operator's or officer's login is audited
        ip_address = pair.key.partition("\x00")[2]
        actor = audit.Actor(user.id, str(user.role), user.organisation_id, ip_address)
        audit.record(session, actor, action=audit_action, object_type="user", object_id=user.id or 0)
    session.commit()
    return user


# Sessions and tokens live in market.credentials; these names stay for existing callers.
start_session = credentials.start_session
end_session = credentials.end_session
issue_api_token = credentials.issue_api_token
revoke_api_token = credentials.revoke_api_token


def reauthenticate(
    session: Session, credential: credentials.Credential, password: str, ip_address: str
) -> None:
    """The caller gave their password again (before a sensitive action): checked like a login,
    with the same rate limits, and recorded on the session or token it came with."""
    authenticate(session, credential.user.email, password, ip_address, audit_action="auth.reauthenticate")
    credentials.mark_reauthenticated(session, credential)


def purge_expired_credentials(session: Session) -> int:
    """Delete sessions and tokens past their lifetime, and rate-limit counters past their
    window. Idempotent."""
    settings = get_settings()
    now = utcnow()
    longest_window = max(settings.login_window_seconds, settings.registration_window_seconds)
    removed = credentials.purge(session, now)
    removed += throttle.purge(session, now - timedelta(seconds=longest_window), now)
    session.commit()
    return removed


def create_operator(session: Session, *, email: str, full_name: str, password: str) -> User:
    """An operator account (from the CLI: operators cannot register themselves)."""
    email = normalize_email(email)
    data = Registration.model_validate({"email": email, "password": password, "full_name": full_name})
    _check_password_quality(data.password, email)
    password_hash = _hash_new_password(session, data.password, None)
    _ensure_email_free(session, email)
    user = User(email=email, full_name=data.full_name, password_hash=password_hash, role=Role.OPERATOR)
    with _committed_unless_taken(session):
        session.add(user)
        session.flush()
        audit.record(
            session,
            audit.Actor(role="cli"),
            action="user.create_operator",
            object_type="user",
            object_id=user.id or 0,
            after={"email": email, "role": str(Role.OPERATOR)},
        )
    return user
