"""Checksums and masking of Chinese identity numbers (core.engine.ids). No database."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gridcare.core.engine.ids import (
    USCC_ALPHABET,
    id_check_char,
    id_number_problem,
    is_valid_id_number,
    is_valid_mobile,
    is_valid_uscc,
    mask_id_number,
    mask_mobile,
    uscc_check_char,
    uscc_problem,
)

# --- 居民身份证号码 (GB 11643-1999) -------------------------------------------------------

# The worked example of GB 11643-1999 itself: its check character is X.
STANDARD_EXAMPLE = "11010519491231002X"


def test_standard_example_is_valid_with_check_char_x() -> None:
    assert id_check_char(STANDARD_EXAMPLE[:17]) == "X"
    assert id_number_problem(STANDARD_EXAMPLE) is None
    assert is_valid_id_number(STANDARD_EXAMPLE)


def test_lowercase_x_and_surrounding_spaces_are_accepted() -> None:
    assert is_valid_id_number(" 11010519491231002x ")


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010119900307447", "7"),
        ("33010219800101001", "8"),
        ("44030419951231123", "8"),
    ],
)
def test_id_check_char_of_known_numbers(first17: str, check: str) -> None:
    assert id_check_char(first17) == check
    assert is_valid_id_number(first17 + check)


def test_wrong_checksum_is_reported_as_checksum() -> None:
    given_number = "110101199003074478"  # valid ends in 7
    assert id_number_problem(given_number) == "checksum"
    assert not is_valid_id_number(given_number)


def test_x_where_a_digit_is_due_is_a_checksum_error() -> None:
    assert id_number_problem("11010119900307447X") == "checksum"


def test_impossible_birth_date_is_reported_as_birth_date() -> None:
    # 1999-02-30 does not exist; the check character is right for the 17 digits.
    first17 = "11010119990230123"
    assert id_number_problem(first17 + id_check_char(first17)) == "birth_date"


def test_birth_before_1900_is_refused() -> None:
    first17 = "44052418800101001"
    assert id_number_problem(first17 + id_check_char(first17)) == "birth_date"


def test_birth_in_the_future_is_refused_when_today_is_given() -> None:
    first17 = "11010120300101001"
    number = first17 + id_check_char(first17)
    assert id_number_problem(number, today=dt.date(2026, 1, 1)) == "birth_date"
    assert id_number_problem(number, today=dt.date(2030, 1, 1)) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "11010119900307447",  # 17 characters
        "1101011990030744777",  # 19 characters
        "110101900307447",  # old 15-digit numbers are not accepted
        "11010119900307447A",  # check character other than a digit or X
        "1101011990030744X7",  # X only in the last place
        "11010119900307447７",  # full-width digit
        "１10101199003074477",  # full-width digit that int() would accept: refused
        "١١٠١٠١١٩٩٠٠٣٠٧٤٤٧٧",  # Arabic-Indic digits
    ],
)
def test_malformed_numbers_are_reported_as_format(value: str) -> None:
    assert id_number_problem(value) == "format"
    assert not is_valid_id_number(value)


@st.composite
def id_first17(draw: st.DrawFn) -> str:
    region = draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)))
    serial = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    return f"{region}{born:%Y%m%d}{serial}"


@given(id_first17())
def test_any_17_digits_with_a_valid_date_plus_check_char_are_valid(first17: str) -> None:
    assert is_valid_id_number(first17 + id_check_char(first17))


@given(id_first17(), st.integers(min_value=0, max_value=16), st.integers(min_value=1, max_value=9))
def test_changing_any_single_digit_makes_the_number_invalid(first17: str, position: int, delta: int) -> None:
    # Given a valid number
    number = first17 + id_check_char(first17)
    # When one of the first 17 digits changes
    changed_digit = str((int(number[position]) + delta) % 10)
    changed = number[:position] + changed_digit + number[position + 1 :]
    # Then the number is invalid: MOD 11-2 catches every single-digit error
    assert not is_valid_id_number(changed)


@given(id_first17(), st.sampled_from("0123456789X"))
def test_changing_the_check_character_makes_the_number_invalid(first17: str, other: str) -> None:
    assume(other != id_check_char(first17))
    assert id_number_problem(first17 + other) == "checksum"


# --- 统一社会信用代码 (GB 32100-2015) ------------------------------------------------------

# Codes printed on public business licences.
PUBLISHED_USCC = ["91110108551385082Q", "9144030071526726XG"]


@pytest.mark.parametrize("code", PUBLISHED_USCC)
def test_published_credit_codes_are_valid(code: str) -> None:
    assert uscc_check_char(code[:17]) == code[17]
    assert uscc_problem(code) is None
    assert is_valid_uscc(code)


def test_computed_credit_code_is_valid() -> None:
    first17 = "91110000100000000"
    assert uscc_check_char(first17) == "R"
    assert is_valid_uscc(first17 + "R")


def test_lowercase_credit_code_is_accepted() -> None:
    assert is_valid_uscc("91110108551385082q")


def test_wrong_check_char_is_reported_as_checksum() -> None:
    assert uscc_problem("91110108551385082R") == "checksum"


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V"])
def test_letters_outside_the_alphabet_are_refused(bad: str) -> None:
    # Given a code with a letter GB 32100 leaves out in the organisation part
    code = "91110108" + bad + "51385082Q"
    # Then it is malformed whatever the check character
    assert uscc_problem(code) == "format"
    assert not is_valid_uscc(code)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "91110108551385082",  # 17 characters
        "91110108551385082QQ",  # 19 characters
        "911101A8551385082Q",  # the region code (positions 3-8) is digits only
    ],
)
def test_malformed_credit_codes_are_reported_as_format(value: str) -> None:
    assert uscc_problem(value) == "format"


@given(
    st.text(alphabet=USCC_ALPHABET, min_size=2, max_size=2),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
)
def test_any_code_with_its_check_char_is_valid(head: str, region: str, org: str) -> None:
    first17 = head + region + org
    assert is_valid_uscc(first17 + uscc_check_char(first17))


# --- 手机号码 ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["13800138000", "19912345678", "15000000000", " 13800138000 "])
def test_valid_mobiles(value: str) -> None:
    assert is_valid_mobile(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1380013800",
        "138001380000",
        "12800138000",
        "23800138000",
        "1380013800a",
        "+8613800138000",
        "１3800138000",  # full-width digit
    ],
)
def test_invalid_mobiles(value: str) -> None:
    assert not is_valid_mobile(value)


# --- masking -----------------------------------------------------------------------


def test_mask_id_number_shows_first_three_and_last_four() -> None:
    assert mask_id_number(STANDARD_EXAMPLE) == "110***********002X"


def test_mask_credit_code_keeps_length() -> None:
    assert mask_id_number("91110108551385082Q") == "911***********082Q"


def test_mask_short_value_hides_everything() -> None:
    assert mask_id_number("1234567") == "*******"


def test_mask_mobile() -> None:
    assert mask_mobile("13800138000") == "138****8000"


def test_mask_mobile_leaves_non_mobiles_alone() -> None:
    assert mask_mobile("0571-8888") == "0571-8888"


@given(id_first17())
def test_masked_id_number_hides_the_birth_date(first17: str) -> None:
    number = first17 + id_check_char(first17)
    masked = mask_id_number(number)
    assert len(masked) == 18
    assert masked[:3] == number[:3]
    assert masked[-4:] == number[-4:]
    assert set(masked[3:14]) == {"*"}


# --- the test-data factories make numbers that pass these checks --------------------


@given(st.integers(min_value=0, max_value=10**7 - 1))
def test_factory_id_numbers_are_valid(n: int) -> None:
    from gridcare.core.tests.factories import valid_id_number, valid_mobile, valid_uscc

    assert is_valid_id_number(valid_id_number(n))
    assert is_valid_uscc(valid_uscc(n))
    assert is_valid_mobile(valid_mobile(n))


@pytest.mark.django_db
def test_factory_customers_carry_valid_and_distinct_identities() -> None:
    from gridcare.customers.tests.factories import ContractFactory, OrganisationFactory

    contracts = ContractFactory.create_batch(3)
    people = [c.account.customer for c in contracts]
    org = OrganisationFactory()
    assert all(is_valid_id_number(p.id_number or "") for p in people)
    assert all(p.id_tail == (p.id_number or "")[-6:] for p in people)
    assert len({p.id_number for p in people}) == 3
    assert org.id_number is None
    assert is_valid_uscc(org.credit_code or "")
    assert all(is_valid_mobile(c.mobile) for c in [*people, org])
