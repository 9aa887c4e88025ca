"""Recurring notices and reminders, run by periodic jobs.

Rules: a schedule issues one notice per calendar month (local time), on or after its day of the
month, between its start and end dates; the issue key ``schedule:<id>:<YYYY-MM>`` (UNIQUE per
agency) makes the job idempotent however often it runs, even concurrently. A schedule whose
notice cannot be issued (its service retired) is skipped and tried again on the next run.
Reminders: an open notice that expires within its agency's ``reminder_days`` gets one reminder
record per kind (UNIQUE); it goes to the payer's e-mail, else phone, else to the agency's officers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select

from choso import audit
from choso.db import insert_ignore, utcnow
from choso.errors import DomainError, NotFound
from choso.i18n import N_
from choso.jobs import enqueue_after_commit
from fees import notices
from fees.catalogue import NOT_FOUND, officer_agency, settings_of
from fees.models import FeeNotice, FeeReminder, FeeSchedule, FeeService, NoticeStatus
from fees.schemas import LineIn, NoticeIn, ScheduleIn
from market.models import Role, User

log = logging.getLogger(__name__)


def create_schedule(session: Session, user: User, data: ScheduleIn, *, actor: audit.Actor) -> FeeSchedule:
    agency_id = officer_agency(user)
    service = session.get(FeeService, data.service_id)
    if service is None or service.agency_id != agency_id:
        raise NotFound(N_("No such service in your catalogue."), field="service_id")
    schedule = FeeSchedule(agency_id=agency_id, created_by_id=user.id, **data.model_dump())
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        actor,
        action="fee_schedule.create",
        object_type="fee_schedule",
        object_id=schedule.id or 0,
        after=data.model_dump(mode="json"),
    )
    session.commit()
    return schedule


def list_schedules_for(session: Session, user: User) -> list[FeeSchedule]:
    query = select(FeeSchedule).order_by(col(FeeSchedule.id))
    if user.role != Role.OPERATOR:
        query = query.where(FeeSchedule.agency_id == officer_agency(user))
    return list(session.exec(query))


def stop_schedule(session: Session, user: User, schedule_id: int, *, actor: audit.Actor) -> FeeSchedule:
    schedule = session.get(FeeSchedule, schedule_id)
    if schedule is None or user.role != Role.AGENCY_OFFICER or schedule.agency_id != user.organisation_id:
        raise NotFound(NOT_FOUND)
    schedule.active = False
    session.add(schedule)
    audit.record(
        session, actor, action="fee_schedule.stop", object_type="fee_schedule", object_id=schedule_id
    )
    session.commit()
    return schedule


def _notice_in(schedule: FeeSchedule, period: str) -> NoticeIn:
    return NoticeIn(
        payer_name=schedule.payer_name,
        payer_id_number=schedule.payer_id_number,
        payer_tax_code=schedule.payer_tax_code,
        payer_phone=schedule.payer_phone,
        payer_email=schedule.payer_email,
        dossier_number=f"{schedule.dossier_prefix}-{period}" if schedule.dossier_prefix else "",
        lines=[LineIn(service_id=schedule.service_id, quantity=schedule.quantity)],
        note=f"Kỳ {period[5:]}/{period[:4]}",
    )


def issue_due(session: Session, *, now: datetime | None = None) -> int:
    """The periodic job's use case: this month's notice of every due schedule, once."""
    now = now or utcnow()
    today = now.astimezone(notices.LOCAL).date()
    period = f"{today.year:04d}-{today.month:02d}"
    due = session.exec(
        select(FeeSchedule.id).where(
            col(FeeSchedule.active).is_(True),
            col(FeeSchedule.starts_on) <= today,
            or_(col(FeeSchedule.ends_on).is_(None), col(FeeSchedule.ends_on) >= today),
            col(FeeSchedule.day_of_month) <= today.day,
        )
    ).all()
    session.commit()
    issued = 0
    for schedule_id in due:
        issued += _issue_one(session, schedule_id or 0, period, now)
    return issued


def _issue_one(session: Session, schedule_id: int, period: str, now: datetime) -> int:
    schedule = session.get_one(FeeSchedule, schedule_id)
    key = f"schedule:{schedule_id}:{period}"
    if notices.by_issue_key(session, schedule.agency_id, key) is not None:
        session.commit()
        return 0
    try:
        notices.issue(
            session,
            schedule.agency_id,
            _notice_in(schedule, period),
            issue_key=key,
            source="schedule",
            created_by_id=schedule.created_by_id,
            schedule_id=schedule_id,
            period=period,
            now=now,
        )
        session.commit()
    except IntegrityError:  # a concurrent run issued it
        session.rollback()
        return 0
    except (DomainError, ValueError) as exc:
        session.rollback()
        log.warning("schedule %s: no notice for %s: %s", schedule_id, period, exc)
        return 0
    return 1


# --- reminders --------------------------------------------------------------------------------


def record_reminders(session: Session, *, now: datetime | None = None, batch: int = 500) -> int:
    """Remind payers of open notices that expire soon (once per notice)."""
    now = now or utcnow()
    candidates = session.exec(
        select(FeeNotice)
        .outerjoin(FeeReminder, col(FeeReminder.notice_id) == FeeNotice.id)
        .where(
            FeeNotice.status == NoticeStatus.OPEN,
            col(FeeNotice.expires_at) > now,
            col(FeeNotice.expires_at) <= now + timedelta(days=60),
            col(FeeReminder.id).is_(None),
        )
        .order_by(col(FeeNotice.expires_at))
        .limit(batch)
    ).all()
    recorded = 0
    for notice in candidates:
        days = settings_of(session, notice.agency_id).reminder_days
        if days and notice.expires_at <= now + timedelta(days=days):
            recorded += _remind(session, notice)
    session.commit()
    return recorded


def _remind(session: Session, notice: FeeNotice) -> int:
    channel, recipient = (
        ("email", notice.payer_email)
        if notice.payer_email
        else ("sms", notice.payer_phone)
        if notice.payer_phone
        else ("officer", "")
    )
    insert_ignore(
        session,
        FeeReminder,
        {
            "notice_id": notice.id,
            "kind": "before_expiry",
            "channel": channel,
            "recipient": recipient,
            "status": "queued",
            "created_at": utcnow(),
        },
        conflict_columns=["notice_id", "kind"],
    )
    enqueue_after_commit(
        session,
        "market.notify_organisation",
        organisation_id=notice.agency_id,
        kind="fee_notice_expiring",
        params={"number": notice.number, "payer": notice.payer_name},
        dedupe_key=f"fee_notice_expiring:{notice.id}",
    )
    return 1
