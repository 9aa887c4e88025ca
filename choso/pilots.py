"""Pilots: the province's sandbox for new services, bounded in place and time.

Code declares the services that can be piloted (:func:`declare`: a payment method, fee
collection, the matching market, a feature flag). An operator defines a pilot of one: the
wards and/or organisations where it is on, and a window of days (local time). The rule:

* a service with no pilot at all is on everywhere (what it was before pilots existed);
* a service with a graduated pilot is on everywhere (the pilot was scaled up);
* otherwise it is on only inside the scope of a pilot running today: outside, it is invisible
  and its endpoints answer exactly as if it did not exist (404). A pilot defined for a date to
  come therefore already hides the service elsewhere, and an ended one leaves it off until an
  operator graduates a pilot of it or defines another.

Ending a pilot never strands money: it only hides the service for NEW use (an offer, a new
notice, a new post). Whatever was started inside it — open payment requests, card payments in
progress, refunds, accepted proposals — goes on through the usual paths, which never ask this
module. Pilots are never deleted: defining, ending and graduating one are audited.

The kernel keeps no domain's tables here: organisations and wards are stored by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, Session, SQLModel, col, select

from choso import audit
from choso.db import UTCDateTime, utcnow
from choso.errors import Conflict, InvalidInput, NotFound
from choso.i18n import LOCALE_TIMEZONE, N_

# Usage of a service in a window, per place: rows of (organisation_id, ward_code, uses, amount_vnd).
UsageRow = tuple[int | None, int | None, int, int]
UsageFn = Callable[[Session, datetime, datetime], list[UsageRow]]


@dataclass(frozen=True)
class Service:
    key: str
    label: str  # an English message id
    usage: UsageFn | None = None


_DECLARED: dict[str, Service] = {}


def declare(key: str, label: str, usage: UsageFn | None = None) -> str:
    """Declare a service that may be piloted (at import, by the domain that owns it); the key."""
    _DECLARED[key] = Service(key, label, usage)
    return key


def declared() -> dict[str, Service]:
    return dict(sorted(_DECLARED.items()))


class Pilot(SQLModel, table=True):
    __tablename__ = "pilot"
    __table_args__ = (sa.CheckConstraint("starts_on <= ends_on", name="window"),)

    id: int | None = Field(default=None, primary_key=True)
    service: str = Field(max_length=60, index=True)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=500)
    ward_codes: list[int] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    organisation_ids: list[int] = Field(default_factory=list, sa_type=sa.JSON, nullable=False)
    starts_on: date
    ends_on: date
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # ended early by an operator
    ended_by_id: int | None = None
    graduated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # on everywhere since
    created_by_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def today() -> date:
    return utcnow().astimezone(LOCALE_TIMEZONE).date()


@dataclass(frozen=True)
class Where:
    """Who and where is asking: the wards and organisations of the use (any may be unknown)."""

    ward_codes: frozenset[int] = field(default_factory=frozenset)
    organisation_ids: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *, wards: Iterable[int | None] = (), organisations: Iterable[int | None] = ()) -> Where:
        return cls(
            frozenset(w for w in wards if w is not None), frozenset(o for o in organisations if o is not None)
        )


def status(pilot: Pilot, on: date) -> str:
    """planned, running, ended or graduated (pure)."""
    if pilot.graduated_at is not None:
        return "graduated"
    if pilot.ended_at is not None or on > pilot.ends_on:
        return "ended"
    return "planned" if on < pilot.starts_on else "running"


def in_scope(pilot: Pilot, where: Where, on: date) -> bool:
    """Whether ``where`` is inside a pilot running on ``on`` (pure)."""
    if status(pilot, on) != "running":
        return False
    return bool(where.ward_codes & set(pilot.ward_codes)) or bool(
        where.organisation_ids & set(pilot.organisation_ids)
    )


def decide(pilots: list[Pilot], where: Where, on: date) -> bool:
    """The module's rule on a service's pilots (pure)."""
    if not pilots or any(p.graduated_at is not None for p in pilots):
        return True
    return any(in_scope(p, where, on) for p in pilots)


def available(session: Session, service: str, where: Where, *, on: date | None = None) -> bool:
    """Whether ``service`` is on for ``where`` today (see the module's rule)."""
    pilots = list(session.exec(select(Pilot).where(Pilot.service == service)))
    return decide(pilots, where, on or today())


NOT_FOUND = N_("This page or object does not exist.")


def require(session: Session, service: str, where: Where) -> None:
    """NotFound, like a missing page, when ``service`` is off for ``where``."""
    if not available(session, service, where):
        raise NotFound(NOT_FOUND)


# --- defining and ending pilots (flush only: the caller commits) ------------------------------


def list_pilots(session: Session, *, service: str | None = None) -> list[Pilot]:
    query = select(Pilot).order_by(col(Pilot.starts_on).desc(), col(Pilot.id).desc())
    if service is not None:
        query = query.where(Pilot.service == service)
    return list(session.exec(query))


def get_pilot(session: Session, pilot_id: int) -> Pilot:
    pilot = session.get(Pilot, pilot_id)
    if pilot is None:
        raise NotFound(NOT_FOUND)
    return pilot


def summary(pilot: Pilot) -> dict[str, Any]:
    """What an audit record keeps of a pilot."""
    return {
        "service": pilot.service,
        "name": pilot.name,
        "wards": list(pilot.ward_codes),
        "organisations": list(pilot.organisation_ids),
        "from": pilot.starts_on.isoformat(),
        "to": pilot.ends_on.isoformat(),
        "ended": pilot.ended_at.isoformat() if pilot.ended_at else None,
        "graduated": pilot.graduated_at.isoformat() if pilot.graduated_at else None,
    }


def add(
    session: Session,
    actor: audit.Actor,
    *,
    service: str,
    name: str,
    description: str,
    ward_codes: list[int],
    organisation_ids: list[int],
    starts_on: date,
    ends_on: date,
) -> Pilot:
    if service not in _DECLARED:
        raise InvalidInput(N_("No such service can be piloted."), field="service")
    if not ward_codes and not organisation_ids:
        raise InvalidInput(N_("A pilot needs at least one ward or organisation."), field="ward_codes")
    if ends_on < starts_on:
        raise InvalidInput(N_("The pilot must end on or after the day it starts."), field="ends_on")
    if ends_on < today():
        raise InvalidInput(N_("The pilot would already be over."), field="ends_on")
    pilot = Pilot(
        service=service,
        name=name,
        description=description,
        ward_codes=sorted(set(ward_codes)),
        organisation_ids=sorted(set(organisation_ids)),
        starts_on=starts_on,
        ends_on=ends_on,
        created_by_id=actor.user_id,
    )
    session.add(pilot)
    session.flush()
    audit.record(
        session,
        actor,
        action="pilot.define",
        object_type="pilot",
        object_id=pilot.id or 0,
        after=summary(pilot),
    )
    return pilot


def end(session: Session, actor: audit.Actor, pilot_id: int, *, graduate: bool) -> Pilot:
    """End a pilot now: off everywhere (``graduate=False``) or on everywhere (``True``)."""
    pilot = get_pilot(session, pilot_id)
    if status(pilot, today()) in ("ended", "graduated"):
        raise Conflict(N_("This pilot has already ended."))
    before = summary(pilot)
    now = utcnow()
    if graduate:
        pilot.graduated_at = now
    else:
        pilot.ended_at = now
    pilot.ended_by_id = actor.user_id
    session.add(pilot)
    session.flush()
    action = "pilot.graduate" if graduate else "pilot.end"
    audit.record(
        session,
        actor,
        action=action,
        object_type="pilot",
        object_id=pilot_id,
        before=before,
        after=summary(pilot),
    )
    return pilot
