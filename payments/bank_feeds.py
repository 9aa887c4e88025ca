"""Bank-transaction notification feeds (SePay, Casso): authenticate and read their webhooks.

Vietnamese businesses rent these services to learn of transfers into their bank accounts. Each
adapter here turns one provider's webhook into provider-neutral :class:`BankNotification` values,
behind one :class:`BankFeed` interface. Pure: no database, no web framework, no clock of its own
(the caller passes ``now``).

The rule: whatever the bytes and headers, an adapter either returns notifications that satisfy
every invariant of :class:`BankNotification`, or raises :class:`FeedRejected` (401 when the
sender is not proven, 422 when the content is not acceptable). Nothing else escapes.

Authentication, as published by the providers:

* SePay, HMAC mode: ``X-SePay-Timestamp`` is Unix time in seconds; ``X-SePay-Signature`` is
  ``sha256=`` + the lowercase hex HMAC-SHA256, keyed with the webhook secret, of the bytes
  ``timestamp + "." + raw body`` (the timestamp exactly as sent in its header). A bare hex
  digest without the ``sha256=`` prefix is accepted too.
* SePay, API-key mode: ``Authorization: Apikey <key>``.
* Casso v2: ``X-Casso-Signature: t=<Unix ms>,v1=<hex>``; v1 is HMAC-SHA512, keyed with the
  webhook secret, of ``t + "." + JSON`` where JSON is the body re-serialised with the keys of
  every object sorted and no whitespace (checked against Casso's published test vector). Casso's
  own samples disagree on non-ASCII text (their Node sample writes it as UTF-8, their PHP sample
  escapes it as ``\\uXXXX`` and ``/`` as ``\\/``), so both spellings are accepted; we sign with
  the UTF-8 one.

A timestamp more than five minutes away from ``now`` (either way) is refused, so a captured
delivery cannot be replayed later. Secrets are compared in constant time. A Casso body that is
not JSON gets a 422 from ``authenticate`` (its signature covers parsed JSON, so there is nothing
to verify); everything else that fails authentication is a 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from choso.i18n import N_
from choso.money import MAX_AMOUNT_VND

LOCAL_TIME = ZoneInfo("Asia/Ho_Chi_Minh")  # providers send wall-clock time without an offset
MAX_DRIFT = timedelta(minutes=5)
MAX_TEXT_INPUT = 2_000  # longer text is refused outright: no bank memo is this long
MEMO_KEPT = 500
SHORT_KEPT = 200  # bank names, references, payer names
MAX_ITEMS = 100  # transactions in one Casso delivery
_EARLIEST_YEAR, _LATEST_YEAR = 2000, 2100

_DIGITS = re.compile(r"[0-9]{1,32}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_ASCII_DIGITS = re.compile(r"[0-9]{1,16}")


@dataclass(frozen=True)
class BankNotification:
    """One bank transaction as a provider reported it, in Choso's terms."""

    source: str  # "sepay" | "casso"
    external_id: str  # the provider's transaction id
    account_number: str  # the receiving (or paying, when "out") account, digits only
    bank_hint: str  # bank or gateway name as the provider gives it; "" if none
    amount_vnd: int  # 0 < amount <= MAX_AMOUNT_VND
    direction: str  # "in" | "out"
    memo: str  # transfer content: NFC, no control characters, at most MEMO_KEPT characters
    occurred_at: datetime  # aware, UTC
    bank_reference: str  # the bank's own reference (FT number...); "" if none
    payer_name: str  # "" when the provider does not give it


class FeedRejected(Exception):
    """A delivery that is not accepted: 401 (sender not proven) or 422 (content refused)."""

    def __init__(self, status: Literal[401, 422], message: str, *, field: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}")
        self.status = status
        self.message = message  # an English message id, translated where it is shown
        self.field = field


class BankFeed(Protocol):
    """One provider's webhook: who sent it, what it says, and how to sign one (sandbox, tests)."""

    source: str

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None: ...

    def parse(self, body: bytes) -> list[BankNotification]: ...

    def signed_headers(self, body: bytes, now: datetime) -> dict[str, str]: ...

    def encode(self, notification: BankNotification) -> bytes: ...


# --- shared reading ---------------------------------------------------------------------------


def _unauthenticated(message: str) -> FeedRejected:
    return FeedRejected(401, message)


def _refused(field: str, message: str) -> FeedRejected:
    return FeedRejected(422, message, field=field)


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by case-insensitive name ("" when absent), from any mapping."""
    wanted = name.lower()
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value.strip()
    return ""


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key would let two readers see two different transactions.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys; any failure is a 422."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _refused("body", N_("The body is not valid JSON.")) from None
    _refuse_unstorable(value, "body")
    return value


def _refuse_unstorable(value: Any, path: str) -> None:
    """NUL and lone surrogates anywhere (keys too) cannot be stored (PostgreSQL) nor shown."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise _refused(where, N_("Text must not contain NUL characters."))
            if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
                raise _refused(where, N_("Text must be valid Unicode."))
        elif isinstance(item, dict):
            stack.extend((key, where) for key in item)
            stack.extend((child, f"{where}.{key}") for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))


def _clean_text(value: str) -> str:
    """NFC; line breaks and tabs become spaces; other control and format characters go."""
    kept = []
    for ch in value:
        category = unicodedata.category(ch)
        if ch in "\t\r\n\v\f\x85\u2028\u2029":
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs"):
            kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)).strip()


def _field(item: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in item:
        raise _refused(where, N_("This field is required."))
    return item[key]


def _text(item: Mapping[str, Any], key: str, where: str, *, kept: int, required: bool = False) -> str:
    """A text field; absent or null is "" unless required. Too long (raw) is refused, never cut."""
    value = _field(item, key, where) if required else item.get(key)
    if value is None:
        if required:
            raise _refused(where, N_("This field is required."))
        return ""
    if not isinstance(value, str):
        raise _refused(where, N_("This field must be text."))
    if len(value) > MAX_TEXT_INPUT:
        raise _refused(where, N_("This text is too long."))
    return _clean_text(value)[:kept].strip()


def _amount(item: Mapping[str, Any], key: str, where: str, *, signed: bool) -> int:
    """A strict JSON integer (not bool, float or string) of whole đồng, 0 < |amount| <= max."""
    value = _field(item, key, where)
    if type(value) is not int:
        raise _refused(where, N_("Amounts are whole numbers of đồng."))
    magnitude = abs(value) if signed else value
    if magnitude <= 0:
        raise _refused(where, N_("The amount must be greater than zero."))
    if magnitude > MAX_AMOUNT_VND:
        raise _refused(where, N_("The amount is too large."))
    return value


def _external_id(item: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(item, key, where)
    if type(value) is int and 0 <= value < 10**20:
        return str(value)
    if isinstance(value, str) and _EXTERNAL_ID.fullmatch(value):
        return value
    raise _refused(where, N_("Not a valid transaction id."))


def _account_number(item: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(item, key, where)
    if isinstance(value, str):
        digits = value.replace(" ", "")
        if _DIGITS.fullmatch(digits):
            return digits
    raise _refused(where, N_("Not a valid account number."))


def _occurred_at(item: Mapping[str, Any], key: str, where: str) -> datetime:
    """Provider time: Vietnam wall-clock time unless it carries an offset; returned in UTC."""
    value = _field(item, key, where)
    if not isinstance(value, str) or len(value) > 40:
        raise _refused(where, N_("Not a valid date and time."))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _refused(where, N_("Not a valid date and time.")) from None
    if not _EARLIEST_YEAR <= moment.year <= _LATEST_YEAR:
        raise _refused(where, N_("Not a valid date and time."))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TIME)
    return moment.astimezone(UTC)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _refused(where, N_("A JSON object is expected here."))
    return value


def _check_fresh(sent_at_seconds: float, now: datetime) -> None:
    if abs(now.timestamp() - sent_at_seconds) > MAX_DRIFT.total_seconds():
        raise _unauthenticated(N_("The webhook timestamp is too old or too far in the future."))


def _json_id(external_id: str) -> int | str:
    """Providers send numeric ids as JSON numbers (those the reader takes as numbers: below
    10**20; a longer run of digits stays a string, as it must to be read back)."""
    numeric = external_id.isdigit() and len(external_id) < 20 and str(int(external_id)) == external_id
    return int(external_id) if numeric else external_id


def _local_text(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M:%S")


# --- SePay ------------------------------------------------------------------------------------


class SePayFeed:
    """SePay webhooks: one transaction per POST, authenticated by HMAC-SHA256 or an API key.

    Fields: ``id`` (SePay's transaction id), ``gateway`` (bank name), ``transactionDate``
    (``YYYY-MM-DD HH:MM:SS``, Vietnam time), ``accountNumber`` (the linked account),
    ``transferType`` (``in``/``out``), ``transferAmount`` (đồng), ``content`` (the transfer
    content), ``description`` (the bank's full text), ``referenceCode`` (the bank's reference),
    and ``code``, ``subAccount``, ``accumulated``, which Choso does not use. The memo is
    ``content``, or ``description`` when the content is empty. SePay does not name the payer.
    """

    source = "sepay"

    def __init__(self, *, mode: str, secret: str) -> None:
        if mode not in ("hmac", "apikey"):
            raise ValueError(f"unknown SePay authentication mode {mode!r}")
        if not secret:
            raise ValueError("a SePay webhook secret is required")
        self.mode = mode
        self._secret = secret

    def _digest(self, timestamp: str, body: bytes) -> str:
        message = timestamp.encode("ascii") + b"." + body
        return hmac.new(self._secret.encode("utf-8"), message, hashlib.sha256).hexdigest()

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        if self.mode == "apikey":
            scheme, _, key = _header(headers, "Authorization").partition(" ")
            if scheme.lower() != "apikey" or not _same_secret(key.strip(), self._secret):
                raise _unauthenticated(N_("The webhook signature is not valid."))
            return
        timestamp = _header(headers, "X-SePay-Timestamp")
        signature = _header(headers, "X-SePay-Signature")
        if not _ASCII_DIGITS.fullmatch(timestamp) or not signature:
            raise _unauthenticated(N_("The webhook signature is missing."))
        _check_fresh(int(timestamp), now)
        if signature[:7].lower() == "sha256=":
            signature = signature[7:]
        if not _same_secret(signature.lower(), self._digest(timestamp, body)):
            raise _unauthenticated(N_("The webhook signature is not valid."))

    def parse(self, body: bytes) -> list[BankNotification]:
        item = _object(_load_json(body), "body")
        direction = _field(item, "transferType", "transferType")
        if direction not in ("in", "out"):
            raise _refused("transferType", N_("The transfer type must be in or out."))
        memo = _text(item, "content", "content", kept=MEMO_KEPT) or _text(
            item, "description", "description", kept=MEMO_KEPT
        )
        return [
            BankNotification(
                source=self.source,
                external_id=_external_id(item, "id", "id"),
                account_number=_account_number(item, "accountNumber", "accountNumber"),
                bank_hint=_text(item, "gateway", "gateway", kept=SHORT_KEPT),
                amount_vnd=_amount(item, "transferAmount", "transferAmount", signed=False),
                direction=direction,
                memo=memo,
                occurred_at=_occurred_at(item, "transactionDate", "transactionDate"),
                bank_reference=_text(item, "referenceCode", "referenceCode", kept=SHORT_KEPT),
                payer_name="",
            )
        ]

    def signed_headers(self, body: bytes, now: datetime) -> dict[str, str]:
        if self.mode == "apikey":
            return {"Authorization": f"Apikey {self._secret}"}
        timestamp = str(int(now.timestamp()))
        signature = "sha256=" + self._digest(timestamp, body)
        return {"X-SePay-Timestamp": timestamp, "X-SePay-Signature": signature}

    def encode(self, notification: BankNotification) -> bytes:
        """The body SePay would send for ``notification`` (the sandbox's simulated transfer)."""
        payload = {
            "id": _json_id(notification.external_id),
            "gateway": notification.bank_hint,
            "transactionDate": _local_text(notification.occurred_at),
            "accountNumber": notification.account_number,
            "code": None,
            "content": notification.memo,
            "transferType": notification.direction,
            "transferAmount": notification.amount_vnd,
            "accumulated": 0,
            "subAccount": None,
            "referenceCode": notification.bank_reference,
            "description": notification.memo,
        }
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")


# --- Casso ------------------------------------------------------------------------------------


def _sorted_keys(value: Any, *, js_numbers: bool) -> Any:
    """Objects with sorted keys, recursively; JavaScript writes a whole float like 5.0 as 5."""
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key], js_numbers=js_numbers) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(child, js_numbers=js_numbers) for child in value]
    if js_numbers and isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _casso_forms(payload: Any) -> list[bytes]:
    """What Casso's samples sign: sorted keys, no spaces; as JavaScript writes it, then PHP."""
    js = json.dumps(_sorted_keys(payload, js_numbers=True), ensure_ascii=False, separators=(",", ":"))
    php = json.dumps(_sorted_keys(payload, js_numbers=False), separators=(",", ":")).replace("/", "\\/")
    return [js.encode("utf-8"), php.encode("ascii")]


def _casso_signature(header: str) -> tuple[str, str]:
    """``t=<ms>,v1=<hex>`` → (t, v1); anything else is a 401."""
    parts = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    timestamp, digest = parts.get("t", ""), parts.get("v1", "")
    if not _ASCII_DIGITS.fullmatch(timestamp) or len(digest) != 128 or not _HEX.fullmatch(digest):
        raise _unauthenticated(N_("The webhook signature is missing."))
    return timestamp, digest.lower()


class CassoFeed:
    """Casso v2 webhooks: ``{"error": 0, "data": {...}}`` where data is one transaction or a list.

    Transaction fields: ``id`` (Casso's id), ``reference`` (the bank's reference),
    ``description`` (the transfer content), ``amount`` (đồng, negative when money went out),
    ``runningBalance``, ``transactionDateTime`` (Vietnam time), ``accountNumber`` and
    ``bankName`` (the linked account), ``counterAccountName`` (the other party) and more that
    Choso does not use. Casso's "test webhook" button sends id 0; it is acknowledged and yields
    no notification, so that the dashboard accepts the URL without a fake payment.
    """

    source = "casso"

    def __init__(self, *, secret: str) -> None:
        if not secret:
            raise ValueError("a Casso webhook secret is required")
        self._key = secret.encode("utf-8")

    def _digest(self, timestamp: str, canonical: bytes) -> str:
        return hmac.new(self._key, timestamp.encode("ascii") + b"." + canonical, hashlib.sha512).hexdigest()

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
        timestamp, given = _casso_signature(_header(headers, "X-Casso-Signature"))
        _check_fresh(int(timestamp) / 1000, now)
        payload = _load_json(body)  # the signature covers the parsed JSON, so parse first
        expected = [self._digest(timestamp, form) for form in _casso_forms(payload)]
        # Every candidate is compared (a list, not a generator: no early exit), each in constant time.
        if not any([_same_secret(given, digest) for digest in expected]):
            raise _unauthenticated(N_("The webhook signature is not valid."))

    def parse(self, body: bytes) -> list[BankNotification]:
        envelope = _object(_load_json(body), "body")
        error = envelope.get("error", 0)
        if type(error) is not int or error != 0:
            raise _refused("error", N_("The provider reported an error."))
        data = _field(envelope, "data", "data")
        items = data if isinstance(data, list) else [data]
        if len(items) > MAX_ITEMS:
            raise _refused("data", N_("Too many transactions in one delivery."))
        many = isinstance(data, list)
        notices = [self._notice(item, f"data[{i}]" if many else "data") for i, item in enumerate(items)]
        return [notice for notice in notices if notice is not None]

    def _notice(self, value: Any, where: str) -> BankNotification | None:
        item = _object(value, where)
        external_id = _external_id(item, "id", f"{where}.id")
        amount = _amount(item, "amount", f"{where}.amount", signed=True)
        notice = BankNotification(
            source=self.source,
            external_id=external_id,
            account_number=_account_number(item, "accountNumber", f"{where}.accountNumber"),
            bank_hint=_text(item, "bankName", f"{where}.bankName", kept=SHORT_KEPT),
            amount_vnd=abs(amount),
            direction="in" if amount > 0 else "out",
            memo=_text(item, "description", f"{where}.description", kept=MEMO_KEPT),
            occurred_at=_occurred_at(item, "transactionDateTime", f"{where}.transactionDateTime"),
            bank_reference=_text(item, "reference", f"{where}.reference", kept=SHORT_KEPT),
            payer_name=_text(item, "counterAccountName", f"{where}.counterAccountName", kept=SHORT_KEPT),
        )
        return None if external_id == "0" else notice

    def signed_headers(self, body: bytes, now: datetime) -> dict[str, str]:
        timestamp = str(int(now.timestamp() * 1000))
        canonical = _casso_forms(_load_json(body))[0]
        return {"X-Casso-Signature": f"t={timestamp},v1={self._digest(timestamp, canonical)}"}

    def encode(self, notification: BankNotification) -> bytes:
        """The body Casso would send for ``notification`` (the sandbox's simulated transfer)."""
        sign = 1 if notification.direction == "in" else -1
        data = {
            "id": _json_id(notification.external_id),
            "reference": notification.bank_reference,
            "description": notification.memo,
            "amount": sign * notification.amount_vnd,
            "runningBalance": 0,
            "transactionDateTime": _local_text(notification.occurred_at),
            "accountNumber": notification.account_number,
            "bankName": notification.bank_hint,
            "counterAccountName": notification.payer_name,
        }
        return json.dumps({"error": 0, "data": data}, ensure_ascii=False).encode("utf-8")
