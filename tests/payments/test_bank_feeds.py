"""Bank feeds: SePay and Casso webhooks authenticated and read strictly; nothing but FeedRejected escapes."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from choso.money import MAX_AMOUNT_VND
from payments.bank_feeds import MEMO_KEPT, BankNotification, CassoFeed, FeedRejected, SePayFeed

NOW = datetime(2026, 11, 26, 7, 5, 0, tzinfo=UTC)  # 14:05 in Hà Nội
SECRET = "sepay-secret-for-tests"
CASSO_SECRET = "casso-checksum-key-for-tests"


def sepay_payload(**changes: Any) -> dict[str, Any]:
    """A delivery shaped like SePay's published example."""
    payload = {
        "id": 92704,
        "gateway": "Vietcombank",
        "transactionDate": "2026-11-26 14:02:37",
        "accountNumber": "0123499999",
        "code": None,
        "content": "MBVCB.3278907687.CS7K2M9QX4X chuyen tien",
        "transferType": "in",
        "transferAmount": 150000,
        "accumulated": 19077000,
        "subAccount": None,
        "referenceCode": "MBVCB.3278907687",
        "description": "",
    }
    payload.update(changes)
    return payload


def casso_item(**changes: Any) -> dict[str, Any]:
    item = {
        "id": 1234567,
        "reference": "FT26330123456",
        "description": "NGUYEN VAN A chuyển tiền CS7K2M9QX4X",
        "amount": 150000,
        "runningBalance": 25000000,
        "transactionDateTime": "2026-11-26 14:02:37",
        "accountNumber": "0011001234567",
        "bankName": "Vietcombank",
        "bankAbbreviation": "VCB",
        "counterAccountName": "NGUYỄN VĂN A",
        "counterAccountNumber": "8888888888",
    }
    item.update(changes)
    return item


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def rejected(call: Any, *args: Any) -> FeedRejected:
    with pytest.raises(FeedRejected) as caught:
        call(*args)
    return caught.value


def assert_valid(notice: BankNotification) -> None:
    """Every invariant that the ledger side relies on."""
    assert notice.source in ("sepay", "casso")
    assert notice.external_id and len(notice.external_id) <= 64
    assert notice.account_number.isascii() and notice.account_number.isdigit()
    assert type(notice.amount_vnd) is int and 0 < notice.amount_vnd <= MAX_AMOUNT_VND
    assert notice.direction in ("in", "out")
    assert notice.occurred_at.utcoffset() == timedelta(0)
    for text in (notice.memo, notice.bank_hint, notice.bank_reference, notice.payer_name):
        assert isinstance(text, str)
        assert unicodedata.normalize("NFC", text) == text
        assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)
    assert len(notice.memo) <= MEMO_KEPT


# --- SePay: authentication ---------------------------------------------------------------------


def test_sepay_hmac_accepts_its_own_signature_and_refuses_a_tampered_body() -> None:
    feed = SePayFeed(mode="hmac", secret=SECRET)
    body = body_of(sepay_payload())
    headers = feed.signed_headers(body, NOW)
    assert headers["X-SePay-Signature"].startswith("sha256=")
    feed.authenticate(headers, body, NOW)
    tampered = body.replace(b"150000", b"950000")
    assert rejected(feed.authenticate, headers, tampered, NOW).status == 401


def test_sepay_hmac_signs_timestamp_dot_raw_body_as_documented() -> None:
    body = body_of(sepay_payload())
    timestamp = str(int(NOW.timestamp()))
    digest = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    feed = SePayFeed(mode="hmac", secret=SECRET)
    for signature in (f"sha256={digest}", digest, digest.upper()):
        feed.authenticate({"x-sepay-timestamp": timestamp, "X-SEPAY-SIGNATURE": signature}, body, NOW)


def test_sepay_hmac_refuses_a_wrong_secret_and_missing_or_malformed_headers() -> None:
    body = body_of(sepay_payload())
    good = SePayFeed(mode="hmac", secret=SECRET).signed_headers(body, NOW)
    feed = SePayFeed(mode="hmac", secret="another-secret")
    assert rejected(feed.authenticate, good, body, NOW).status == 401
    feed = SePayFeed(mode="hmac", secret=SECRET)
    for headers in (
        {},
        {"X-SePay-Signature": good["X-SePay-Signature"]},
        {"X-SePay-Timestamp": good["X-SePay-Timestamp"]},
        {**good, "X-SePay-Timestamp": "yesterday"},
        {**good, "X-SePay-Timestamp": "-" + good["X-SePay-Timestamp"]},
        {**good, "X-SePay-Signature": "sha256="},
        {**good, "X-SePay-Signature": "sha256=zz"},
    ):
        failure = rejected(feed.authenticate, headers, body, NOW)
        assert failure.status == 401


@pytest.mark.parametrize("drift", [timedelta(minutes=5, seconds=1), -timedelta(minutes=5, seconds=1)])
def test_sepay_hmac_refuses_a_timestamp_more_than_five_minutes_away(drift: timedelta) -> None:
    feed = SePayFeed(mode="hmac", secret=SECRET)
    body = body_of(sepay_payload())
    headers = feed.signed_headers(body, NOW + drift)
    failure = rejected(feed.authenticate, headers, body, NOW)
    assert failure.status == 401
    assert "timestamp" in failure.message
    feed.authenticate(feed.signed_headers(body, NOW + drift * 0.9), body, NOW)


def test_sepay_api_key_mode() -> None:
    feed = SePayFeed(mode="apikey", secret=SECRET)
    body = body_of(sepay_payload())
    assert feed.signed_headers(body, NOW) == {"Authorization": f"Apikey {SECRET}"}
    feed.authenticate({"authorization": f"Apikey {SECRET}"}, body, NOW)
    feed.authenticate({"Authorization": f"apikey  {SECRET} "}, body, NOW)
    for value in (
        "",
        f"Bearer {SECRET}",
        "Apikey ",
        f"Apikey {SECRET}x",
        f"Apikey {SECRET[:-1]}",
        "Apikey ký",
    ):
        assert rejected(feed.authenticate, {"Authorization": value}, body, NOW).status == 401
    # An HMAC-signed delivery does not pass an API-key feed.
    signed = SePayFeed(mode="hmac", secret=SECRET).signed_headers(body, NOW)
    assert rejected(feed.authenticate, signed, body, NOW).status == 401


def test_feeds_refuse_to_be_built_without_a_secret_or_with_an_unknown_mode() -> None:
    with pytest.raises(ValueError):
        SePayFeed(mode="hmac", secret="")
    with pytest.raises(ValueError):
        SePayFeed(mode="oauth", secret=SECRET)
    with pytest.raises(ValueError):
        CassoFeed(secret="")


# --- SePay: content ----------------------------------------------------------------------------


def test_sepay_reads_the_published_fields() -> None:
    [notice] = SePayFeed(mode="hmac", secret=SECRET).parse(body_of(sepay_payload()))
    assert notice == BankNotification(
        source="sepay",
        external_id="92704",
        account_number="0123499999",
        bank_hint="Vietcombank",
        amount_vnd=150000,
        direction="in",
        memo="MBVCB.3278907687.CS7K2M9QX4X chuyen tien",
        occurred_at=datetime(2026, 11, 26, 7, 2, 37, tzinfo=UTC),  # 14:02:37 in Vietnam
        bank_reference="MBVCB.3278907687",
        payer_name="",
    )
    assert_valid(notice)


def test_sepay_outgoing_transfers_are_read_as_out() -> None:
    [notice] = SePayFeed(mode="hmac", secret=SECRET).parse(body_of(sepay_payload(transferType="out")))
    assert notice.direction == "out"
    assert notice.amount_vnd == 150000


def test_sepay_memo_falls_back_to_the_description_when_the_content_is_empty() -> None:
    feed = SePayFeed(mode="hmac", secret=SECRET)
    payload = sepay_payload(content="", description="BankAPINotify CS7K2M9QX4X")
    assert feed.parse(body_of(payload))[0].memo == "BankAPINotify CS7K2M9QX4X"
    payload = sepay_payload(content=None, description=None, gateway=None, referenceCode=None)
    [notice] = feed.parse(body_of(payload))
    assert (notice.memo, notice.bank_hint, notice.bank_reference) == ("", "", "")


@pytest.mark.parametrize(
    "amount", [0, -150000, MAX_AMOUNT_VND + 1, 10**30, "150000", 150000.0, 1.5e5, True, None, [150000]]
)
def test_sepay_refuses_amounts_that_are_not_positive_strict_integers_within_bounds(amount: Any) -> None:
    failure = rejected(
        SePayFeed(mode="hmac", secret=SECRET).parse, body_of(sepay_payload(transferAmount=amount))
    )
    assert (failure.status, failure.field) == (422, "transferAmount")


def test_sepay_accepts_the_largest_amount() -> None:
    [notice] = SePayFeed(mode="hmac", secret=SECRET).parse(
        body_of(sepay_payload(transferAmount=MAX_AMOUNT_VND))
    )
    assert notice.amount_vnd == MAX_AMOUNT_VND


@pytest.mark.parametrize(
    "field", ["id", "transactionDate", "accountNumber", "transferType", "transferAmount"]
)
def test_sepay_names_a_missing_field(field: str) -> None:
    payload = sepay_payload()
    del payload[field]
    failure = rejected(SePayFeed(mode="hmac", secret=SECRET).parse, body_of(payload))
    assert (failure.status, failure.field) == (422, field)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transferType", "IN"),
        ("transferType", "credit"),
        ("accountNumber", "0123 49x"),
        ("accountNumber", 123499999),
        ("accountNumber", ""),
        ("accountNumber", "٠١٢٣"),  # Arabic-Indic digits are not account digits
        ("id", None),
        ("id", True),
        ("id", -1),
        ("id", "92 704"),
        ("id", "x" * 65),
        ("transactionDate", "25/03/2023 14:02:37"),
        ("transactionDate", "1900-01-01 00:00:00"),
        ("transactionDate", "0001-01-01 00:00:00"),
        ("transactionDate", 1679727757),
        ("gateway", 5),
        ("content", ["a"]),
    ],
)
def test_sepay_refuses_malformed_fields_by_name(field: str, value: Any) -> None:
    failure = rejected(SePayFeed(mode="hmac", secret=SECRET).parse, body_of(sepay_payload(**{field: value})))
    assert (failure.status, failure.field) == (422, field)


def test_memo_with_nul_is_refused() -> None:
    feed = SePayFeed(mode="hmac", secret=SECRET)
    failure = rejected(feed.parse, body_of(sepay_payload(content="CS7K2M9QX4X\x00")))
    assert (failure.status, failure.field) == (422, "body.content")
    assert "NUL" in failure.message
    # NUL anywhere in the document, even in a field Choso ignores or a key, cannot be stored.
    assert rejected(feed.parse, body_of(sepay_payload(code="a\x00"))).field == "body.code"
    assert rejected(feed.parse, body_of({**sepay_payload(), "x\x00": 1})).status == 422
    assert rejected(feed.parse, b'{"id": "\\ud800"}').status == 422


def test_memo_of_100_kb_is_refused_and_a_long_one_is_cut() -> None:
    feed = SePayFeed(mode="hmac", secret=SECRET)
    failure = rejected(feed.parse, body_of(sepay_payload(content="CS7K2M9QX4X " * 8_500)))
    assert (failure.status, failure.field) == (422, "content")
    [notice] = feed.parse(body_of(sepay_payload(content="A" * 1_500)))
    assert notice.memo == "A" * MEMO_KEPT


def test_memo_is_nfc_without_control_characters() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn Ánh chuyển tiền")
    content = f"{decomposed}\r\nCS7K2M\t9QX4X\x07\u200b\u202e end"
    [notice] = SePayFeed(mode="hmac", secret=SECRET).parse(body_of(sepay_payload(content=content)))
    assert notice.memo == "Nguyễn Văn Ánh chuyển tiền  CS7K2M 9QX4X end"
    assert_valid(notice)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b"[1, 2]",
        b'"text"',
        b"150000",
        b"null",
        b"\xff\xfe{}",
        b'{"transferAmount": NaN}',
        b'{"transferAmount": Infinity}',
        b'{"id": 1, "id": 2}',
        b"{" * 100_000,
        b"[" * 5_000 + b"]" * 5_000,
        b'{"transferAmount": ' + b"9" * 5_000 + b"}",
        "\ufeff{}".encode(),
    ],
)
def test_bodies_that_are_not_one_json_object_are_refused(body: bytes) -> None:
    for parse in (SePayFeed(mode="hmac", secret=SECRET).parse, CassoFeed(secret=CASSO_SECRET).parse):
        failure = rejected(parse, body)
        assert failure.status == 422
        assert failure.field in ("body", "data")


def test_transaction_time_with_an_offset_is_honoured() -> None:
    payload = sepay_payload(transactionDate="2026-11-26T09:02:37+02:00")
    [notice] = SePayFeed(mode="hmac", secret=SECRET).parse(body_of(payload))
    assert notice.occurred_at == datetime(2026, 11, 26, 7, 2, 37, tzinfo=UTC)


# --- Casso: authentication ---------------------------------------------------------------------

# Casso's published sample delivery, checksum key and signature (its PHP verification example).
CASSO_SAMPLE = {
    "error": 0,
    "data": {
        "id": 0,
        "reference": "MA_GIAO_DICH_THU_NGHIEM",
        "description": "giao dich thu nghiem",
        "amount": 599000,
        "runningBalance": 25000000,
        "transactionDateTime": "2024-10-03 15:06:37",
        "accountNumber": "88888888",
        "bankName": "VPBank",
        "bankAbbreviation": "VPB",
        "virtualAccountNumber": "",
        "virtualAccountName": "",
        "counterAccountName": "NGUYEN VAN A",
        "counterAccountNumber": "8888888888",
        "counterAccountBankId": "970415",
        "counterAccountBankName": "VietinBank",
    },
}
CASSO_SAMPLE_KEY = "mgExMrjj4i7a1p8Cs6LmFbpCd8lbw4sSX4LZXPag7TKazeIogtR90tvWYTkwQbvs"
CASSO_SAMPLE_SIGNATURE = (
    "t=1727948258788,v1=ed0a4bd2e826d5cb69988cdb141e6c1a080e21f3b57eb72cd78192220042b9e7"
    "dde0868fc667faea8e224900fa7904e7c88dfa098032fb2d6b6996856e8b7ff3"
)
CASSO_SAMPLE_TIME = datetime.fromtimestamp(1727948258.788, UTC)


def test_casso_published_test_vector_verifies_whatever_the_body_formatting() -> None:
    feed = CassoFeed(secret=CASSO_SAMPLE_KEY)
    headers = {"X-Casso-Signature": CASSO_SAMPLE_SIGNATURE}
    for body in (
        json.dumps(CASSO_SAMPLE).encode(),
        json.dumps(CASSO_SAMPLE, indent=4, sort_keys=True).encode(),
    ):
        feed.authenticate(headers, body, CASSO_SAMPLE_TIME + timedelta(seconds=3))
    # It is Casso's "test webhook" delivery (id 0): acknowledged, no notification.
    assert feed.parse(json.dumps(CASSO_SAMPLE).encode()) == []
    changed = {**CASSO_SAMPLE, "data": {**CASSO_SAMPLE["data"], "amount": 599001}}
    failure = rejected(feed.authenticate, headers, json.dumps(changed).encode(), CASSO_SAMPLE_TIME)
    assert failure.status == 401


def test_casso_signature_covers_the_json_with_keys_sorted_recursively_and_no_spaces() -> None:
    payload = {"error": 0, "data": casso_item()}
    t = str(int(NOW.timestamp() * 1000))
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hmac.new(CASSO_SECRET.encode(), f"{t}.{canonical}".encode(), hashlib.sha512).hexdigest()
    feed = CassoFeed(secret=CASSO_SECRET)
    feed.authenticate({"x-casso-signature": f"t={t},v1={digest}"}, body_of(payload), NOW)
    assert feed.signed_headers(body_of(payload), NOW) == {"X-Casso-Signature": f"t={t},v1={digest}"}


def test_casso_accepts_php_style_escaping_of_vietnamese_text() -> None:
    """Casso's PHP sample signs json_encode output: \\uXXXX escapes and escaped slashes."""
    payload = {"error": 0, "data": casso_item(description="Thanh toán đơn CS7K2M9QX4X/11")}
    t = str(int(NOW.timestamp() * 1000))
    php = json.dumps(payload, sort_keys=True, separators=(",", ":")).replace("/", "\\/")
    assert "\\u0111" in php and "\\/" in php
    digest = hmac.new(CASSO_SECRET.encode(), f"{t}.{php}".encode(), hashlib.sha512).hexdigest()
    CassoFeed(secret=CASSO_SECRET).authenticate(
        {"X-Casso-Signature": f"t={t},v1={digest}"}, body_of(payload), NOW
    )


@pytest.mark.parametrize(
    "header",
    [
        "",
        "t=1,v1=",
        "v1=" + "0" * 128,
        "t=abc,v1=" + "0" * 128,
        "t=1727948258788,v1=" + "g" * 128,
        "t=1727948258788,v1=" + "0" * 64,
        "t=1727948258788;v1=" + "0" * 128,
    ],
)
def test_casso_refuses_malformed_signature_headers(header: str) -> None:
    failure = rejected(CassoFeed(secret=CASSO_SECRET).authenticate, {"X-Casso-Signature": header}, b"{}", NOW)
    assert failure.status == 401


def test_casso_refuses_a_stale_or_future_timestamp_and_a_wrong_secret() -> None:
    feed = CassoFeed(secret=CASSO_SECRET)
    body = body_of({"error": 0, "data": casso_item()})
    for drift in (timedelta(minutes=5, milliseconds=1), -timedelta(minutes=5, milliseconds=1)):
        failure = rejected(feed.authenticate, feed.signed_headers(body, NOW + drift), body, NOW)
        assert failure.status == 401
    feed.authenticate(feed.signed_headers(body, NOW - timedelta(minutes=4)), body, NOW)
    other = CassoFeed(secret="not-the-secret").signed_headers(body, NOW)
    assert rejected(feed.authenticate, other, body, NOW).status == 401


# --- Casso: content ----------------------------------------------------------------------------


def test_casso_reads_one_transaction_or_a_list() -> None:
    feed = CassoFeed(secret=CASSO_SECRET)
    [notice] = feed.parse(body_of({"error": 0, "data": casso_item()}))
    assert notice == BankNotification(
        source="casso",
        external_id="1234567",
        account_number="0011001234567",
        bank_hint="Vietcombank",
        amount_vnd=150000,
        direction="in",
        memo="NGUYEN VAN A chuyển tiền CS7K2M9QX4X",
        occurred_at=datetime(2026, 11, 26, 7, 2, 37, tzinfo=UTC),
        bank_reference="FT26330123456",
        payer_name="NGUYỄN VĂN A",
    )
    many = feed.parse(body_of({"error": 0, "data": [casso_item(), casso_item(id=7, amount=-20000)]}))
    assert [(n.external_id, n.direction, n.amount_vnd) for n in many] == [
        ("1234567", "in", 150000),
        ("7", "out", 20000),
    ]
    assert feed.parse(body_of({"error": 0, "data": []})) == []


def test_casso_names_the_failing_field_inside_a_list() -> None:
    feed = CassoFeed(secret=CASSO_SECRET)
    failure = rejected(feed.parse, body_of({"error": 0, "data": [casso_item(), casso_item(amount=1.5)]}))
    assert (failure.status, failure.field) == (422, "data[1].amount")
    failure = rejected(feed.parse, body_of({"error": 0, "data": [casso_item(), "x"]}))
    assert failure.field == "data[1]"


@pytest.mark.parametrize("amount", [0, "150000", 150000.0, False, MAX_AMOUNT_VND + 1, -(MAX_AMOUNT_VND + 1)])
def test_casso_refuses_bad_amounts(amount: Any) -> None:
    failure = rejected(
        CassoFeed(secret=CASSO_SECRET).parse, body_of({"error": 0, "data": casso_item(amount=amount)})
    )
    assert (failure.status, failure.field) == (422, "data.amount")


@pytest.mark.parametrize("field", ["id", "amount", "accountNumber", "transactionDateTime"])
def test_casso_names_a_missing_field(field: str) -> None:
    item = casso_item()
    del item[field]
    failure = rejected(CassoFeed(secret=CASSO_SECRET).parse, body_of({"error": 0, "data": item}))
    assert (failure.status, failure.field) == (422, f"data.{field}")


def test_casso_refuses_error_envelopes_missing_data_and_oversized_batches() -> None:
    feed = CassoFeed(secret=CASSO_SECRET)
    assert rejected(feed.parse, body_of({"error": 1, "data": casso_item()})).field == "error"
    assert rejected(feed.parse, body_of({"error": "0", "data": casso_item()})).field == "error"
    assert rejected(feed.parse, body_of({"error": 0})).field == "data"
    batch = [casso_item(id=i) for i in range(1, 102)]
    assert rejected(feed.parse, body_of({"error": 0, "data": batch})).field == "data"


# --- properties --------------------------------------------------------------------------------

FEEDS = [
    SePayFeed(mode="hmac", secret=SECRET),
    SePayFeed(mode="apikey", secret=SECRET),
    CassoFeed(secret=CASSO_SECRET),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
SEPAY_KEYS = list(sepay_payload())
CASSO_KEYS = list(casso_item())
near_sepay = st.fixed_dictionaries(
    {}, optional={key: json_values | st.just(sepay_payload()[key]) for key in SEPAY_KEYS}
)
near_casso_item = st.fixed_dictionaries(
    {}, optional={key: json_values | st.just(casso_item()[key]) for key in CASSO_KEYS}
)
near_casso = st.fixed_dictionaries(
    {"data": near_casso_item | st.lists(near_casso_item, max_size=3) | json_values},
    optional={"error": st.just(0) | json_values},
)
headers = st.dictionaries(
    st.sampled_from(["X-SePay-Signature", "X-SePay-Timestamp", "Authorization", "X-Casso-Signature", "x"]),
    st.text(max_size=200),
)


def outcome(feed: Any, body: bytes, head: dict[str, str]) -> None:
    """Any outcome but an exception other than FeedRejected; results satisfy every invariant."""
    try:
        notices = feed.parse(body)
    except FeedRejected as failure:
        assert failure.status == 422
    else:
        for notice in notices:
            assert_valid(notice)
            assert notice.source == feed.source
    try:
        feed.authenticate(head, body, NOW)
    except FeedRejected as failure:
        assert failure.status in (401, 422)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300), head=headers)
def test_fuzz_arbitrary_bytes(body: bytes, head: dict[str, str]) -> None:
    for feed in FEEDS:
        outcome(feed, body, head)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values | near_sepay | near_casso, head=headers)
def test_fuzz_arbitrary_json(payload: Any, head: dict[str, str]) -> None:
    for feed in FEEDS:
        outcome(feed, json.dumps(payload).encode(), head)
        outcome(feed, json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass"), head)


notifications = st.builds(
    BankNotification,
    source=st.just("?"),
    external_id=st.integers(1, 10**12).map(str)
    | st.from_regex(r"[A-Za-z0-9._:\-]{1,64}", fullmatch=True).filter(lambda text: text != "0"),
    account_number=st.from_regex(r"[0-9]{1,32}", fullmatch=True),
    bank_hint=st.sampled_from(["", "Vietcombank", "MBBank", "Ngân hàng TMCP Á Châu"]),
    amount_vnd=st.integers(1, MAX_AMOUNT_VND),
    direction=st.sampled_from(["in", "out"]),
    memo=st.text(st.characters(categories=["L", "N", "P", "Zs"]), max_size=MEMO_KEPT).map(
        lambda text: unicodedata.normalize("NFC", " ".join(text.split()))[:MEMO_KEPT].strip()
    ),
    occurred_at=st.datetimes(datetime(2001, 1, 1), datetime(2099, 1, 1)).map(
        lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
    ),
    bank_reference=st.from_regex(r"[A-Z0-9.]{0,20}", fullmatch=True),
    payer_name=st.sampled_from(["", "NGUYỄN VĂN A", "Trần Thị Bích"]),
)


@settings(max_examples=200)
@given(notice=notifications)
@example(  # a long run of digits: sent as a JSON number it would be too large to read back
    notice=BankNotification(
        source="?",
        external_id="9" * 25,
        account_number="0123456789",
        bank_hint="",
        amount_vnd=50_000,
        direction="in",
        memo="CS12345 thanh toan",
        occurred_at=NOW.replace(microsecond=0),
        bank_reference="",
        payer_name="",
    )
)
def test_encode_then_sign_then_read_gives_the_same_notification(notice: BankNotification) -> None:
    for feed in FEEDS:
        expected = BankNotification(
            **{
                **notice.__dict__,
                "source": feed.source,
                "payer_name": notice.payer_name if feed.source == "casso" else "",
            }
        )
        body = feed.encode(expected)
        feed.authenticate(feed.signed_headers(body, NOW), body, NOW)
        assert feed.parse(body) == [expected]
