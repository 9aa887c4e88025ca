"""Each agency's fee catalogue: its officers edit it; everyone reads what is published.

Rule: a draft is visible only to its agency's officers and to operators; to anyone else it is
a 404 like a missing one. A change never reaches notices already issued (they hold copies).
Every change is audited. Use cases commit once; lookups never write.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, or_, select

from choso import audit, pilots
from choso.db import utcnow
from choso.errors import Conflict, NotFound, PermissionDenied
from choso.i18n import N_
from fees import stats as fee_stats
from fees.models import FeeAgencySettings, FeeService
from fees.schemas import ServiceIn, SettingsIn
from market.models import Organisation, OrganisationKind, Role, User
from payments.requests import receiving_account

NOT_FOUND = N_("This page or object does not exist.")


def officer_agency(user: User) -> int:
    """The agency an officer acts for; anyone else may not manage a catalogue."""
    if user.role != Role.AGENCY_OFFICER or user.organisation_id is None:
        raise PermissionDenied(N_("Your role does not allow this."))
    return user.organisation_id


# Fee collection may be piloted (choso.pilots) by agency or by the agency's ward: outside a running
# pilot an agency's public catalogue and new notices do not exist; notices already issued stay
# payable and refundable.
FEE_SERVICE = pilots.declare(
    "fees.collection", N_("Public-service fee collection"), usage=fee_stats.fee_usage
)


def require_pilot(session: Session, agency_id: int) -> None:
    agency = session.get(Organisation, agency_id)
    ward = agency.ward_code if agency else None
    pilots.require(session, FEE_SERVICE, pilots.Where.of(wards=[ward], organisations=[agency_id]))


def get_agency(session: Session, agency_id: int) -> Organisation:
    agency = session.get(Organisation, agency_id)
    if agency is None or agency.kind != OrganisationKind.AGENCY:
        raise NotFound(NOT_FOUND)
    return agency


def list_agencies(session: Session) -> list[Organisation]:
    query = select(Organisation).where(Organisation.kind == OrganisationKind.AGENCY)
    return list(session.exec(query.order_by(col(Organisation.name))))


def can_manage(user: User | None, service: FeeService) -> bool:
    return user is not None and user.role == Role.AGENCY_OFFICER and user.organisation_id == service.agency_id


def can_see(user: User | None, service: FeeService) -> bool:
    return service.published or can_manage(user, service) or (user is not None and user.role == Role.OPERATOR)


def get_service_for(session: Session, user: User | None, service_id: int) -> FeeService:
    service = session.get(FeeService, service_id)
    if service is None or not can_see(user, service):
        raise NotFound(NOT_FOUND)
    return service


def published_services(session: Session, agency_id: int, *, on: date | None = None) -> list[FeeService]:
    """The public catalogue of an agency: published entries in force on ``on`` (today)."""
    get_agency(session, agency_id)
    require_pilot(session, agency_id)
    on = on or date.today()
    query = select(FeeService).where(
        FeeService.agency_id == agency_id,
        col(FeeService.published).is_(True),
        col(FeeService.active_from) <= on,
        or_(col(FeeService.active_to).is_(None), col(FeeService.active_to) >= on),
    )
    return list(session.exec(query.order_by(col(FeeService.code))))


def services_for(session: Session, user: User) -> list[FeeService]:
    """Every entry an officer manages (drafts too); all agencies' for an operator."""
    query = select(FeeService)
    if user.role != Role.OPERATOR:
        query = query.where(FeeService.agency_id == officer_agency(user))
    return list(session.exec(query.order_by(col(FeeService.agency_id), col(FeeService.code))))


def _values(session: Session, agency_id: int, data: ServiceIn) -> dict[str, object]:
    receiving_account(session, agency_id, data.bank_account_id)  # the agency's own or the platform's
    values = data.model_dump()
    values["tiers"] = [tier.model_dump() for tier in data.tiers]
    return values


def _code_taken(session: Session, agency_id: int, code: str, other_than: int | None) -> bool:
    query = select(FeeService.id).where(FeeService.agency_id == agency_id, FeeService.code == code)
    found = session.exec(query).first()
    return found is not None and found != other_than


def create_service(session: Session, user: User, data: ServiceIn, *, actor: audit.Actor) -> FeeService:
    agency_id = officer_agency(user)
    if _code_taken(session, agency_id, data.code, None):
        raise Conflict(N_("The catalogue already has a service with this code."), field="code")
    service = FeeService(agency_id=agency_id, **_values(session, agency_id, data))
    session.add(service)
    session.flush()
    audit.record(
        session,
        actor,
        action="fee_service.create",
        object_type="fee_service",
        object_id=service.id or 0,
        after=data.model_dump(mode="json"),
    )
    session.commit()
    return service


def update_service(
    session: Session, user: User, service_id: int, data: ServiceIn, *, actor: audit.Actor
) -> FeeService:
    service = session.get(FeeService, service_id)
    if service is None or not can_manage(user, service):
        raise NotFound(NOT_FOUND)
    if _code_taken(session, service.agency_id, data.code, service.id):
        raise Conflict(N_("The catalogue already has a service with this code."), field="code")
    before = ServiceIn.model_validate(
        {name: getattr(service, name) for name in ServiceIn.model_fields}
    ).model_dump(mode="json")
    for name, value in _values(session, service.agency_id, data).items():
        setattr(service, name, value)
    service.updated_at = utcnow()
    session.add(service)
    audit.record(
        session,
        actor,
        action="fee_service.update",
        object_type="fee_service",
        object_id=service_id,
        before=before,
        after=data.model_dump(mode="json"),
    )
    session.commit()
    return service


# --- an agency's receipt identity and notice defaults -----------------------------------------


def settings_of(session: Session, agency_id: int) -> FeeAgencySettings:
    """The agency's settings (defaults until an officer saves them; never written by a read)."""
    found = session.exec(select(FeeAgencySettings).where(FeeAgencySettings.agency_id == agency_id)).first()
    return found or FeeAgencySettings(agency_id=agency_id)


def save_settings(session: Session, user: User, data: SettingsIn, *, actor: audit.Actor) -> FeeAgencySettings:
    agency_id = officer_agency(user)
    row = settings_of(session, agency_id)
    before = {"receipt_form": row.receipt_form, "receipt_series": row.receipt_series}
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
    audit.record(
        session,
        actor,
        action="fee_settings.update",
        object_type="organisation",
        object_id=agency_id,
        before=before,
        after=data.model_dump(),
    )
    session.commit()
    return row
