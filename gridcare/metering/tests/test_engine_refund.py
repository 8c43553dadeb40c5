"""The pure 退补 rules (engine/refund.py): tolerance decision and the 第八十条 half period.

No database: plain values in, plain values out.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.metering.engine.refund import (
    BACK_BILL,
    REFUND,
    refund_base_date,
    refund_period,
    tolerance_decision,
)

dates = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))
tolerances = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5.00"), places=2)
errors = st.decimals(min_value=Decimal("-99.99"), max_value=Decimal("99.99"), places=2)


# --- the period ---------------------------------------------------------------------------


def test_period_is_half_the_span_ending_on_the_test_date() -> None:
    # given a meter last verified on 2024-01-01 and tested on 2026-01-01 (731 days later)
    # when the period is computed
    period = refund_period(base=dt.date(2024, 1, 1), corrected_on=dt.date(2026, 1, 1))
    # then it reaches back floor(731 / 2) = 365 days
    assert period.start == dt.date(2025, 1, 1)
    assert period.end == dt.date(2026, 1, 1)
    assert period.days == 365
    assert period.base == dt.date(2024, 1, 1)


def test_period_of_a_meter_tested_on_its_base_day_is_that_day() -> None:
    period = refund_period(base=dt.date(2026, 3, 1), corrected_on=dt.date(2026, 3, 1))
    assert (period.start, period.end, period.days) == (dt.date(2026, 3, 1), dt.date(2026, 3, 1), 0)


def test_period_refuses_a_test_before_the_base_date() -> None:
    with pytest.raises(ValueError, match="before the last verification"):
        refund_period(base=dt.date(2026, 3, 2), corrected_on=dt.date(2026, 3, 1))


@given(base=dates, span=st.integers(min_value=0, max_value=20_000))
def test_period_length_is_floor_half_and_stays_after_the_base(base: dt.date, span: int) -> None:
    corrected = base + dt.timedelta(days=span)
    period = refund_period(base=base, corrected_on=corrected)
    assert period.days == span // 2
    assert period.end == corrected
    assert base <= period.start <= period.end
    # the other half (base .. start) is at least as long as the refunded half
    assert (period.start - base).days >= period.days


def test_base_date_is_the_later_of_verification_and_installation() -> None:
    made = dt.date(2018, 5, 1)
    assert refund_base_date(
        manufactured_on=made, last_verified_on=dt.date(2019, 1, 1), installed_on=dt.date(2020, 6, 1)
    ) == dt.date(2020, 6, 1)
    assert refund_base_date(
        manufactured_on=made, last_verified_on=dt.date(2021, 1, 1), installed_on=dt.date(2020, 6, 1)
    ) == dt.date(2021, 1, 1)
    assert refund_base_date(manufactured_on=made, last_verified_on=None, installed_on=None) == made
    assert refund_base_date(
        manufactured_on=made, last_verified_on=None, installed_on=dt.date(2020, 6, 1)
    ) == dt.date(2020, 6, 1)


# --- the tolerance decision ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "within", "direction"),
    [
        (Decimal("0.00"), True, None),
        (Decimal("2.00"), True, None),  # exactly at the limit: within
        (Decimal("-2.00"), True, None),
        (Decimal("2.01"), False, REFUND),  # ran fast: the customer paid too much
        (Decimal("-2.01"), False, BACK_BILL),  # ran slow: the customer paid too little
    ],
)
def test_decision_for_a_class_2_meter(error: Decimal, within: bool, direction: str | None) -> None:
    decision = tolerance_decision(error_pct=error, tolerance_pct=Decimal("2.00"))
    assert decision.within_tolerance is within
    assert decision.direction == direction
    assert decision.error_pct == error
    assert decision.tolerance_pct == Decimal("2.00")


@given(tolerance=tolerances, negative=st.booleans())
def test_an_error_exactly_at_the_tolerance_is_within(tolerance: Decimal, negative: bool) -> None:
    error = -tolerance if negative else tolerance
    decision = tolerance_decision(error_pct=error, tolerance_pct=tolerance)
    assert decision.within_tolerance is True
    assert decision.direction is None


@given(error=errors, tolerance=tolerances)
def test_decision_matches_the_absolute_error_and_its_sign(error: Decimal, tolerance: Decimal) -> None:
    decision = tolerance_decision(error_pct=error, tolerance_pct=tolerance)
    assert decision.within_tolerance is (abs(error) <= tolerance)
    if decision.within_tolerance:
        assert decision.direction is None
    else:
        assert decision.direction == (REFUND if error > 0 else BACK_BILL)


def test_direction_values_are_the_adjustment_choices() -> None:
    from gridcare.metering.choices import AdjustmentDirection

    assert {REFUND, BACK_BILL} == set(AdjustmentDirection.values)


@pytest.mark.parametrize(
    ("error", "tolerance", "exc"),
    [
        (Decimal("1"), Decimal("0"), ValueError),
        (Decimal("1"), Decimal("-1"), ValueError),
        (Decimal("NaN"), Decimal("1"), ValueError),
        (1.5, Decimal("1"), TypeError),
    ],
)
def test_decision_refuses_bad_input(error: object, tolerance: Decimal, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        tolerance_decision(error_pct=error, tolerance_pct=tolerance)  # type: ignore[arg-type]
