"""The VietQR codec: round trips, published payloads, every error the decoder names, fuzzing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payments import reference, vietqr
from payments.vietqr import VietQRError, VietQRPayload, decode, encode, qr_purpose

# Published examples: the READMEs of the vietnam-qr-pay and napas-qr-python packages.
PUBLISHED = {
    "00020101021238530010A0000007270123000697041601092576788590208QRIBFTTA5303704540410005802VN"
    "62150811Chuyen tien6304BBB8": ("970416", "257678859", "QRIBFTTA", 1000, "Chuyen tien", "dynamic"),
    "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F": (
        "970416",
        "257678859",
        "QRIBFTTA",
        None,
        None,
        "static",
    ),
    "00020101021238630010A00000072701330006970436011997043686255816010180208QRIBFTTC5303704540720000005802VN"
    "6304A2DC": ("970436", "9704368625581601018", "QRIBFTTC", 2000000, None, "dynamic"),
    # 62 also holds a bill number (62.01): read through the field-by-field path.
    "00020101021238570010A00000072701270006970403011300110123456780208QRIBFTTA530370454061800005802VN"
    "62340107NPS68690819thanh toan don hang63042E2E": (
        "970403",
        "0011012345678",
        "QRIBFTTA",
        180000,
        "thanh toan don hang",
        "dynamic",
    ),
}


def tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def with_crc(body: str) -> str:
    body += "6304"
    return f"{body}{vietqr.crc16(body.encode()):04X}"


def merchant(bin: str = "970436", account: str = "0011001234567", service: str = "QRIBFTTA") -> str:
    return tlv(
        "38", tlv("00", "A000000727") + tlv("01", tlv("00", bin) + tlv("01", account)) + tlv("02", service)
    )


def build(*fields: tuple[str, str]) -> str:
    """A payload with the given (tag, value) fields in order and a correct CRC."""
    return with_crc("".join(tlv(tag, value) for tag, value in fields))


GOOD_FIELDS = [
    ("00", "01"),
    ("01", "12"),
    ("38", merchant()[4:]),
    ("53", "704"),
    ("54", "150000"),
    ("58", "VN"),
    ("62", tlv("08", "CS7K2M9QX4X")),
]


def good(**replace: str | None) -> str:
    """GOOD_FIELDS with some tags replaced (a value) or removed (None)."""
    fields = [(tag, replace.get(f"t{tag}", value)) for tag, value in GOOD_FIELDS]
    return build(*[(tag, value) for tag, value in fields if value is not None])


def general(payload: str) -> VietQRPayload:
    """The field-by-field decoder alone (decode tries a faster path first)."""
    size = len(payload)
    return vietqr._decode_fields(payload, size, vietqr._crc_matches(payload, size, True))


# --- CRC --------------------------------------------------------------------------------------


def _bitwise_crc(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def test_crc_is_ccitt_false() -> None:
    assert vietqr.crc16(b"123456789") == 0x29B1  # the catalogued check value of CRC-16/CCITT-FALSE


@given(st.binary(max_size=300))
def test_crc_matches_the_bitwise_definition(data: bytes) -> None:
    assert vietqr.crc16(data) == _bitwise_crc(data)


# --- encoding ---------------------------------------------------------------------------------


def test_encode_writes_every_listed_tag_in_order() -> None:
    payload = encode(
        bin="970436",
        account="0011001234567",
        amount=150000,
        purpose="CS7K2M9QX4X",
        name="CHO SO",
        city="THANH HOA",
    )
    assert payload == build(*GOOD_FIELDS[:6], ("59", "CHO SO"), ("60", "THANH HOA"), GOOD_FIELDS[6])
    assert payload.startswith("000201010212")
    assert "0208QRIBFTTA" in payload and "01270006970436" in payload
    assert payload[-8:-4] == "6304" and payload[-4:] == payload[-4:].upper()


def test_static_qr_may_leave_the_amount_out() -> None:
    payload = encode(bin="970416", account="257678859", static=True)
    assert (
        payload
        == "00020101021138530010A0000007270123000697041601092576788590208QRIBFTTA53037045802VN6304AE9F"
    )
    assert decode(payload).point_of_initiation == "static"


def test_published_dynamic_payload_is_reproduced() -> None:
    payload = encode(bin="970416", account="257678859", amount=1000, purpose="Chuyen tien")
    assert payload in PUBLISHED


def test_card_service() -> None:
    payload = encode(bin="970436", account="9704368625581601018", amount=2000000, service=vietqr.SERVICE_CARD)
    assert payload in PUBLISHED


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bin": "97043"}, "acquirer BIN (tag 38.01.00) must be 6 digits"),
        ({"bin": "97043٦"}, "must be 6 digits"),
        ({"account": ""}, "account number (tag 38.01.01) must be 1 to 19 letters or digits"),
        ({"account": "0011-001"}, "must be 1 to 19 letters or digits"),
        ({"account": "1" * 20}, "must be 1 to 19 letters or digits"),
        ({"service": vietqr.SERVICE_CARD}, "card number (tag 38.01.01) must be 16 to 19 digits"),
        ({"service": "QRPUSH"}, "service (tag 38.02) must be QRIBFTTA (account) or QRIBFTTC (card)"),
        ({"amount": None}, "a dynamic QR needs an amount"),
        ({"amount": 0}, "amount must be between 1 and 1000000000000"),
        ({"amount": 10**12 + 1}, "amount must be between 1"),
        ({"amount": 1.5}, "whole number of đồng, not float"),
        ({"amount": True}, "not bool"),
        ({"amount": "150000"}, "not str"),
        ({"purpose": "Thanh toán"}, "purpose (tag 62.08) must be printable ASCII"),
        ({"purpose": "x" * 26}, "purpose (tag 62.08) is 26 characters; at most 25"),
        ({"purpose": ""}, "must be printable ASCII"),
        ({"purpose": "a\nb"}, "must be printable ASCII"),
        ({"name": "N" * 26}, "name (tag 59) is 26 characters"),
        ({"city": "Thanh Hoa Province"}, "city (tag 60) is 18 characters; at most 15"),
    ],
)
def test_encode_refuses(arguments: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"bin": "970436", "account": "0011001234567", "amount": 150000} | arguments
    with pytest.raises(VietQRError, match=message.replace("(", r"\(").replace(")", r"\)")):
        encode(**values)  # type: ignore[arg-type]


# --- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", list(PUBLISHED))
def test_published_payloads_decode(payload: str) -> None:
    bin, account, service, amount, purpose, initiation = PUBLISHED[payload]
    decoded = decode(payload)
    assert (decoded.bin, decoded.account, decoded.service, decoded.amount) == (bin, account, service, amount)
    assert (decoded.purpose, decoded.point_of_initiation, decoded.crc_ok) == (purpose, initiation, True)
    assert (decoded.currency, decoded.country) == ("704", "VN")
    assert decoded == general(payload)


def test_lowercase_crc_is_accepted() -> None:
    payload = good()
    lower = payload[:-4] + payload[-4:].lower()
    assert lower != payload
    assert decode(lower) == decode(payload)


def test_decoded_payload_is_a_frozen_dataclass_equal_to_one_built_normally() -> None:
    decoded = decode(good())
    expected = VietQRPayload(
        bin="970436",
        account="0011001234567",
        service="QRIBFTTA",
        amount=150000,
        currency="704",
        country="VN",
        purpose="CS7K2M9QX4X",
        point_of_initiation="dynamic",
        crc_ok=True,
    )
    assert decoded == expected and hash(decoded) == hash(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.amount = 1  # type: ignore[misc]
    assert list(decoded.as_json()) == [
        "bin",
        "account",
        "service",
        "amount",
        "currency",
        "country",
        "purpose",
        "point_of_initiation",
        "crc_ok",
    ]


def test_other_tags_and_other_order_are_read() -> None:
    payload = build(
        ("00", "01"),
        ("01", "12"),
        ("38", merchant()[4:]),
        ("52", "0000"),
        ("58", "VN"),
        ("53", "704"),
        ("62", tlv("01", "BILL-42") + tlv("08", "CS7K2M9QX4X")),
        ("54", "99000"),
        ("64", tlv("00", "vi") + tlv("01", "Chợ Số")),
        ("80", "extra"),
    )
    decoded = decode(payload)
    assert (decoded.amount, decoded.purpose, decoded.bin) == (99000, "CS7K2M9QX4X", "970436")


def test_wrong_crc_can_be_diagnosed_without_raising() -> None:
    payload = good()[:-4] + "0000"
    with pytest.raises(VietQRError, match="CRC mismatch: the payload says 0000, its content gives"):
        decode(payload)
    decoded = decode(payload, check_crc=False)
    assert decoded.crc_ok is False and decoded.amount == 150000
    with pytest.raises(VietQRError, match="tag 53"):
        decode(good(t53="840")[:-4] + "0000", check_crc=False)


NESTED_SERVICE = with_crc(
    "000201010212"
    + tlv(
        "38",
        tlv("00", "A000000727")
        + tlv("01", tlv("00", "970436") + tlv("01", "0011001234567") + tlv("02", "QRIBFTTA")),
    )
    + "53037045406150000"
    + "5802VN"
)


def test_service_code_nested_in_the_beneficiary_is_refused() -> None:
    with pytest.raises(
        VietQRError, match=r"service code QRIBFTTA is nested inside the beneficiary \(tag 38.01.02\)"
    ) as e:
        decode(NESTED_SERVICE)
    assert e.value.field == "38.01.02"


BAD_PAYLOADS = [
    (b"000201", "a payload is text, not bytes"),
    (None, "a payload is text, not NoneType"),
    ("0" * 513, "payload is 513 characters; EMVCo allows at most 512"),
    ("", "payload must end with the CRC field"),
    (good()[:-8], "payload must end with the CRC field"),
    (good()[:-4] + "12G4", "CRC \\(tag 63\\) must be 4 hex digits, got '12G4'"),
    (good()[:-4] + "１２３４", "CRC \\(tag 63\\) must be 4 hex digits"),
    ("\ud800" + good()[1:], "not valid Unicode"),
    (with_crc(tlv("00", "01") + "010"), "3 stray character\\(s\\) at position 6"),
    (with_crc(tlv("00", "01") + "A10212"), "tag at position 6 must be 2 digits, got 'A1'"),
    (with_crc(tlv("00", "01") + "01x212"), "length of tag 01 must be 2 digits, got 'x2'"),
    (with_crc(tlv("00", "01") + "0100" + "5802VN"), "tag 01 is empty \\(length 00\\)"),
    (with_crc(tlv("00", "01") + "0109" + "12"), "tag 01 declares 9 characters but only 2 remain"),
    (good(t62="08099"), "tag 62.08 declares 9 characters but only 1 remain"),
    (build(("00", "01"), ("01", "12"), ("01", "11")), "tag 01 appears twice"),
    (build(("01", "12"), ("00", "01")), "payload must start with tag 00"),
    (build(("00", "01"), ("63", "1234"), ("01", "12")), "tag 63 \\(CRC\\) appears before the end"),
    (good(t00="02"), "tag 00 \\(payload format indicator\\) must be '01', got '02'"),
    (good(t01=None), "mandatory tag 01 \\(point of initiation\\) is missing"),
    (good(t01="13"), "tag 01 \\(point of initiation\\) must be 11 or 12, got '13'"),
    (good(t38=None), "mandatory tag 38 \\(NAPAS merchant account\\) is missing"),
    (
        good(t38=merchant()[4:].replace("A000000727", "A000000775")),
        "tag 38.00 \\(NAPAS GUID\\) must be 'A000000727'",
    ),
    (
        good(t38=tlv("00", "A000000727") + tlv("02", "QRIBFTTA")),
        "mandatory tag 38.01 \\(beneficiary\\) is missing",
    ),
    (good(t38=tlv("00", "A000000727") + tlv("01", tlv("01", "123")) + tlv("02", "QRIBFTTA")), "tag 38.01.00"),
    (
        good(t38=tlv("00", "A000000727") + tlv("01", tlv("00", "970436")) + tlv("02", "QRIBFTTA")),
        "tag 38.01.01",
    ),
    (good(t38=merchant()[4:-12]), "mandatory tag 38.02 \\(service code\\) is missing"),
    (good(t38=merchant(service="QRPUSH")[4:]), "service \\(tag 38.02\\) must be QRIBFTTA"),
    (NESTED_SERVICE, "nested inside the beneficiary"),
    (
        good(
            t38=tlv("00", "A000000727")
            + tlv("01", tlv("00", "970436") + tlv("01", "1") + tlv("05", "x"))
            + tlv("02", "QRIBFTTA")
        ),
        "beneficiary \\(tag 38.01\\) has an unknown tag 38.01.05",
    ),
    (good(t38=merchant(bin="97043A")[4:]), "acquirer BIN \\(tag 38.01.00\\) must be 6 digits, got '97043A'"),
    (good(t38=merchant(account="1" * 20)[4:]), "account number \\(tag 38.01.01\\) must be 1 to 19"),
    (good(t38=merchant(account="12 34")[4:]), "account number \\(tag 38.01.01\\)"),
    (
        good(t38=merchant(account="123456789012345", service="QRIBFTTC")[4:]),
        "card number \\(tag 38.01.01\\) must be 16 to 19 digits",
    ),
    (good(t53=None), "mandatory tag 53 \\(currency\\) is missing"),
    (good(t53="840"), "tag 53 \\(currency\\) must be '704', got '840'"),
    (good(t54="0150000"), "amount \\(tag 54\\) must be whole đồng"),
    (good(t54="150000.00"), "amount \\(tag 54\\) must be whole đồng"),
    (good(t54="0"), "amount \\(tag 54\\) must be whole đồng"),
    (good(t54="١٥٠"), "amount \\(tag 54\\) must be whole đồng"),
    (good(t54="9" * 13), "amount \\(tag 54\\) 9999999999999 exceeds 1000000000000"),
    (good(t58=None), "mandatory tag 58 \\(country\\) is missing"),
    (good(t58="LA"), "tag 58 \\(country\\) must be 'VN', got 'LA'"),
    (good(t62=tlv("08", "x" * 26)), "purpose \\(tag 62.08\\) is 26 characters; at most 25"),
    (good(t62=tlv("08", "Thanh toán")), "purpose \\(tag 62.08\\) must be printable ASCII"),
    (good(t62=tlv("08", "a\x00b")), "purpose \\(tag 62.08\\) must be printable ASCII"),
    (build(*GOOD_FIELDS, ("59", "N" * 26)), "name \\(tag 59\\) is 26 characters"),
    (build(*GOOD_FIELDS, ("60", "Hà Nội")), "city \\(tag 60\\) must be printable ASCII"),
]


@pytest.mark.parametrize(("payload", "message"), BAD_PAYLOADS)
def test_decoder_names_what_is_wrong(payload: object, message: str) -> None:
    with pytest.raises(VietQRError, match=message):
        decode(payload)


def test_errors_name_their_field() -> None:
    cases = {
        "53": good(t53="840"),
        "54": good(t54="01"),
        "38.01.00": good(t38=merchant(bin="1")[4:]),
        "63": good()[:-1],
    }
    for field, payload in cases.items():
        with pytest.raises(VietQRError) as e:
            decode(payload)
        assert e.value.field == field, e.value


def test_62_without_a_purpose() -> None:
    assert decode(good(t62=tlv("01", "BILL"))).purpose is None


# --- properties -------------------------------------------------------------------------------

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)
payload_fields = st.fixed_dictionaries(
    {
        "bin": st.from_regex(r"[0-9]{6}", fullmatch=True),
        "account": st.from_regex(r"[0-9A-Za-z]{1,19}", fullmatch=True),
        "amount": st.none() | st.integers(1, vietqr.MAX_AMOUNT_VND),
        "purpose": st.none() | printable.filter(lambda s: len(s) <= 25),
        "name": st.none() | printable.filter(lambda s: len(s) <= 25),
        "city": st.none() | printable.filter(lambda s: len(s) <= 15),
        "static": st.booleans(),
    }
).filter(lambda f: f["amount"] is not None or f["static"])


@given(payload_fields)
def test_round_trip(fields: dict[str, object]) -> None:
    payload = encode(**fields)  # type: ignore[arg-type]
    decoded = decode(payload)
    expected = {key: value for key, value in fields.items() if key != "static"}
    expected["point_of_initiation"] = "static" if fields["static"] else "dynamic"
    assert {key: getattr(decoded, key) for key in expected} == expected
    assert (decoded.service, decoded.currency, decoded.country, decoded.crc_ok) == (
        "QRIBFTTA",
        "704",
        "VN",
        True,
    )
    assert decoded == general(payload)  # the fast path agrees with the field-by-field reading
    assert decode(payload[:-4] + payload[-4:].lower()) == decoded


def _outcome(function: object, payload: object) -> object:
    try:
        return function(payload)  # type: ignore[operator]
    except VietQRError as error:
        return ("error", str(error))


def _mutations(draw: st.DrawFn) -> str:
    payload = encode(**draw(payload_fields))
    body = payload[:-4]
    position = draw(st.integers(0, len(body)))
    noise = draw(st.text(st.sampled_from("0123456789AQ6304 ."), max_size=4))
    cut = draw(st.integers(0, 3))
    mutated = body[:position] + noise + body[position + cut :]
    return (
        with_crc(mutated[:-4]) if draw(st.booleans()) and mutated.endswith("6304") else mutated + payload[-4:]
    )


near_valid = st.composite(_mutations)()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=600), near_valid, st.binary(max_size=50), st.integers(), st.none()))
def test_decode_never_crashes(payload: object) -> None:
    """Any input gives a payload or a VietQRError, never another exception; and both paths agree."""
    outcome = _outcome(decode, payload)
    assert isinstance(outcome, VietQRPayload) or outcome[0] == "error"  # type: ignore[index]
    if isinstance(outcome, VietQRPayload):
        assert outcome == general(payload)  # type: ignore[arg-type]
        # Whatever decodes re-encodes to the same fields (bar a dynamic QR without an amount,
        # which the decoder tolerates and the encoder never writes).
        if outcome.amount is not None or outcome.point_of_initiation == "static":
            assert decode(encode_back(outcome)) == dataclasses.replace(outcome, crc_ok=True)


def encode_back(decoded: VietQRPayload) -> str:
    return encode(
        bin=decoded.bin,
        account=decoded.account,
        amount=decoded.amount,
        purpose=decoded.purpose,
        name=decoded.name,
        city=decoded.city,
        static=decoded.point_of_initiation == "static",
        service=decoded.service,
    )


@given(payload_fields, st.integers(0, 200), st.characters())
def test_any_single_character_change_is_caught(fields: dict[str, object], index: int, char: str) -> None:
    """The CRC catches every one-character substitution (or the structure does)."""
    payload = encode(**fields)  # type: ignore[arg-type]
    index %= len(payload) - 4
    if char == payload[index]:
        return
    changed = payload[:index] + char + payload[index + 1 :]
    with pytest.raises(VietQRError):
        decode(changed)


# --- memo -------------------------------------------------------------------------------------


def test_qr_purpose_folds_and_cuts() -> None:
    assert qr_purpose("CS7K2M9QX4X", "Thanh toán đơn hàng #12 – Đồng Tâm") == "CS7K2M9QX4X Thanh toan do"
    assert qr_purpose("CS7K2M9QX4X") == "CS7K2M9QX4X"
    assert qr_purpose("CS7K2M9QX4X", "   ") == "CS7K2M9QX4X"
    assert qr_purpose("CS7K2M9QX4X", "Phí chợ tháng 11") == "CS7K2M9QX4X Phi cho thang"
    assert vietqr.fold_ascii("ĐẶNG Thị Hương, Hạc Thành") == "DANG Thi Huong, Hac Thanh"


@pytest.mark.parametrize("code", ["", "CS 7K2M", "CS-7K2M", "Đ1", "X" * 26, None])
def test_qr_purpose_refuses_a_code_that_banks_would_mangle(code: object) -> None:
    with pytest.raises(VietQRError, match="reference code must be 1 to 25 ASCII letters or digits"):
        qr_purpose(code, "x")  # type: ignore[arg-type]


reference_codes = st.text(st.sampled_from(reference.ALPHABET), min_size=8, max_size=8).map(
    lambda body: reference.PREFIX + body + reference.check_symbol(reference.PREFIX + body)
)


@given(reference_codes, st.text(max_size=80))
def test_qr_purpose_is_a_valid_memo_that_keeps_the_reference(code: str, description: str) -> None:
    memo = qr_purpose(code, description)
    assert memo.startswith(code) and len(memo) <= 25
    assert memo.isascii() and all(c.isalnum() or c == " " for c in memo)
    assert decode(encode(bin="970436", account="0011001234567", amount=1, purpose=memo)).purpose == memo
    assert reference.find_references(memo)[0] == code  # the webhook side finds it again
