"""Reference codes: format, check symbol strength, forgiving reading, and search in memos."""

from __future__ import annotations

import re
import string

from hypothesis import given
from hypothesis import strategies as st

from payments.reference import (
    ALPHABET,
    PREFIX,
    check_symbol,
    find_references,
    is_valid_reference,
    new_reference_code,
    normalise_reference,
)

bodies = st.text(alphabet=ALPHABET, min_size=8, max_size=8)


def code_from(body: str) -> str:
    return PREFIX + body + check_symbol(PREFIX + body)


def test_new_codes_have_the_documented_shape_and_are_valid() -> None:
    codes = {new_reference_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert re.fullmatch(r"CS[0-9A-HJKMNP-TV-Z]{9}", code)
        assert is_valid_reference(code)


def test_known_check_symbol() -> None:
    # Luhn mod 32 over C=12, S=25, 0..0: doubled from the right; worked by hand.
    assert check_symbol("CS00000000") == ALPHABET[(32 - (12 + (2 * 25) // 32 + (2 * 25) % 32)) % 32]


@given(bodies)
def test_every_single_symbol_substitution_is_rejected(body: str) -> None:
    code = code_from(body)
    for position in range(len(PREFIX), len(code)):
        for symbol in ALPHABET:
            if symbol != code[position]:
                assert not is_valid_reference(code[:position] + symbol + code[position + 1 :])


@given(bodies)
def test_neighbour_swaps_are_rejected_except_zero_and_z(body: str) -> None:
    code = code_from(body)
    for position in range(len(PREFIX), len(code) - 1):
        left, right = code[position], code[position + 1]
        if left == right:
            continue
        swapped = code[:position] + right + left + code[position + 2 :]
        assert is_valid_reference(swapped) == ({left, right} == {"0", "Z"})


def test_exhaustive_neighbour_pairs() -> None:
    """Every ordered pair of distinct symbols, at every position: only 0/Z swaps go unnoticed."""
    undetected = set()
    base = "7K2M9QX4"
    for position in range(len(base) - 1):
        for left in ALPHABET:
            for right in ALPHABET:
                if left == right:
                    continue
                body = base[:position] + left + right + base[position + 2 :]
                code = code_from(body)
                swapped = code[: position + 2] + right + left + code[position + 4 :]
                if is_valid_reference(swapped):
                    undetected.add(frozenset((left, right)))
    assert undetected == {frozenset({"0", "Z"})}


@given(bodies, st.lists(st.sampled_from([" ", "-", ".", "\n", "\r\n", "_"]), min_size=10, max_size=10))
def test_normalise_survives_case_and_separators(body: str, separators: list[str]) -> None:
    code = code_from(body)
    messy = "".join(char + sep for char, sep in zip(code.lower(), separators, strict=False)) + code[-1]
    assert normalise_reference(messy) == code
    assert normalise_reference(code) == code


def test_normalise_examples() -> None:
    code = code_from("7K2M9QX4")
    spaced = f"{code[:2].lower()} {code[2:6].lower()}-{code[6:10].lower()} {code[10].lower()}"
    assert normalise_reference(spaced) == code
    assert normalise_reference("") is None
    assert normalise_reference(code[:-1]) is None
    assert normalise_reference(code + "0") is None


def test_crockford_aliases_are_decoded() -> None:
    code = code_from("1100A0B1")
    assert normalise_reference(code.replace("1", "I").replace("0", "O")) == code
    assert normalise_reference(code.replace("1", "l")) == code
    assert find_references(f"ck {code.replace('0', 'O')} cam on") == [code]


def test_letter_u_is_never_a_symbol() -> None:
    assert "U" not in ALPHABET
    code = code_from("V0000000")
    assert normalise_reference("CSU" + code[3:]) is None


def test_is_valid_only_accepts_the_canonical_form() -> None:
    code = code_from("ABCDEFGH")
    assert is_valid_reference(code)
    assert not is_valid_reference(code.lower())
    assert not is_valid_reference(f" {code}")
    assert not is_valid_reference(code[:6] + "-" + code[6:])


def test_find_in_messy_vietnamese_memos() -> None:
    first, second = code_from("7K2M9QX4"), code_from("0011ZZ9A")
    assert find_references(f"MBVCB.3278907687.{first}.NGUYEN VAN AN chuyen khoan") == [first]
    assert find_references(f"IBFT {first[:5].lower()} {first[5:].lower()} Thanh toán học phí") == [first]
    assert find_references(f"ND: {first[:4]}\n{first[4:]}") == [first]
    assert find_references(first + second) == [first, second]
    assert find_references(f"{second} {first} {first}") == [second, first]
    assert first in find_references(f"CSCS{first}")


def test_truncated_or_typod_codes_are_not_found() -> None:
    code = code_from("7K2M9QX4")
    typo = code[:5] + ("A" if code[5] != "A" else "B") + code[6:]
    assert find_references(f"CK {code[:-1]}") == []
    assert find_references(f"CK {typo} ") == []


@given(st.text(alphabet=string.ascii_letters + string.digits + " .-\n", max_size=80), bodies)
def test_a_code_embedded_in_any_text_is_found(noise: str, body: str) -> None:
    code = code_from(body)
    assert code in find_references(f"{noise} {code} {noise}")


@given(st.text(max_size=200))
def test_every_found_reference_is_valid(memo: str) -> None:
    for code in find_references(memo):
        assert is_valid_reference(code)
