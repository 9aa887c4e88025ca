"""Pilots for operators (JSON): the services that may be piloted, defining a pilot, ending or
graduating it (each audited), and its report. The rule of pilots is choso.pilots'."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from market.models import Role, User
from operations import pilots
from web.actors import actor_of
from web.deps import DB, MAX_ID, ObjectId, api_role

router = APIRouter(prefix="/operator/pilots", tags=["pilots"])
Operator = Annotated[User, Depends(api_role(Role.OPERATOR))]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class PilotCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(max_length=60, description="A declared service (GET /operator/pilots lists them)")
    name: str = Field(min_length=1, max_length=120)
    description: str = Field("", max_length=500)
    ward_codes: list[Id] = Field(default_factory=list, max_length=200)
    organisation_ids: list[Id] = Field(default_factory=list, max_length=200)
    starts_on: date
    ends_on: date


class PilotOut(BaseModel):
    id: int
    service: str
    name: str
    description: str
    ward_codes: list[int]
    organisation_ids: list[int]
    starts_on: date
    ends_on: date
    status: str
    ended_at: datetime | None
    graduated_at: datetime | None
    created_at: datetime


class PilotsOut(BaseModel):
    services: dict[str, str]
    pilots: list[PilotOut]


@router.get("", response_model=PilotsOut)
def list_pilots(_operator: Operator, session: DB) -> PilotsOut:
    """Every pilot (newest window first) and every service that may be piloted."""
    rows = [PilotOut(**pilots.view(p)) for p in pilots.pilots.list_pilots(session)]
    return PilotsOut(services=pilots.services(), pilots=rows)


@router.post("", status_code=201, response_model=PilotOut)
def define_pilot(request: Request, operator: Operator, session: DB, data: PilotCreateIn) -> PilotOut:
    """Define a pilot: from its first day the service is on only inside its scope (audited)."""
    pilot = pilots.define(session, actor_of(request, operator), pilots.PilotIn(**data.model_dump()))
    return PilotOut(**pilots.view(pilot))


@router.post("/{pilot_id}/end", response_model=PilotOut)
def end_pilot(pilot_id: ObjectId, request: Request, operator: Operator, session: DB) -> PilotOut:
    """End the pilot now: the service is off for new use (what is under way goes on). Audited."""
    return PilotOut(**pilots.view(pilots.end(session, actor_of(request, operator), pilot_id, graduate=False)))


@router.post("/{pilot_id}/graduate", response_model=PilotOut)
def graduate_pilot(pilot_id: ObjectId, request: Request, operator: Operator, session: DB) -> PilotOut:
    """Scale the service up: on everywhere from now. Audited."""
    return PilotOut(**pilots.view(pilots.end(session, actor_of(request, operator), pilot_id, graduate=True)))


@router.get("/{pilot_id}/report", response_model=dict[str, Any])
def pilot_report(pilot_id: ObjectId, _operator: Operator, session: DB) -> dict[str, Any]:
    """Usage inside and outside the pilot's scope over its window (so far)."""
    return jsonable_encoder(pilots.report(session, pilot_id))
