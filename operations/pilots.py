"""Pilots for operators: define one (checked against the province's wards and the organisations
that exist), end it, graduate it, and a report comparing usage inside and outside its scope.

The rule of pilots is choso.pilots'; the services are declared by the domains that own them,
imported here so that every one of them is known. Each use case commits once, with its audit
record (choso.pilots writes it).

The report covers the pilot's window up to today (or up to when it ended): the service's uses
(and amounts, where it moves money) per organisation and ward, split into inside the scope and
outside it. While a pilot runs, outside should be empty — that is the point of a pilot — unless
another pilot of the same service covers other places, or uses began before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

import fees.catalogue  # noqa: F401 - declares fees.collection
import matching.posts  # noqa: F401 - declares matching.market
import payments.cards  # noqa: F401 - declares payments.card
from choso import audit, pilots
from choso.errors import InvalidInput
from choso.i18n import LOCALE_TIMEZONE, N_
from market import stats as market_stats
from market.places import THANH_HOA, resolve_place
from operations.periods import check_days


@dataclass(frozen=True)
class PilotIn:
    service: str
    name: str
    description: str
    ward_codes: list[int]
    organisation_ids: list[int]
    starts_on: date
    ends_on: date


def _check_places(session: Session, data: PilotIn) -> None:
    check_days(data.starts_on, data.ends_on, fields=("starts_on", "ends_on"))
    for code in data.ward_codes:
        resolve_place(THANH_HOA, code)  # InvalidInput for a ward outside Thanh Hóa
    known = market_stats.organisations(session, data.organisation_ids)
    if set(data.organisation_ids) - known.keys():
        raise InvalidInput(N_("No such organisation."), field="organisation_ids")


def define(session: Session, actor: audit.Actor, data: PilotIn) -> pilots.Pilot:
    _check_places(session, data)
    pilot = pilots.add(
        session,
        actor,
        service=data.service,
        name=data.name,
        description=data.description,
        ward_codes=data.ward_codes,
        organisation_ids=data.organisation_ids,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
    )
    session.commit()
    return pilot


def end(session: Session, actor: audit.Actor, pilot_id: int, *, graduate: bool) -> pilots.Pilot:
    pilot = pilots.end(session, actor, pilot_id, graduate=graduate)
    session.commit()
    return pilot


def services() -> dict[str, str]:
    """key → label message id of every service that may be piloted."""
    return {key: service.label for key, service in pilots.declared().items()}


def view(pilot: pilots.Pilot) -> dict[str, Any]:
    return {
        "id": pilot.id,
        "service": pilot.service,
        "name": pilot.name,
        "description": pilot.description,
        "ward_codes": list(pilot.ward_codes),
        "organisation_ids": list(pilot.organisation_ids),
        "starts_on": pilot.starts_on,
        "ends_on": pilot.ends_on,
        "status": pilots.status(pilot, pilots.today()),
        "ended_at": pilot.ended_at,
        "graduated_at": pilot.graduated_at,
        "created_at": pilot.created_at,
    }


def _report_end(pilot: pilots.Pilot) -> datetime:
    last = min(pilot.ends_on, pilots.today())
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=LOCALE_TIMEZONE)
    stopped = pilot.ended_at or pilot.graduated_at
    return min(end, stopped) if stopped else end


def report(session: Session, pilot_id: int) -> dict[str, Any]:
    pilot = pilots.get_pilot(session, pilot_id)
    start = datetime.combine(pilot.starts_on, time(0), tzinfo=LOCALE_TIMEZONE)
    end = max(_report_end(pilot), start)
    usage = pilots.declared().get(pilot.service)
    rows = usage.usage(session, start, end) if usage and usage.usage else []
    sides = {side: {"organisations": set(), "uses": 0, "amount_vnd": 0} for side in ("inside", "outside")}
    for organisation_id, ward, uses, amount in rows:
        inside = (ward in pilot.ward_codes) or (organisation_id in pilot.organisation_ids)
        side = sides["inside" if inside else "outside"]
        side["organisations"].add(organisation_id)
        side["uses"] += uses
        side["amount_vnd"] += amount
    summary = {
        key: {
            "organisations": len(v["organisations"] - {None}),
            "uses": v["uses"],
            "amount_vnd": v["amount_vnd"],
        }
        for key, v in sides.items()
    }
    return {"pilot": view(pilot), "from": start, "to": end, **summary}
