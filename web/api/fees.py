"""Public-service fees (JSON API): catalogues, notices, bulk uploads, schedules, reports.

Who may do what: anyone reads an agency's published catalogue and, with its link's token, a
notice; an agency's officers manage their own agency's catalogue, notices, uploads, schedules
and receipts; operators read every agency's notices and reports. Another agency's objects are
404s exactly like missing ones. Every call is one call into the fees domain.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from fees import bulk, catalogue, notices, recurring, reports
from fees.models import FeeNotice
from fees.schemas import (
    BatchOut,
    BatchRowOut,
    CancelIn,
    LineOut,
    NoticeIn,
    NoticeOut,
    PublicNoticeOut,
    ReceiptReplaceIn,
    ScheduleIn,
    ScheduleOut,
    ServiceIn,
    ServiceOut,
    SettingsIn,
    SettingsOut,
)
from market.models import Role, User
from payments import requests
from payments.schemas import ReceiptOut
from web.actors import actor_of
from web.api.schemas import Page
from web.deps import DB, MAX_ID, ObjectId, api_role, api_user
from web.downloads import XLSX, csv_attachment, file_attachment

router = APIRouter(prefix="/fees", tags=["fees"])
Caller = Annotated[User, Depends(api_user)]
Officer = Annotated[User, Depends(api_role(Role.AGENCY_OFFICER))]
Reader = Annotated[User, Depends(api_role(Role.AGENCY_OFFICER, Role.OPERATOR))]
IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=8, max_length=100, pattern=r"^[A-Za-z0-9._:\-]+$")
]
Token = Annotated[str, Path(min_length=1, max_length=64)]


def notice_out(session: DB, notice: FeeNotice, *, with_link: bool = False) -> NoticeOut:
    view = notices.view_of(session, notice)
    skip = ("id", "lines", "reference_code", "public_url")
    fields = {name: getattr(notice, name) for name in NoticeOut.model_fields if name not in skip}
    return NoticeOut(
        **fields,
        id=notice.id or 0,
        reference_code=view.request.reference_code,
        lines=[LineOut.of(line) for line in view.lines],
        public_url=notices.public_url(notice) if with_link else None,
    )


# --- catalogue ------------------------------------------------------------------------------


@router.get("/agencies/{agency_id}/services", response_model=list[ServiceOut])
def published_services(agency_id: ObjectId, session: DB) -> list[ServiceOut]:
    """Public: an agency's catalogue in force today."""
    return [ServiceOut.of(s) for s in catalogue.published_services(session, agency_id)]


@router.get("/services", response_model=list[ServiceOut])
def my_services(user: Reader, session: DB) -> list[ServiceOut]:
    """The officer's agency's catalogue, drafts included (every agency's for an operator)."""
    return [ServiceOut.of(s) for s in catalogue.services_for(session, user)]


@router.post("/services", status_code=201, response_model=ServiceOut)
def create_service(data: ServiceIn, request: Request, user: Officer, session: DB) -> ServiceOut:
    return ServiceOut.of(catalogue.create_service(session, user, data, actor=actor_of(request, user)))


@router.get("/services/{service_id}", response_model=ServiceOut)
def get_service(service_id: ObjectId, user: Caller, session: DB) -> ServiceOut:
    return ServiceOut.of(catalogue.get_service_for(session, user, service_id))


@router.put("/services/{service_id}", response_model=ServiceOut)
def update_service(
    service_id: ObjectId, data: ServiceIn, request: Request, user: Officer, session: DB
) -> ServiceOut:
    updated = catalogue.update_service(session, user, service_id, data, actor=actor_of(request, user))
    return ServiceOut.of(updated)


@router.get("/settings", response_model=SettingsOut)
def get_settings_(user: Officer, session: DB) -> SettingsOut:
    return SettingsOut.of(catalogue.settings_of(session, catalogue.officer_agency(user)))


@router.put("/settings", response_model=SettingsOut)
def save_settings(data: SettingsIn, request: Request, user: Officer, session: DB) -> SettingsOut:
    return SettingsOut.of(catalogue.save_settings(session, user, data, actor=actor_of(request, user)))


# --- notices --------------------------------------------------------------------------------


@router.post("/notices", status_code=201, response_model=NoticeOut)
def issue_notice(
    data: NoticeIn, request: Request, user: Officer, session: DB, idempotency_key: IdempotencyKey
) -> NoticeOut:
    """Issue a notice; the answer carries the payer's link (`public_url`). A retry with the same
    `Idempotency-Key` returns the same notice; the same key with other content is a 409."""
    notice = notices.issue_notice(
        session, user, data, idempotency_key=idempotency_key, actor=actor_of(request, user)
    )
    return notice_out(session, notice, with_link=True)


@router.get("/notices", response_model=Page[NoticeOut])
def list_notices(
    user: Reader,
    session: DB,
    status: Annotated[str | None, Query(pattern="^(open|paid|expired|cancelled)$")] = None,
    q: Annotated[str, Query(max_length=60, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[NoticeOut]:
    rows, total = notices.list_notices_for(session, user, status=status, search=q, limit=limit, offset=offset)
    return Page[NoticeOut](
        items=[notice_out(session, n) for n in rows], total=total, limit=limit, offset=offset
    )


@router.get("/notices/{notice_id}", response_model=NoticeOut)
def get_notice(notice_id: ObjectId, user: Reader, session: DB) -> NoticeOut:
    notice = notices.get_notice_for(session, user, notice_id)
    return notice_out(session, notice, with_link=user.role == Role.AGENCY_OFFICER)


@router.post("/notices/{notice_id}/cancel", response_model=NoticeOut)
def cancel_notice(
    notice_id: ObjectId, data: CancelIn, request: Request, user: Officer, session: DB
) -> NoticeOut:
    """Cancel an open notice with a reason; it stays visible as cancelled, and money that still
    arrives for it is kept and refunded."""
    notice = notices.cancel_notice(
        session, user, notice_id, reason=data.reason, actor=actor_of(request, user)
    )
    return notice_out(session, notice)


@router.get("/notices/{notice_id}/receipts", response_model=list[ReceiptOut])
def notice_receipts(notice_id: ObjectId, user: Reader, session: DB) -> list[ReceiptOut]:
    return [ReceiptOut.of(r) for r in notices.notice_view(session, user, notice_id).receipts]


@router.post("/receipts/{receipt_id}/replace", status_code=201, response_model=ReceiptOut)
def replace_receipt(
    receipt_id: ObjectId, data: ReceiptReplaceIn, request: Request, user: Officer, session: DB
) -> ReceiptOut:
    """Cancel a mistaken e-receipt with a reason and issue its replacement (the next number of
    the series); both stay in the series."""
    return ReceiptOut.of(
        notices.replace_receipt(session, user, receipt_id, data, actor=actor_of(request, user))
    )


@router.get("/public/{token}", response_model=PublicNoticeOut)
def public_notice(token: Token, session: DB) -> PublicNoticeOut:
    """Public, no login: the notice a payer's link opens (ID numbers masked). A wrong token is
    the same 404 as any missing object."""
    view = notices.public_view(session, token)
    notice, pay = view.notice, view.request
    return PublicNoticeOut(
        number=notice.number,
        agency_name=view.agency.name,
        status=notice.status,
        payer_name=notice.payer_name,
        payer_id_masked=view.payer_id_masked,
        amount_vnd=notice.amount_vnd,
        outstanding_vnd=pay.outstanding_vnd if pay.status == "open" else 0,
        reference_code=pay.reference_code,
        expires_at=notice.expires_at,
        paid_at=notice.paid_at,
        lines=[LineOut.of(line) for line in view.lines],
        vietqr=requests.vietqr_payload(session, pay) if pay.status == "open" else None,
        receipt_urls=[r.content["verification_url"] for r in view.receipts],
    )


# --- bulk uploads ---------------------------------------------------------------------------


def batch_out(batch: object) -> BatchOut:
    fields = {name: getattr(batch, name) for name in BatchOut.model_fields if name != "rows"}
    rows = [
        BatchRowOut(
            row=row["row"],
            status=row["status"],
            values=row["values"],
            errors=[{"field": e["field"], "code": e["code"], "message": e["message"]} for e in row["errors"]],
        )
        for row in batch.rows  # type: ignore[attr-defined]
    ]
    return BatchOut(**fields, rows=rows)


@router.post(
    "/batches",
    status_code=201,
    response_model=BatchOut,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def upload_batch(
    request: Request,
    user: Officer,
    session: DB,
    filename: Annotated[str, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f/\\]*$")] = "upload.csv",
) -> BatchOut:
    """Upload a CSV of notices (the body is the file): every row is validated and the result
    stored; nothing is issued until `POST /fees/batches/{id}/issue`."""
    data = await request.body()
    from starlette.concurrency import run_in_threadpool

    batch = await run_in_threadpool(
        bulk.validate_upload, session, user, data, filename=filename, actor=actor_of(request, user)
    )
    return batch_out(batch)


@router.get("/batches/{batch_id}", response_model=BatchOut)
def get_batch(batch_id: ObjectId, user: Reader, session: DB) -> BatchOut:
    return batch_out(bulk.get_batch_for(session, user, batch_id))


@router.post("/batches/{batch_id}/issue", response_model=BatchOut)
def issue_batch(batch_id: ObjectId, request: Request, user: Officer, session: DB) -> BatchOut:
    """Issue the valid rows of an upload; rows issued before (same file and row) are not issued again."""
    return batch_out(bulk.issue_batch(session, user, batch_id, actor=actor_of(request, user)))


# --- schedules ------------------------------------------------------------------------------


@router.get("/schedules", response_model=list[ScheduleOut])
def list_schedules(user: Reader, session: DB) -> list[ScheduleOut]:
    return [ScheduleOut.of(s) for s in recurring.list_schedules_for(session, user)]


@router.post("/schedules", status_code=201, response_model=ScheduleOut)
def create_schedule(data: ScheduleIn, request: Request, user: Officer, session: DB) -> ScheduleOut:
    """A notice issued every month on `day_of_month` by a periodic job (once per month)."""
    return ScheduleOut.of(recurring.create_schedule(session, user, data, actor=actor_of(request, user)))


@router.post("/schedules/{schedule_id}/stop", response_model=ScheduleOut)
def stop_schedule(schedule_id: ObjectId, request: Request, user: Officer, session: DB) -> ScheduleOut:
    return ScheduleOut.of(recurring.stop_schedule(session, user, schedule_id, actor=actor_of(request, user)))


# --- reports --------------------------------------------------------------------------------

Period = Annotated[str, Query(pattern="^(day|month)$")]
AgencyId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Day = Annotated[date, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))]


@router.get("/reports", response_model=dict[str, object])
def report(
    user: Reader, session: DB, on: Day, period: Period = "day", agency_id: AgencyId = None
) -> dict[str, object]:
    """Collections of an agency for a day or the month of `on`: by service, by channel, refunds,
    and the ledger's figure (`ties` is true when it equals what was collected)."""
    built = reports.build(session, user, agency_id=agency_id, kind=period, on=on)
    return {
        "agency_id": built.agency_id,
        "period": period,
        "first_day": built.period.first.isoformat(),
        "last_day": built.period.last.isoformat(),
        "collected_vnd": built.collected_vnd,
        "channels": built.channels,
        "paid_vnd": built.total("paid"),
        "outstanding_vnd": built.total("open"),
        "cancelled_vnd": built.total("cancelled"),
        "expired_vnd": built.total("expired"),
        "refund_due_vnd": built.refund_due_vnd,
        "refunded_vnd": built.refunded_vnd,
        "ledger_vnd": built.ledger_vnd,
        "ties": built.ties,
        "services": [
            {"code": r.code, "name": r.name, "lines": r.lines, "quantity": r.quantity, **r.amounts}
            for r in built.services
        ],
    }


@router.get(
    "/reports.{file_format}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, XLSX: {}}, "description": "The report as a file"}},
)
def report_file(
    file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")],
    user: Reader,
    session: DB,
    on: Day,
    period: Period = "day",
    agency_id: AgencyId = None,
) -> Response:
    built = reports.build(session, user, agency_id=agency_id, kind=period, on=on)
    return report_response(built, file_format)


def report_response(built: reports.Report, file_format: str) -> Response:
    period = f"{built.period.first.isoformat()}-{built.period.kind}"
    name = f"bao-cao-thu-phi-{built.agency_id}-{period}.{file_format}"
    # Names payers and amounts: never cached (web.downloads).
    if file_format == "xlsx":
        return file_attachment(reports.to_xlsx(built), name, XLSX)
    return csv_attachment(reports.to_csv(built), name)
