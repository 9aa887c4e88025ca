"""Bulk issuance from a CSV file: validate every row first, issue the valid rows on request.

Rules: an upload creates no notice. It is decoded (see fees.tabular), every row is checked —
payer, ID number, tax code, phone, e-mail, service code, quantity and amount against the
catalogue's rule, dossier numbers repeated in the file or already holding a notice — and the
result is stored with each row's reasons. Only when the officer chooses to issue the valid
rows are notices created, each with the issue key ``file:<sha256>:<row>``: issuing the same
file again, from this upload or a new one, creates nothing twice (those rows show as already
issued). A row that became invalid in between (its dossier taken meanwhile) is skipped with its
reason, inside a savepoint, and the others are issued.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from choso import audit
from choso.db import utcnow
from choso.errors import DomainError, InvalidInput, NotFound
from choso.i18n import N_
from fees import notices, tabular
from fees.catalogue import NOT_FOUND, officer_agency
from fees.models import FeeBatch, FeeService
from fees.rules import Rule, RuleViolation, amount_for
from fees.schemas import NoticeIn
from market.models import Role, User

# Column headers as officers write them (Vietnamese without diacritics, or English) → field.
ALIASES = {
    "payer_name": ("ho_ten", "ho_va_ten", "nguoi_nop", "ten_nguoi_nop", "payer_name", "name"),
    "payer_id_number": ("so_dinh_danh", "cccd", "so_cccd", "id_number", "payer_id_number"),
    "payer_tax_code": ("ma_so_thue", "mst", "tax_code", "payer_tax_code"),
    "payer_phone": ("dien_thoai", "so_dien_thoai", "sdt", "phone", "payer_phone"),
    "payer_email": ("email", "thu_dien_tu", "payer_email"),
    "payer_address": ("dia_chi", "address", "payer_address"),
    "dossier_number": ("ma_ho_so", "so_ho_so", "dossier_number", "dossier"),
    "service_code": ("ma_dich_vu", "ma_phi", "service_code", "service"),
    "quantity": ("so_luong", "quantity"),
    "amount_vnd": ("so_tien", "thanh_tien", "amount", "amount_vnd"),
    "note": ("ghi_chu", "note"),
}
TEMPLATE_HEADER = (
    "ho_ten",
    "so_dinh_danh",
    "ma_so_thue",
    "dien_thoai",
    "email",
    "ma_ho_so",
    "ma_dich_vu",
    "so_luong",
    "so_tien",
    "ghi_chu",
)
PAYER_FIELDS = (
    "payer_name",
    "payer_id_number",
    "payer_tax_code",
    "payer_phone",
    "payer_email",
    "payer_address",
)
MESSAGES = {
    "missing": N_("This field is required."),
    "too_long": N_("Too long."),
    "format": N_("The format is not valid."),
    "unknown_service": N_("No service with this code in your catalogue."),
    "service_not_in_force": N_("This service is not in force today."),
    "amount_format": N_("Write the amount in whole đồng, for example 150000."),
    "amount_mismatch": N_("The amount %(given)s does not match the catalogue's %(expected)s."),
    "duplicate_dossier": N_("This dossier number appears on more than one row of the file."),
    "dossier_taken": N_("This dossier number already has a notice that is not cancelled."),
    "invalid": N_("This value is not valid."),
}
_AMOUNT = re.compile(r"\d{1,3}(?:[.,\s]\d{3})+|\d{1,13}")


def header_key(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.strip().lower().replace("đ", "d"))
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def _columns(header: list[str]) -> dict[int, str]:
    lookup = {alias: field for field, aliases in ALIASES.items() for alias in aliases}
    columns = {
        index: lookup[header_key(name)] for index, name in enumerate(header) if header_key(name) in lookup
    }
    missing = {"payer_name", "service_code"} - set(columns.values())
    if missing:
        raise InvalidInput(
            N_("The file needs the columns %(columns)s (see the template)."),
            params={"columns": ", ".join(sorted(missing))},
            field="file",
        )
    return columns


def _error(field: str, code: str, message: str | None = None, **params: Any) -> dict[str, Any]:
    return {"field": field, "code": code, "message": message or MESSAGES[code], "params": params}


def _pydantic_errors(exc: ValidationError) -> list[dict[str, Any]]:
    found = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else "row"
        kind = error.get("type", "")
        if kind == "value_error":
            own = getattr((error.get("ctx") or {}).get("error"), "code", "invalid")
            found.append(
                _error(field, own, str((error.get("ctx") or {}).get("error") or MESSAGES["invalid"]))
            )
        elif kind == "missing" or (kind == "string_too_short" and error.get("input") == ""):
            found.append(_error(field, "missing"))
        elif kind == "string_too_long":
            found.append(_error(field, "too_long"))
        elif kind == "string_pattern_mismatch":
            found.append(_error(field, "format"))
        else:
            found.append(_error(field, "invalid"))
    return found


def _quantity(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() and len(text) <= 7 else (1 if text == "" else None)


def _check_row(
    values: dict[str, str], services: dict[str, FeeService], today: date
) -> tuple[list[dict], int | None]:
    errors: list[dict[str, Any]] = []
    quantity = _quantity(values.get("quantity", ""))
    if quantity is None or quantity < 1:
        errors.append(
            _error("quantity", "quantity_not_whole", N_("The quantity must be a whole number of at least 1."))
        )
    code = values.get("service_code", "").strip().upper()
    service = services.get(code)
    amount = None
    if not code:
        errors.append(_error("service_code", "missing"))
    elif service is None:
        errors.append(_error("service_code", "unknown_service"))
    elif (
        not service.published
        or service.active_from > today
        or (service.active_to and service.active_to < today)
    ):
        errors.append(_error("service_code", "service_not_in_force"))
    elif quantity is not None and quantity >= 1:
        try:
            amount = amount_for(Rule.of(service), quantity)
        except RuleViolation as exc:
            errors.append(_error("quantity", exc.code, exc.message, **exc.params))
    given = values.get("amount_vnd", "").strip().removesuffix("đ").removesuffix("₫").strip()
    if given and amount is not None:
        if not _AMOUNT.fullmatch(given):
            errors.append(_error("amount_vnd", "amount_format"))
        elif int(re.sub(r"\D", "", given)) != amount:
            errors.append(
                _error("amount_vnd", "amount_mismatch", given=int(re.sub(r"\D", "", given)), expected=amount)
            )
    try:
        _notice_in(values, service.id if service else 1, max(quantity or 1, 1))
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc))
    return errors, amount


def _notice_in(values: dict[str, str], service_id: int, quantity: int) -> NoticeIn:
    payload: dict[str, Any] = {name: values.get(name, "") for name in PAYER_FIELDS}
    payload.update(
        dossier_number=values.get("dossier_number", ""),
        note=values.get("note", ""),
        lines=[{"service_id": service_id, "quantity": quantity}],
    )
    return NoticeIn.model_validate(payload)


def validate_upload(
    session: Session, user: User, data: bytes, *, filename: str, actor: audit.Actor
) -> FeeBatch:
    """Check every row of an uploaded CSV and store the result (no notice is created)."""
    agency_id = officer_agency(user)
    try:
        text, encoding = tabular.decode(data)
        header, raw_rows = tabular.read_rows(text)
    except tabular.UnreadableFile as exc:
        raise InvalidInput(str(exc), field="file") from None
    columns = _columns(header)
    sha = hashlib.sha256(data).hexdigest()
    services = {s.code: s for s in session.exec(select(FeeService).where(FeeService.agency_id == agency_id))}
    today = notices.utcnow().astimezone(notices.LOCAL).date()
    rows = []
    for number, raw in enumerate(raw_rows, start=2):  # line 1 is the header
        values = {field: raw[index].strip() if index < len(raw) else "" for index, field in columns.items()}
        errors, amount = _check_row(values, services, today)
        rows.append({"row": number, "values": values, "amount_vnd": amount, "errors": errors})
    _check_dossiers(session, agency_id, sha, rows)
    batch = FeeBatch(
        agency_id=agency_id,
        file_sha256=sha,
        filename=filename[:200],
        encoding=encoding,
        rows=rows,
        row_count=len(rows),
        valid_count=sum(row["status"] == "valid" for row in rows),
        uploaded_by_id=user.id,
    )
    session.add(batch)
    session.flush()
    audit.record(
        session,
        actor,
        action="fee_batch.upload",
        object_type="fee_batch",
        object_id=batch.id or 0,
        after={"sha256": sha, "rows": len(rows), "valid": batch.valid_count},
    )
    session.commit()
    return batch


def _check_dossiers(session: Session, agency_id: int, sha: str, rows: list[dict[str, Any]]) -> None:
    """Repeated dossier numbers, numbers already holding a notice, rows issued before; then status."""
    counts = Counter(row["values"].get("dossier_number", "") for row in rows)
    for row in rows:
        dossier = row["values"].get("dossier_number", "")
        issued = notices.by_issue_key(session, agency_id, f"file:{sha}:{row['row']}")
        if issued is not None:
            row["status"], row["notice_id"], row["errors"] = "already_issued", issued.id, []
            continue
        if dossier and counts[dossier] > 1:
            row["errors"].append(_error("dossier_number", "duplicate_dossier"))
        elif dossier and notices.dossier_holder(session, agency_id, dossier) is not None:
            row["errors"].append(_error("dossier_number", "dossier_taken"))
        row["status"] = "invalid" if row["errors"] else "valid"


def get_batch_for(session: Session, user: User, batch_id: int) -> FeeBatch:
    batch = session.get(FeeBatch, batch_id)
    if batch is None or not (
        user.role == Role.OPERATOR
        or (user.role == Role.AGENCY_OFFICER and user.organisation_id == batch.agency_id)
    ):
        raise NotFound(NOT_FOUND)
    return batch


def list_batches_for(session: Session, user: User, limit: int = 20) -> list[FeeBatch]:
    query = select(FeeBatch).order_by(col(FeeBatch.id).desc()).limit(limit)
    if user.role != Role.OPERATOR:
        query = query.where(FeeBatch.agency_id == officer_agency(user))
    return list(session.exec(query))


def issue_batch(session: Session, user: User, batch_id: int, *, actor: audit.Actor) -> FeeBatch:
    """Issue the valid rows of an upload (the officer's choice); idempotent by file and row."""
    batch = get_batch_for(session, user, batch_id)
    agency_id = officer_agency(user)
    services = {s.code: s for s in session.exec(select(FeeService).where(FeeService.agency_id == agency_id))}
    rows = [dict(row) for row in batch.rows]
    issued = 0
    for row in rows:
        if row["status"] != "valid":
            continue
        key = f"file:{batch.file_sha256}:{row['row']}"
        existing = notices.by_issue_key(session, agency_id, key)
        if existing is not None:
            row.update(status="already_issued", notice_id=existing.id)
            continue
        values = row["values"]
        service = services.get(values.get("service_code", "").strip().upper())
        try:
            with session.begin_nested():
                notice = notices.issue(
                    session,
                    agency_id,
                    _notice_in(
                        values, service.id if service else 0, _quantity(values.get("quantity", "")) or 1
                    ),
                    issue_key=key,
                    source="bulk",
                    created_by_id=user.id,
                    batch_id=batch.id,
                )
        except (DomainError, ValidationError) as exc:
            message = exc.message if isinstance(exc, DomainError) else MESSAGES["invalid"]
            params = exc.params if isinstance(exc, DomainError) else {}
            row.update(status="invalid", errors=[_error("row", "issue_failed", message, **params)])
            continue
        row.update(status="issued", notice_id=notice.id)
        issued += 1
    batch.rows = rows
    batch.issued_count += issued
    batch.issued_at = utcnow()
    session.add(batch)
    audit.record(
        session,
        actor,
        action="fee_batch.issue",
        object_type="fee_batch",
        object_id=batch_id,
        after={"issued": issued},
    )
    session.commit()
    return batch


def error_rows(batch: FeeBatch) -> tuple[list[str], list[list[Any]]]:
    """The rows with their reasons, for a CSV/XLSX the officer can correct (messages untranslated
    here: the page translates them)."""
    header = ["row", "status", *ALIASES.keys(), "errors"]
    body = []
    for row in batch.rows:
        reasons = "; ".join(f"{e['field']}: {e['code']}" for e in row.get("errors", []))
        body.append([row["row"], row["status"], *(row["values"].get(f, "") for f in ALIASES), reasons])
    return header, body
