"""Fee pages: the public catalogue of an agency, the public notice (no login, by its link's
token), and the officer's pages — catalogue, issuing notices, the printable slip, bulk upload,
cancellation, receipt replacement and the collection report with its chart and downloads.

Rule: a wrong token, another agency's object or a draft of someone else's catalogue is the same
404 as a missing page. Public notice pages send no-store and noindex headers and show ID numbers
masked. Every lookup and change is one call into the fees domain; there is no SQL here.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from fees import bulk, catalogue, notices, reports, tabular
from fees.schemas import CancelIn, NoticeIn, ReceiptReplaceIn, ServiceIn
from market.models import Role, User
from payments import banks, cards, qr_render, requests
from payments.receipt_render import render_receipt_pdf
from web.actors import actor_of
from web.api.fees import report_response
from web.deps import DB, ObjectId, page_role, page_user_optional
from web.downloads import XLSX, csv_attachment, file_attachment
from web.pages.common import form_errors_from, form_text, render

router = APIRouter()
Officer = Annotated[User, Depends(page_role(Role.AGENCY_OFFICER))]
Reader = Annotated[User, Depends(page_role(Role.AGENCY_OFFICER, Role.OPERATOR))]
OptionalViewer = Annotated[User | None, Depends(page_user_optional)]
Token = Annotated[str, Path(min_length=1, max_length=64)]
PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
NOTICE_STATUSES = {
    "open": N_("Waiting for payment"),
    "paid": N_("Paid"),
    "expired": N_("Expired"),
    "cancelled": N_("Cancelled"),
}
KINDS = {"phi": N_("Fee"), "le_phi": N_("Charge")}
RULES = {"fixed": N_("Fixed amount"), "per_unit": N_("Per unit"), "tiered": N_("Tiers by quantity")}
ROW_STATUSES = {
    "valid": N_("Valid"),
    "invalid": N_("Has errors"),
    "issued": N_("Issued"),
    "already_issued": N_("Already issued"),
}
MAX_LINES = 3
_TIER = re.compile(r"^\s*(\d{1,7}|\*)\s*[=:]\s*(\d{1,13})\s*$")


def _new_key() -> str:
    return secrets.token_urlsafe(18)


def _labels() -> dict[str, Any]:
    return {"notice_statuses": NOTICE_STATUSES, "kinds": KINDS, "rules": RULES, "row_statuses": ROW_STATUSES}


def _status_of(exc: ValidationError | DomainError) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


# --- public pages ---------------------------------------------------------------------------


@router.get("/fees/agencies/{agency_id}", response_class=HTMLResponse)
def agency_catalogue(
    agency_id: ObjectId, request: Request, session: DB, _viewer: OptionalViewer
) -> HTMLResponse:
    """Public: the services an agency charges for, their amounts and legal basis."""
    agency = catalogue.get_agency(session, agency_id)
    services = catalogue.published_services(session, agency_id)
    return render(request, "fees/agency.html", {"agency": agency, "services": services, **_labels()})


def _vietqr_data_url(session: Session, view: notices.NoticeView) -> str | None:
    if view.request.status != "open":
        return None
    svg = qr_render.render_svg(requests.vietqr_payload(session, view.request), box_size=6, border=2)
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


@router.get("/fees/n/{token}", response_class=HTMLResponse)
def public_notice(token: Token, request: Request, session: DB, _viewer: OptionalViewer) -> HTMLResponse:
    """Public, no login: a notice by its link (agency, items, amount, how to pay, state)."""
    view = notices.public_view(session, token)
    context = {
        "view": view,
        "token": token,
        "bank": banks.find_bank(view.account.bank_bin),
        "vietqr": _vietqr_data_url(session, view),
        "card_url": f"/fees/n/{token}/card" if cards.offered(view.request) else None,  # pages: fee_cards
        **_labels(),
    }
    return render(request, "fees/public_notice.html", context, headers=PUBLIC_HEADERS)


@router.get("/fees/n/{token}/qr.{image_format}")
def public_notice_qr(
    token: Token, image_format: Annotated[str, Path(pattern="^(png|svg)$")], session: DB
) -> Response:
    view = notices.public_view(session, token)
    if view.request.status != "open":
        raise NotFound(catalogue.NOT_FOUND)
    payload = requests.vietqr_payload(session, view.request)
    media = "image/png" if image_format == "png" else "image/svg+xml"
    return Response(qr_render.render(payload, image_format), media_type=media, headers=PUBLIC_HEADERS)


@router.get("/fees/n/{token}/receipts/{receipt_id}.pdf")
def public_receipt_pdf(token: Token, receipt_id: ObjectId, session: DB) -> Response:
    view = notices.public_view(session, token)
    receipt = next((r for r in view.receipts if r.id == receipt_id), None)
    if receipt is None:
        raise NotFound(catalogue.NOT_FOUND)
    name = receipt_filename(view.notice.number, receipt.content["number_text"])
    headers = {**PUBLIC_HEADERS, "Content-Disposition": f"inline; filename={name}"}
    return Response(render_receipt_pdf(receipt.content), media_type="application/pdf", headers=headers)


def receipt_filename(notice_number: str, receipt_number: str) -> str:
    """The e-receipt's file name: the notice it pays, and its own number in the series."""
    return f"bien-lai-{notice_number}-{receipt_number}.pdf"


# --- the officer's notices ------------------------------------------------------------------


@router.get("/fees", response_class=HTMLResponse)
def dashboard(
    request: Request,
    session: DB,
    user: Reader,
    status: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str, Query(max_length=60)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    status = status if status in NOTICE_STATUSES else None
    search = form_text({"q": q}, "q", 60)
    rows, total = notices.list_notices_for(
        session, user, status=status, search=search, limit=50, offset=(page - 1) * 50
    )
    context = {"rows": rows, "total": total, "status": status or "", "q": search, "page": page, **_labels()}
    return render(request, "fees/dashboard.html", context)


def _notice_form_context(
    session: Session, user: User, values: dict[str, str] | None = None
) -> dict[str, Any]:
    services = [s for s in catalogue.services_for(session, user) if s.published]
    return {
        "services": services,
        "values": values or {"idempotency_key": _new_key(), "quantity_0": "1"},
        "line_indexes": range(MAX_LINES),
        "errors": {},
        **_labels(),
    }


@router.get("/fees/notices/new", response_class=HTMLResponse)
def new_notice(request: Request, session: DB, user: Officer) -> HTMLResponse:
    return render(request, "fees/notice_form.html", _notice_form_context(session, user))


NOTICE_FIELDS = (
    "payer_name",
    "payer_id_number",
    "payer_tax_code",
    "payer_phone",
    "payer_email",
    "payer_address",
    "dossier_number",
    "note",
)


@router.post("/fees/notices", response_class=HTMLResponse)
async def create_notice(request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    return await run_in_threadpool(_create_notice, request, session, user, form)


def _create_notice(request: Request, session: Session, user: User, form: FormData) -> Response:
    names = (
        *NOTICE_FIELDS,
        "idempotency_key",
        *(f"{p}_{i}" for i in range(MAX_LINES) for p in ("service", "quantity")),
    )
    values = {name: form_text(form, name, 300) for name in names}
    try:
        lines = [
            {"service_id": int(values[f"service_{i}"]), "quantity": int(values[f"quantity_{i}"] or "1")}
            for i in range(MAX_LINES)
            if values[f"service_{i}"].isdecimal() and len(values[f"service_{i}"]) < 10
        ]
        if any(not values[f"quantity_{i}"].isdecimal() and values[f"quantity_{i}"] for i in range(MAX_LINES)):
            raise InvalidInput(N_("Enter a whole number."), field="lines")
        data = NoticeIn.model_validate({**{n: values[n] for n in NOTICE_FIELDS}, "lines": lines})
        notice = notices.issue_notice(
            session,
            user,
            data,
            idempotency_key=values["idempotency_key"] or _new_key(),
            actor=actor_of(request, user),
        )
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = {**_notice_form_context(session, user, values), "errors": form_errors_from(exc)}
        return render(request, "fees/notice_form.html", context, status=_status_of(exc))
    return RedirectResponse(f"/fees/notices/{notice.id}", status_code=303)


def _notice_context(session: Session, user: User, notice_id: int) -> dict[str, Any]:
    view = notices.notice_view(session, user, notice_id)
    return {
        "view": view,
        "link": notices.public_url(view.notice) if user.role == Role.AGENCY_OFFICER else None,
        "is_officer": user.role == Role.AGENCY_OFFICER,
        "errors": {},
        **_labels(),
    }


@router.get("/fees/notices/{notice_id}", response_class=HTMLResponse)
def notice_page(notice_id: ObjectId, request: Request, session: DB, user: Reader) -> HTMLResponse:
    return render(request, "fees/notice.html", _notice_context(session, user, notice_id))


@router.get("/fees/notices/{notice_id}/slip", response_class=HTMLResponse)
def notice_slip(notice_id: ObjectId, request: Request, session: DB, user: Officer) -> HTMLResponse:
    """The paper slip: the short code, the amount, the QR of the payer's link and the VietQR."""
    context = _notice_context(session, user, notice_id)
    link_svg = qr_render.render_svg(context["link"], box_size=5, border=2)
    context["link_qr"] = "data:image/svg+xml;base64," + base64.b64encode(link_svg).decode()
    context["vietqr"] = _vietqr_data_url(session, context["view"])
    return render(request, "fees/slip.html", context)


@router.post("/fees/notices/{notice_id}/cancel", response_class=HTMLResponse)
async def cancel_notice(notice_id: ObjectId, request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    return await run_in_threadpool(_cancel_notice, request, session, user, notice_id, form)


def _cancel_notice(
    request: Request, session: Session, user: User, notice_id: int, form: FormData
) -> Response:
    try:
        data = CancelIn(reason=form_text(form, "reason", 300))
        notices.cancel_notice(session, user, notice_id, reason=data.reason, actor=actor_of(request, user))
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = {**_notice_context(session, user, notice_id), "errors": form_errors_from(exc)}
        return render(request, "fees/notice.html", context, status=_status_of(exc))
    return RedirectResponse(f"/fees/notices/{notice_id}", status_code=303)


@router.post("/fees/receipts/{receipt_id}/replace", response_class=HTMLResponse)
async def replace_receipt(receipt_id: ObjectId, request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    return await run_in_threadpool(_replace_receipt, request, session, user, receipt_id, form)


def _replace_receipt(
    request: Request, session: Session, user: User, receipt_id: int, form: FormData
) -> Response:
    notice_id = form_text(form, "notice_id", 12)
    fields = ("reason", "payer_name", "payer_id_number", "payer_tax_code", "payer_address")
    try:
        data = ReceiptReplaceIn.model_validate({name: form_text(form, name, 300) for name in fields})
        notices.replace_receipt(session, user, receipt_id, data, actor=actor_of(request, user))
    except (ValidationError, DomainError) as exc:
        session.rollback()
        if not notice_id.isdecimal():
            raise
        context = {**_notice_context(session, user, int(notice_id)), "errors": form_errors_from(exc)}
        return render(request, "fees/notice.html", context, status=_status_of(exc))
    return RedirectResponse(
        f"/fees/notices/{notice_id}" if notice_id.isdecimal() else "/fees", status_code=303
    )


# --- the catalogue --------------------------------------------------------------------------

SERVICE_FIELDS = (
    "code",
    "name_vi",
    "name_en",
    "kind",
    "legal_basis",
    "rule",
    "amount_vnd",
    "unit_name",
    "tiers",
    "cap_vnd",
    "min_quantity",
    "max_quantity",
    "active_from",
    "active_to",
    "bank_account_id",
    "published",
)


def _services_context(session: Session, user: User, values: dict[str, str] | None = None) -> dict[str, Any]:
    from payments import bank_accounts

    return {
        "services": catalogue.services_for(session, user),
        "accounts": [a for a in bank_accounts.list_bank_accounts(session, user) if a.is_active],
        "values": values
        or {"active_from": date.today().isoformat(), "min_quantity": "1", "max_quantity": "10000"},
        "errors": {},
        "editing": None,
        **_labels(),
    }


@router.get("/fees/services", response_class=HTMLResponse)
def services_page(request: Request, session: DB, user: Reader) -> HTMLResponse:
    return render(request, "fees/services.html", _services_context(session, user))


@router.get("/fees/services/{service_id}", response_class=HTMLResponse)
def edit_service_page(service_id: ObjectId, request: Request, session: DB, user: Officer) -> HTMLResponse:
    service = catalogue.get_service_for(session, user, service_id)
    if not catalogue.can_manage(user, service):
        raise NotFound(catalogue.NOT_FOUND)
    values = {
        name: "" if getattr(service, name) is None else str(getattr(service, name)) for name in SERVICE_FIELDS
    }
    values["tiers"] = ", ".join(f"{t.get('up_to') or '*'}={t['unit_price_vnd']}" for t in service.tiers)
    values["published"] = "on" if service.published else ""
    context = {**_services_context(session, user, values), "editing": service}
    return render(request, "fees/services.html", context)


@router.post("/fees/services", response_class=HTMLResponse)
async def create_service(request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save_service, request, session, user, None, form)


@router.post("/fees/services/{service_id}", response_class=HTMLResponse)
async def update_service(service_id: ObjectId, request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    return await run_in_threadpool(_save_service, request, session, user, service_id, form)


def _tiers(text: str) -> list[dict[str, Any]]:
    tiers = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _TIER.match(part)
        if not match:
            raise InvalidInput(
                N_("Write the bands as: 2=2000, *=1000 (up to 2 units at 2.000 đ, then 1.000 đ)."),
                field="tiers",
            )
        tiers.append({"up_to": None if match[1] == "*" else int(match[1]), "unit_price_vnd": int(match[2])})
    return tiers


def _save_service(
    request: Request, session: Session, user: User, service_id: int | None, form: FormData
) -> Response:
    values = {name: form_text(form, name, 300) for name in SERVICE_FIELDS}
    try:
        payload: dict[str, Any] = {
            k: v for k, v in values.items() if v != "" and k not in ("tiers", "published")
        }
        payload["tiers"] = _tiers(values["tiers"])
        payload["published"] = values["published"] == "on"
        for name in ("amount_vnd", "cap_vnd", "min_quantity", "max_quantity", "bank_account_id"):
            if name in payload:
                if not payload[name].isdecimal() or len(payload[name]) > 13:
                    raise InvalidInput(N_("Enter a whole number."), field=name)
                payload[name] = int(payload[name])
        data = ServiceIn.model_validate(payload)
        actor = actor_of(request, user)
        if service_id is None:
            catalogue.create_service(session, user, data, actor=actor)
        else:
            catalogue.update_service(session, user, service_id, data, actor=actor)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        context = {**_services_context(session, user, values), "errors": form_errors_from(exc)}
        return render(request, "fees/services.html", context, status=_status_of(exc))
    return RedirectResponse("/fees/services", status_code=303)


# --- bulk upload ----------------------------------------------------------------------------


@router.get("/fees/bulk", response_class=HTMLResponse)
def bulk_page(request: Request, session: DB, user: Reader) -> HTMLResponse:
    context = {"batches": bulk.list_batches_for(session, user), "errors": {}, **_labels()}
    return render(request, "fees/bulk.html", context)


@router.get("/fees/bulk/template.csv")
def bulk_template(_user: Officer) -> Response:
    example = ["Nguyễn Văn A", "038085012345", "", "0912345678", "", "CHO-2026-01-A01", "CHO", "1", "", ""]
    # Only a made-up example, but served to logged-in officers like the files they fill in:
    # the same headers as every other download (web.downloads) rather than a cacheable exception.
    return csv_attachment(tabular.to_csv(bulk.TEMPLATE_HEADER, [example]), "mau-thong-bao-phi.csv")


@router.post("/fees/bulk", response_class=HTMLResponse)
async def upload(request: Request, session: DB, user: Officer) -> Response:
    form = await request.form()
    upload_file = form.get("file")
    if not isinstance(upload_file, UploadFile):
        context = {
            "batches": bulk.list_batches_for(session, user),
            "errors": {"file": _missing_file()},
            **_labels(),
        }
        return render(request, "fees/bulk.html", context, status=422)
    data = await upload_file.read()
    return await run_in_threadpool(_validate_upload, request, session, user, data, upload_file.filename or "")


def _missing_file() -> str:
    from choso.i18n import gettext_

    return gettext_(N_("Choose a CSV file to upload."))


def _validate_upload(request: Request, session: Session, user: User, data: bytes, filename: str) -> Response:
    try:
        batch = bulk.validate_upload(session, user, data, filename=filename, actor=actor_of(request, user))
    except DomainError as exc:
        session.rollback()
        context = {
            "batches": bulk.list_batches_for(session, user),
            "errors": form_errors_from(exc),
            **_labels(),
        }
        return render(request, "fees/bulk.html", context, status=exc.status_code)
    return RedirectResponse(f"/fees/bulk/{batch.id}", status_code=303)


@router.get("/fees/bulk/{batch_id}", response_class=HTMLResponse)
def batch_page(batch_id: ObjectId, request: Request, session: DB, user: Reader) -> HTMLResponse:
    batch = bulk.get_batch_for(session, user, batch_id)
    return render(
        request,
        "fees/batch.html",
        {"batch": batch, "is_officer": user.role == Role.AGENCY_OFFICER, **_labels()},
    )


@router.get("/fees/bulk/{batch_id}/rows.{file_format}")
def batch_rows_file(
    batch_id: ObjectId, file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")], session: DB, user: Reader
) -> Response:
    """The upload's rows with their state and reasons, to correct and upload again."""
    header, rows = bulk.error_rows(bulk.get_batch_for(session, user, batch_id))
    # Payers' names, id numbers and phones: never cached (it was cacheable before).
    name = f"kiem-tra-{batch_id}.{file_format}"
    if file_format == "xlsx":
        return file_attachment(tabular.to_xlsx([("Kiem tra", header, rows)]), name, XLSX)
    return csv_attachment(tabular.to_csv(header, rows), name)


@router.post("/fees/bulk/{batch_id}/issue", response_class=HTMLResponse)
def issue_batch(batch_id: ObjectId, request: Request, session: DB, user: Officer) -> Response:
    bulk.issue_batch(session, user, batch_id, actor=actor_of(request, user))
    return RedirectResponse(f"/fees/bulk/{batch_id}", status_code=303)


# --- reports --------------------------------------------------------------------------------


@router.get("/fees/reports", response_class=HTMLResponse)
def report_page(
    request: Request,
    session: DB,
    user: Reader,
    on: Annotated[date | None, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))] = None,
    period: Annotated[str, Query(pattern="^(day|month)$")] = "month",
    agency_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    on = on or date.today()
    agencies = catalogue.list_agencies(session) if user.role == Role.OPERATOR else []
    if user.role == Role.OPERATOR and agency_id is None:
        context = {"report": None, "agencies": agencies, "on": on, "period": period, "agency_id": None}
        return render(request, "fees/report.html", context)
    built = reports.build(session, user, agency_id=agency_id, kind=period, on=on)
    context = {
        "report": built,
        "chart": reports.chart(built),
        "agencies": agencies,
        "on": on,
        "period": period,
        "agency_id": agency_id,
        "query": f"on={on.isoformat()}&period={period}" + (f"&agency_id={agency_id}" if agency_id else ""),
        **_labels(),
    }
    return render(request, "fees/report.html", context)


@router.get("/fees/reports.{file_format}")
def report_download(
    file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")],
    session: DB,
    user: Reader,
    on: Annotated[date, Query(ge=date(2000, 1, 1), le=date(2100, 12, 31))],
    period: Annotated[str, Query(pattern="^(day|month)$")] = "month",
    agency_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    return report_response(reports.build(session, user, agency_id=agency_id, kind=period, on=on), file_format)
