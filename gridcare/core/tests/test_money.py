"""Money helpers (core.money): Decimal yuan with 2 places, integer fen, never float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.money import fen_to_yuan, format_rmb, to_yuan, yuan_to_fen

fens = st.integers(min_value=-(10**15), max_value=10**15)


@given(fens)
def test_fen_to_yuan_to_fen_round_trips(fen: int) -> None:
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(fens)
def test_fen_to_yuan_has_exactly_two_places(fen: int) -> None:
    yuan = fen_to_yuan(fen)
    assert yuan.as_tuple().exponent == -2
    assert yuan * 100 == fen


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_yuan_to_fen_to_yuan_round_trips(yuan: Decimal) -> None:
    assert fen_to_yuan(yuan_to_fen(yuan)) == yuan


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False))
def test_to_yuan_is_within_half_a_fen(value: Decimal) -> None:
    assert abs(to_yuan(value) - value) <= Decimal("0.005")


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        ("0.005", Decimal("0.01")),
        ("0.004", Decimal("0.00")),
        ("0.015", Decimal("0.02")),
        ("0.025", Decimal("0.03")),  # half-up, not banker's rounding (which gives 0.02)
        ("-0.005", Decimal("-0.01")),  # half away from zero for negatives
        ("2.675", Decimal("2.68")),  # the classic float trap: float(2.675) rounds to 2.67
        ("1234.5", Decimal("1234.50")),
        (7, Decimal("7.00")),
        (Decimal("99.999"), Decimal("100.00")),
        (" 12.30 ", Decimal("12.30")),
    ],
)
def test_to_yuan_rounds_half_up_to_two_places(given_value: object, expected: Decimal) -> None:
    result = to_yuan(given_value)  # type: ignore[arg-type]
    assert result == expected
    assert result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [("0.005", 1), ("0.004", 0), ("-0.005", -1), ("12.345", 1235), ("100", 10000), (0, 0)],
)
def test_yuan_to_fen_rounds_half_up(given_value: object, expected: int) -> None:
    fen = yuan_to_fen(given_value)  # type: ignore[arg-type]
    assert fen == expected
    assert type(fen) is int


@pytest.mark.parametrize("func", [to_yuan, yuan_to_fen, format_rmb])
def test_float_is_refused(func: object) -> None:
    with pytest.raises(TypeError, match="float"):
        func(0.1)  # type: ignore[operator]


@pytest.mark.parametrize("value", ["abc", "", "1,000", "NaN", "Infinity", "-inf", "¥5"])
def test_non_amounts_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a money amount"):
        to_yuan(value)


@pytest.mark.parametrize("value", [1.0, "100", Decimal("1.00"), True])
def test_fen_to_yuan_takes_only_int(value: object) -> None:
    with pytest.raises(TypeError):
        fen_to_yuan(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given_value", "expected"),
    [
        (Decimal("1234.56"), "¥1,234.56"),
        ("1234567.891", "¥1,234,567.89"),
        (Decimal("-1234.56"), "-¥1,234.56"),
        ("-0.5", "-¥0.50"),
        (0, "¥0.00"),
        ("0.004", "¥0.00"),
        ("-0.004", "¥0.00"),  # rounds to zero: no "-¥0.00"
        ("0.005", "¥0.01"),
        (Decimal("999.995"), "¥1,000.00"),
    ],
)
def test_format_rmb(given_value: object, expected: str) -> None:
    assert format_rmb(given_value) == expected  # type: ignore[arg-type]


def test_format_rmb_with_another_symbol() -> None:
    assert format_rmb("1000", symbol="") == "1,000.00"
