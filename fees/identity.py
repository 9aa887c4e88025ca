"""Who pays a notice: citizen ID numbers, tax codes, phone numbers and e-mail addresses. Pure.

python-stdnum has no module for Vietnam's citizen ID (căn cước công dân, the 12-digit personal
identification number), so its structure is checked here, as set by the Ministry of Public
Security (Thông tư 07/2016/TT-BCA, kept by Thông tư 59/2021/TT-BCA): digits 1–3 are the code of
the province where the birth was registered (the 63 codes of the annex, which are the GSO
province codes: 038 is Thanh Hóa), digit 4 encodes century and sex (0/1: 1900s male/female,
2/3: 2000s, 4/5: 2100s, …), digits 5–6 are the last two digits of the birth year, and the last
six are a serial. The number has no check digit, so a well-formed but unissued number passes:
this catches typing errors of the structure, not every wrong number. A birth year in the future
is refused. Tax codes are checked by python-stdnum (``stdnum.vn.mst``), phone numbers by
phonenumbers (Vietnamese numbering plan), e-mail addresses by email-validator (syntax only).
"""

from __future__ import annotations

import re
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import ValidationError
from stdnum.vn import mst

from choso.i18n import N_

# Province codes of the citizen ID (annex of Thông tư 07/2016/TT-BCA).
PROVINCE_CODES = frozenset(
    f"{code:03d}"
    for code in (
        1,
        2,
        4,
        6,
        8,
        10,
        11,
        12,
        14,
        15,
        17,
        19,
        20,
        22,
        24,
        25,
        26,
        27,
        30,
        31,
        33,
        34,
        35,
        36,
        37,
        38,
        40,
        42,
        44,
        45,
        46,
        48,
        49,
        51,
        52,
        54,
        56,
        58,
        60,
        62,
        64,
        66,
        67,
        68,
        70,
        72,
        74,
        75,
        77,
        79,
        80,
        82,
        83,
        84,
        86,
        87,
        89,
        91,
        92,
        93,
        94,
        95,
        96,
    )
)
_ID = re.compile(r"\d{12}")


class InvalidIdentity(ValueError):
    """``code`` says which check failed (for per-row reasons); the message is a message id."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean_digits(text: str) -> str:
    return re.sub(r"[\s.\-]", "", text)


def citizen_id(text: str, *, today: date | None = None) -> str:
    """The 12 digits of a well-formed citizen ID number, or :class:`InvalidIdentity`."""
    number = clean_digits(text)
    if not _ID.fullmatch(number):
        raise InvalidIdentity("id_format", N_("A citizen ID number has exactly 12 digits."))
    if number[:3] not in PROVINCE_CODES:
        raise InvalidIdentity("id_province", N_("This ID number does not start with a province code."))
    century = 1900 + 100 * (int(number[3]) // 2)
    birth_year = century + int(number[4:6])
    if birth_year > (today or date.today()).year:
        raise InvalidIdentity("id_birth_year", N_("The birth year in this ID number is in the future."))
    return number


def mask_id(number: str) -> str:
    """What a public page may show of an ID number or tax code: its last three digits."""
    return "•" * max(0, len(number) - 3) + number[-3:] if number else ""


def mask_phone(number: str) -> str:
    return number[:3] + "•" * max(0, len(number) - 6) + number[-3:] if len(number) > 6 else ""


def tax_code(text: str) -> str:
    """The compact form of a valid Vietnamese tax code (10 digits, or 13 for a branch)."""
    try:
        return mst.validate(text)
    except ValidationError:
        raise InvalidIdentity("tax_code", N_("This is not a valid Vietnamese tax code.")) from None


def phone(text: str) -> str:
    """A Vietnamese phone number in national form (0xxxxxxxxx)."""
    try:
        parsed = phonenumbers.parse(text, "VN")
    except phonenumbers.NumberParseException:
        raise InvalidIdentity("phone", N_("This is not a valid Vietnamese phone number.")) from None
    if parsed.country_code != 84 or not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity("phone", N_("This is not a valid Vietnamese phone number."))
    return "0" + str(parsed.national_number)


def email(text: str) -> str:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise InvalidIdentity("email", N_("This is not a valid e-mail address.")) from None
