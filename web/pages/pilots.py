"""Pilot pages for operators: the pilots with their state, a form to define one, ending or
graduating one, and a pilot's report (the rule of pilots is choso.pilots')."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from choso.errors import DomainError, InvalidInput
from choso.i18n import N_
from market.models import Role, User
from market.places import THANH_HOA, wards_of
from operations import pilots
from web.actors import actor_of
from web.deps import DB, ObjectId, page_role
from web.pages.common import form_text, render

router = APIRouter()
Operator = Annotated[User, Depends(page_role(Role.OPERATOR))]
STATUS_LABELS = {
    "planned": N_("Planned"),
    "running": N_("Running"),
    "ended": N_("Ended"),
    "graduated": N_("Scaled up"),
}


def _context(session: Session, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "pilots": [pilots.view(p) for p in pilots.pilots.list_pilots(session)],
        "services": pilots.services(),
        "status_labels": STATUS_LABELS,
        "wards": wards_of(THANH_HOA),
        "values": values,
        "errors": errors,
    }


@router.get("/operator/pilots", response_class=HTMLResponse)
def pilots_page(request: Request, session: DB, _operator: Operator) -> HTMLResponse:
    return render(request, "dashboard/pilots.html", _context(session, {}, {}))


def _numbers(text: str, field: str) -> list[int]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not all(p.isdigit() and len(p) <= 9 for p in parts):
        raise InvalidInput(N_("Give numbers separated by commas."), field=field)
    return [int(p) for p in parts]


def _pilot_in(form: Any) -> pilots.PilotIn:
    try:
        starts_on, ends_on = (
            date.fromisoformat(form_text(form, "starts_on", 10)),
            date.fromisoformat(form_text(form, "ends_on", 10)),
        )
    except ValueError:
        raise InvalidInput(N_("Give the first and last day."), field="starts_on") from None
    wards = [int(w) for w in form.getlist("ward_codes") if isinstance(w, str) and w.isdigit()]
    name = form_text(form, "name", 120)
    if not name:
        raise InvalidInput(N_("Give the pilot a name."), field="name")
    return pilots.PilotIn(
        service=form_text(form, "service", 60),
        name=name,
        description=form_text(form, "description", 500),
        ward_codes=wards,
        organisation_ids=_numbers(form_text(form, "organisation_ids", 500), "organisation_ids"),
        starts_on=starts_on,
        ends_on=ends_on,
    )


@router.post("/operator/pilots", response_class=HTMLResponse)
async def define_pilot(request: Request, session: DB, operator: Operator) -> Response:
    form = await request.form()
    values = {
        key: form_text(form, key, 500)
        for key in ("service", "name", "description", "organisation_ids", "starts_on", "ends_on")
    }
    try:
        data = _pilot_in(form)
        await run_in_threadpool(pilots.define, session, actor_of(request, operator), data)
    except DomainError as exc:
        session.rollback()
        errors = {exc.field or "__all__": exc.translated()}
        return render(
            request, "dashboard/pilots.html", _context(session, values, errors), status=exc.status_code
        )
    return RedirectResponse("/operator/pilots?defined=1", status_code=303)


@router.post("/operator/pilots/{pilot_id}/{decision}")
def end_pilot(
    pilot_id: ObjectId, decision: str, request: Request, session: DB, operator: Operator
) -> Response:
    if decision not in ("end", "graduate"):
        raise InvalidInput(N_("This page or object does not exist."))
    pilots.end(session, actor_of(request, operator), pilot_id, graduate=decision == "graduate")
    return RedirectResponse(f"/operator/pilots/{pilot_id}", status_code=303)


@router.get("/operator/pilots/{pilot_id}", response_class=HTMLResponse)
def pilot_page(pilot_id: ObjectId, request: Request, session: DB, _operator: Operator) -> HTMLResponse:
    context = {
        "report": pilots.report(session, pilot_id),
        "services": pilots.services(),
        "status_labels": STATUS_LABELS,
    }
    return render(request, "dashboard/pilot.html", context)
