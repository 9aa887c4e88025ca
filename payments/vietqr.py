"""VietQR payloads: NAPAS's profile of the EMVCo merchant-presented QR, encoded and decoded.

A payload is a run of fields ``TTLLvalue`` (two-digit tag, two-digit length, value). VietQR
uses these tags::

    00  payload format indicator, "01" (first)
    01  point of initiation: "11" static (reusable), "12" dynamic (one payment)
    38  NAPAS merchant account: 00 GUID "A000000727"; 01 beneficiary (00 acquirer BIN,
        01 account or card number); 02 service "QRIBFTTA" (account) or "QRIBFTTC" (card)
    53  currency "704" (VND)          54  amount, whole đồng (optional)
    58  country "VN"                  59  beneficiary name, 60 city (optional)
    62  additional data: 08 purpose, the memo the payer's bank puts on the transfer (optional)
    63  CRC-16/CCITT-FALSE over everything before its value, "6304" included (last)

Rule: the encoder writes only what this profile allows (printable ASCII, EMVCo lengths, whole
đồng, tags in ascending order) and refuses anything else; the decoder checks the CRC (either
case), every length and every mandatory tag, and for any input returns a payload or raises
:class:`VietQRError` saying exactly what is wrong. Tags the issue does not list (52, 64,
80-99…) are length-checked and ignored; anything but BIN and account inside 38.01 (such as a
misplaced service code) is refused. Pure: no I/O.
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal, NoReturn

GUID = "A000000727"
SERVICE_ACCOUNT = "QRIBFTTA"
SERVICE_CARD = "QRIBFTTC"
CURRENCY_VND = "704"
COUNTRY_VN = "VN"
MAX_AMOUNT_VND = 10**12
MAX_PURPOSE = 25
MAX_NAME = 25
MAX_CITY = 15
MAX_PAYLOAD = 512  # EMVCo's limit for a whole payload

PointOfInitiation = Literal["static", "dynamic"]
_INITIATION: dict[str, PointOfInitiation] = {"11": "static", "12": "dynamic"}
_SERVICES = frozenset({SERVICE_ACCOUNT, SERVICE_CARD})
# "00".."99" -> 0..99: one dict lookup both checks that two characters are ASCII digits
# (str.isdigit would accept "²" or "٣") and converts them.
_TWO_DIGITS = {f"{i:02d}": i for i in range(100)}
_TAGS = frozenset(_TWO_DIGITS)
_PAD = tuple(_TWO_DIGITS)  # 0..99 -> "00".."99"
_CRC = re.compile(r"[0-9A-Fa-f]{4}")
_REFERENCE = re.compile(r"[0-9A-Za-z]{1,25}")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
_D_STROKE = str.maketrans({"đ": "d", "Đ": "D"})  # đ has no decomposition, so NFKD keeps it


class VietQRError(ValueError):
    """A payload (or encoder input) that is not valid VietQR; ``field`` names the tag path."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class VietQRPayload:
    """A decoded payload. The first nine fields are the ``choso vietqr decode`` JSON."""

    bin: str
    account: str
    service: str
    amount: int | None
    currency: str
    country: str
    purpose: str | None
    point_of_initiation: PointOfInitiation
    crc_ok: bool
    name: str | None = None
    city: str | None = None

    def as_json(self) -> dict[str, object]:
        """The CLI contract's object, exactly its keys."""
        return {
            "bin": self.bin,
            "account": self.account,
            "service": self.service,
            "amount": self.amount,
            "currency": self.currency,
            "country": self.country,
            "purpose": self.purpose,
            "point_of_initiation": self.point_of_initiation,
            "crc_ok": self.crc_ok,
        }


_new = object.__new__


def _payload(values: dict[str, object]) -> VietQRPayload:
    """A :class:`VietQRPayload` from already checked values, without the generated __init__:
    a frozen dataclass's __init__ sets each field through object.__setattr__, which on
    CPython 3.11 costs more than the rest of decoding a payload. Same fields, same object."""
    payload = _new(VietQRPayload)
    payload.__dict__.update(values)
    return payload


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor), in C."""
    return binascii.crc_hqx(data, 0xFFFF)


# --- encoding -------------------------------------------------------------------------------


def encode(
    *,
    bin: str,
    account: str,
    amount: int | None = None,
    purpose: str | None = None,
    name: str | None = None,
    city: str | None = None,
    static: bool = False,
    service: str = SERVICE_ACCOUNT,
) -> str:
    """The payload for a transfer to ``account`` at the bank ``bin``.

    A dynamic QR (the default) is for one payment and needs an amount; a static one may be
    reused and may leave the amount to the payer.
    """
    # Checks are written inline for the common case (an account number, a memo) and fall back
    # to the helpers that name the fault: this function runs once per QR shown.
    size = len(account) if type(account) is str else 0
    if not (
        service == SERVICE_ACCOUNT
        and 0 < size <= 19
        and account.isalnum()
        and account.isascii()
        and type(bin) is str
        and len(bin) == 6
        and bin.isdigit()
        and bin.isascii()
    ):
        _check_beneficiary(bin, account, service)
    if amount is not None:
        # bool is an int subclass; True đồng is a bug, not an amount.
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT_VND:
            _amount_error(amount)
        text = str(amount)
        tail = f"54{_PAD[len(text)]}{text}5802VN"
    elif static:
        tail = "5802VN"
    else:
        raise VietQRError("a dynamic QR needs an amount; make it static to leave the amount open", field="54")
    if name is not None:
        tail += _text_field("59", name, MAX_NAME, "name")
    if city is not None:
        tail += _text_field("60", city, MAX_CITY, "city")
    if purpose is not None:
        if (
            type(purpose) is str
            and 0 < len(purpose) <= MAX_PURPOSE
            and purpose.isascii()
            and purpose.isprintable()
        ):
            tail = f"{tail}62{_PAD[len(purpose) + 4]}08{_PAD[len(purpose)]}{purpose}"
        else:
            _text_field("08", purpose, MAX_PURPOSE, "purpose", "62.")
    # 38 holds 0010+GUID (14), 01LL+beneficiary (4 + 14 + account) and 0208+service (12).
    body = (
        f"{'000201010211' if static else '000201010212'}38{_PAD[44 + size]}0010{GUID}01{_PAD[14 + size]}"
        f"0006{bin}01{_PAD[size]}{account}0208{service}5303704{tail}6304"
    )
    return f"{body}{crc16(body.encode('ascii')):04X}"


def _amount_error(amount: object) -> NoReturn:
    if type(amount) is not int:
        raise VietQRError(f"amount must be a whole number of đồng, not {type(amount).__name__}", field="54")
    raise VietQRError(f"amount must be between 1 and {MAX_AMOUNT_VND} đồng, got {amount}", field="54")


def _text_field(tag: str, value: object, limit: int, label: str, prefix: str = "") -> str:
    if type(value) is not str or not _is_text(value):
        raise VietQRError(
            f"{label} (tag {prefix}{tag}) must be printable ASCII without diacritics; fold it first",
            field=prefix + tag,
        )
    if len(value) > limit:
        raise VietQRError(
            f"{label} (tag {prefix}{tag}) is {len(value)} characters; at most {limit}", field=prefix + tag
        )
    return f"{tag}{len(value):02d}{value}"


def _is_text(value: str) -> bool:
    """EMVCo's common character set: printable ASCII (str methods: faster than a regex)."""
    return value.isascii() and value.isprintable() and value != ""


def _check_beneficiary(bin: object, account: object, service: object) -> None:
    if type(bin) is not str or len(bin) != 6 or not (bin.isascii() and bin.isdigit()):
        raise VietQRError(f"acquirer BIN (tag 38.01.00) must be 6 digits, got {bin!r}", field="38.01.00")
    if service == SERVICE_ACCOUNT:
        if type(account) is str and 0 < len(account) <= 19 and account.isascii() and account.isalnum():
            return
        expected, kind = "1 to 19 letters or digits", "account number"
    elif service == SERVICE_CARD:
        if type(account) is str and 16 <= len(account) <= 19 and account.isascii() and account.isdigit():
            return
        expected, kind = "16 to 19 digits", "card number"
    else:
        raise VietQRError(
            f"service (tag 38.02) must be {SERVICE_ACCOUNT} (account) or {SERVICE_CARD} (card), "
            f"got {service!r}",
            field="38.02",
        )
    raise VietQRError(f"{kind} (tag 38.01.01) must be {expected}, got {account!r}", field="38.01.01")


# --- decoding -------------------------------------------------------------------------------
# Valid payloads are the common case and take a fast path; only a fault takes the slow one
# that finds and names it.


def decode(payload: object, *, check_crc: bool = True) -> VietQRPayload:
    """The fields of a VietQR payload; :class:`VietQRError` if it is not one.

    With ``check_crc=False`` a wrong CRC is reported in ``crc_ok`` instead of raised (for
    diagnosing a damaged code); everything else is still checked.
    """
    if type(payload) is not str:
        raise VietQRError(f"a payload is text, not {type(payload).__name__}")
    size = len(payload)
    if size > MAX_PAYLOAD:
        raise VietQRError(f"payload is {size} characters; EMVCo allows at most {MAX_PAYLOAD}")
    crc_ok = _crc_matches(payload, size, check_crc)
    match = _CANONICAL.fullmatch(payload)
    decoded = None if match is None else _from_canonical(match, crc_ok)
    return decoded or _decode_fields(payload, size, crc_ok)


# The layout every generator writes (tags in ascending order, nothing the issue does not list),
# as one regular expression run in C. It splits a payload into values; the lengths each value
# declares are then compared with the values' real lengths. If they all agree, that split is
# the only one a TLV reading can give, so the result equals _decode_fields'; if not (or the
# payload has other tags or another order), _decode_fields decides and explains.
_CANONICAL = re.compile(
    r"0002010102(1[12])"
    r"38([0-9]{2})0010A00000072701([0-9]{2})0006([0-9]{6})01([0-9]{2})([0-9A-Za-z]{1,19})0208(QRIBFTT[AC])"
    r"5303704(?:54([0-9]{2})([1-9][0-9]{0,12}))?5802VN"
    r"(?:59([0-9]{2})([ -~]{1,25}))?(?:60([0-9]{2})([ -~]{1,15}))?(?:62([0-9]{2})08([0-9]{2})([ -~]{1,25}))?"
    r"6304[0-9A-Fa-f]{4}"
)


def _from_canonical(match: re.Match[str], crc_ok: bool) -> VietQRPayload | None:
    """The payload the canonical match describes, or None if a declared length disagrees."""
    (
        init,
        l38,
        l3801,
        bin,
        l_account,
        account,
        service,
        l54,
        amount,
        l59,
        name,
        l60,
        city,
        l62,
        l08,
        purpose,
    ) = match.groups()
    size = len(account)
    if l38 != _PAD[44 + size] or l3801 != _PAD[14 + size] or l_account != _PAD[size]:
        return None
    if service == SERVICE_CARD and not (size >= 16 and account.isdigit()):
        return None
    if amount is not None and (
        l54 != _PAD[len(amount)] or (len(amount) == 13 and int(amount) > MAX_AMOUNT_VND)
    ):
        return None
    if (name is not None and l59 != _PAD[len(name)]) or (city is not None and l60 != _PAD[len(city)]):
        return None
    if purpose is not None and (l62 != _PAD[4 + len(purpose)] or l08 != _PAD[len(purpose)]):
        return None
    return _payload(
        {
            "bin": bin,
            "account": account,
            "service": service,
            "amount": None if amount is None else int(amount),
            "currency": CURRENCY_VND,
            "country": COUNTRY_VN,
            "purpose": purpose,
            "point_of_initiation": "static" if init == "11" else "dynamic",
            "crc_ok": crc_ok,
            "name": name,
            "city": city,
        }
    )


def _decode_fields(payload: str, size: int, crc_ok: bool) -> VietQRPayload:
    """Decode by reading the fields one by one: any tag order, unlisted tags ignored."""
    root = _fields(payload, 0, size - 8, "")
    get = root.get
    initiation = _INITIATION.get(get("01", ""))
    if (
        initiation is None
        or get("00") != "01"
        or get("53") != CURRENCY_VND
        or get("58") != COUNTRY_VN
        or "63" in root
        or next(iter(root)) != "00"
    ):
        _explain_root(root)
    bin, account, service = _merchant(get("38"))
    amount = get("54")
    name = get("59")
    city = get("60")
    purpose = get("62")
    return _payload(
        {
            "bin": bin,
            "account": account,
            "service": service,
            "amount": None if amount is None else _amount(amount),
            "currency": CURRENCY_VND,
            "country": COUNTRY_VN,
            "purpose": None if purpose is None else _purpose(purpose),
            "point_of_initiation": initiation,
            "crc_ok": crc_ok,
            "name": None if name is None else _text(name, "59", MAX_NAME, "name"),
            "city": None if city is None else _text(city, "60", MAX_CITY, "city"),
        }
    )


def _crc_matches(payload: str, size: int, check_crc: bool) -> bool:
    if size < 8 or payload[-8:-4] != "6304":
        raise VietQRError("payload must end with the CRC field: 6304 and 4 hex digits", field="63")
    try:
        data = payload[:-4].encode()
    except UnicodeEncodeError:
        raise VietQRError("payload contains characters that are not valid Unicode text") from None
    computed = f"{crc16(data):04X}"
    stated = payload[-4:]
    if computed == stated:
        return True
    if not _CRC.fullmatch(stated):
        raise VietQRError(f"CRC (tag 63) must be 4 hex digits, got {stated!r}", field="63")
    if computed == stated.upper():
        return True
    if check_crc:
        raise VietQRError(
            f"CRC mismatch: the payload says {stated}, its content gives {computed}", field="63"
        )
    return False


def _fields(text: str, start: int, end: int, prefix: str) -> dict[str, str]:
    """The ``TTLLvalue`` fields of ``text[start:end]`` by tag, each length checked."""
    found: dict[str, str] = {}
    lengths = _TWO_DIGITS.get
    pos = start
    count = 0
    while pos < end:
        value_start = pos + 4
        next_pos = value_start + lengths(text[pos + 2 : value_start], 0)
        if next_pos == value_start or next_pos > end:
            _explain_fields(text, start, end, prefix)
        found[text[pos : pos + 2]] = text[value_start:next_pos]
        pos = next_pos
        count += 1
    if count != len(found) or not _TAGS.issuperset(found):
        _explain_fields(text, start, end, prefix)
    return found


def _explain_fields(text: str, start: int, end: int, prefix: str) -> NoReturn:
    """Raise the error that :func:`_fields` found, naming the tag and position."""
    seen: set[str] = set()
    pos = start
    while pos < end:
        if end - pos < 4:
            raise VietQRError(
                f"{end - pos} stray character(s) at position {pos}{_inside(prefix)}, "
                "where a tag and a length (4 digits) were expected",
                field=prefix.rstrip(".") or None,
            )
        tag, length = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if tag not in _TWO_DIGITS:
            raise VietQRError(f"tag at position {pos}{_inside(prefix)} must be 2 digits, got {tag!r}")
        path = prefix + tag
        size = _TWO_DIGITS.get(length)
        if size is None:
            raise VietQRError(f"length of tag {path} must be 2 digits, got {length!r}", field=path)
        if size == 0:
            raise VietQRError(f"tag {path} is empty (length 00); a value has 1 to 99 characters", field=path)
        if pos + 4 + size > end:
            raise VietQRError(
                f"tag {path} declares {size} characters but only {end - pos - 4} remain", field=path
            )
        if tag in seen:
            raise VietQRError(f"tag {path} appears twice", field=path)
        seen.add(tag)
        pos += 4 + size
    raise AssertionError("_explain_fields found nothing wrong")  # pragma: no cover


def _inside(prefix: str) -> str:
    return f" inside tag {prefix.rstrip('.')}" if prefix else ""


def _explain_root(root: dict[str, str]) -> NoReturn:
    if next(iter(root), None) != "00":
        raise VietQRError("payload must start with tag 00 (payload format indicator)", field="00")
    if "63" in root:
        raise VietQRError("tag 63 (CRC) appears before the end; it must be the last field", field="63")
    _expect(root, "00", "01", "payload format indicator")
    if _require(root, "01", "point of initiation") not in _INITIATION:
        raise VietQRError(f"tag 01 (point of initiation) must be 11 or 12, got {root['01']!r}", field="01")
    _expect(root, "53", CURRENCY_VND, "currency")
    _expect(root, "58", COUNTRY_VN, "country")
    raise AssertionError("_explain_root found nothing wrong")  # pragma: no cover


def _require(fields: dict[str, str], tag: str, label: str, prefix: str = "") -> str:
    value = fields.get(tag)
    if value is None:
        raise VietQRError(f"mandatory tag {prefix}{tag} ({label}) is missing", field=prefix + tag)
    return value


def _expect(fields: dict[str, str], tag: str, expected: str, label: str, prefix: str = "") -> None:
    value = _require(fields, tag, label, prefix)
    if value != expected:
        raise VietQRError(
            f"tag {prefix}{tag} ({label}) must be {expected!r}, got {value!r}", field=prefix + tag
        )


def _merchant(template: str | None) -> tuple[str, str, str]:
    """(BIN, account, service) from tag 38."""
    if template is None:
        raise VietQRError("mandatory tag 38 (NAPAS merchant account) is missing", field="38")
    merchant = _fields(template, 0, len(template), "38.")
    if merchant.get("00") != GUID:
        _expect(merchant, "00", GUID, "NAPAS GUID", "38.")
    beneficiary_text = _require(merchant, "01", "beneficiary", "38.")
    beneficiary = _fields(beneficiary_text, 0, len(beneficiary_text), "38.01.")
    if len(beneficiary) != 2 or "00" not in beneficiary or "01" not in beneficiary:
        _reject_nested(beneficiary)
    service = _require(merchant, "02", "service code", "38.")
    bin, account = beneficiary["00"], beneficiary["01"]
    _check_beneficiary(bin, account, service)
    return bin, account, service


def _reject_nested(beneficiary: dict[str, str]) -> None:
    # Some generators put the service code inside the beneficiary; banks refuse those codes.
    for tag in sorted(set(beneficiary) - {"00", "01"}):
        if beneficiary[tag] in _SERVICES:
            raise VietQRError(
                f"service code {beneficiary[tag]} is nested inside the beneficiary (tag 38.01.{tag}); "
                "it belongs in tag 38.02",
                field=f"38.01.{tag}",
            )
        raise VietQRError(f"beneficiary (tag 38.01) has an unknown tag 38.01.{tag}", field=f"38.01.{tag}")
    _require(beneficiary, "00", "acquirer BIN", "38.01.")
    _require(beneficiary, "01", "account or card number", "38.01.")


def _amount(text: str) -> int:
    if len(text) <= 13 and text.isascii() and text.isdigit() and text[0] != "0":
        amount = int(text)
        if amount <= MAX_AMOUNT_VND:
            return amount
        raise VietQRError(f"amount (tag 54) {amount} exceeds {MAX_AMOUNT_VND} đồng", field="54")
    raise VietQRError(
        f"amount (tag 54) must be whole đồng: digits, no leading zero, no decimals; got {text!r}",
        field="54",
    )


def _purpose(template: str) -> str | None:
    purpose = _fields(template, 0, len(template), "62.").get("08")
    return None if purpose is None else _text(purpose, "08", MAX_PURPOSE, "purpose", "62.")


def _text(value: str, tag: str, limit: int, label: str, prefix: str = "") -> str:
    if len(value) <= limit and _is_text(value):
        return value
    path = prefix + tag
    if len(value) > limit:
        raise VietQRError(f"{label} (tag {path}) is {len(value)} characters; at most {limit}", field=path)
    raise VietQRError(f"{label} (tag {path}) must be printable ASCII, got {value!r}", field=path)


# --- memo -----------------------------------------------------------------------------------


def fold_ascii(text: str) -> str:
    """``text`` without diacritics: Vietnamese letters to their base letter (đ to d), the rest
    of what has no ASCII form dropped."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_D_STROKE))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode("ascii", "ignore").decode()


def qr_purpose(reference_code: str, description: str = "") -> str:
    """The memo for tag 62.08: the reference code, then the description folded to ASCII letters
    and digits, cut to 25 characters. Banks truncate memos and strip punctuation, so the code
    comes first and nothing that a bank might drop is kept."""
    if not isinstance(reference_code, str) or not _REFERENCE.fullmatch(reference_code):
        raise VietQRError(
            f"reference code must be 1 to {MAX_PURPOSE} ASCII letters or digits, got {reference_code!r}",
            field="62.08",
        )
    words = _NOT_ALNUM.sub(" ", fold_ascii(description)).strip()
    memo = f"{reference_code} {words}" if words else reference_code
    return memo[:MAX_PURPOSE].rstrip()
