"""Estimating readings (engine.estimate, no database)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.metering.engine.estimate import (
    estimate_missing,
    estimate_runs,
    interpolate,
    interpolate_gaps,
    interpolate_runs,
    is_rollover,
    register_range,
    run_days,
)

D0 = dt.date(2026, 1, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def readings(meter_id: int, register: str, values: dict[int, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": [meter_id] * len(values),
            "register": [register] * len(values),
            "day": [day(n) for n in values],
            "value_milli": list(values.values()),
        },
        schema={"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "value_milli": pl.Int64},
    )


# interpolate ----------------------------------------------------------------------------


def test_interpolate_rounds_down_along_the_line():
    # given 100.000 on day 0 and 101.000 on day 3
    # when days 1 and 2 are interpolated
    values = interpolate(day(0), 100_000, day(3), 101_000, [day(1), day(2)])

    # then each is on the straight line, rounded down to a milli
    assert values == [100_333, 100_666]


def test_interpolate_with_no_consumption_repeats_the_value():
    assert interpolate(day(0), 5_000, day(4), 5_000, [day(1), day(2), day(3)]) == [5_000, 5_000, 5_000]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((day(0), 100, day(0), 200, []), "is not after"),
        ((day(0), 200, day(2), 100, [day(1)]), "goes backwards"),
        ((day(0), 100, day(2), 200, [day(2)]), "is not between"),
        ((day(0), 100, day(2), 200, [day(0)]), "is not between"),
    ],
)
def test_interpolate_refuses_impossible_requests(args, message):
    with pytest.raises(ValueError, match=message):
        interpolate(*args)


@settings(max_examples=200, deadline=None)
@given(
    prev_milli=st.integers(min_value=0, max_value=10**13),
    delta=st.integers(min_value=0, max_value=10**9),
    span=st.integers(min_value=2, max_value=400),
)
def test_interpolation_is_monotone_between_the_neighbours(prev_milli, delta, span):
    days = [day(i) for i in range(1, span)]

    values = interpolate(day(0), prev_milli, day(span), prev_milli + delta, days)

    assert values == sorted(values)
    assert all(prev_milli <= v <= prev_milli + delta for v in values)
    if delta >= span:  # enough consumption for every day to move the register
        assert all(prev_milli < v < prev_milli + delta for v in values)


@settings(max_examples=100, deadline=None)
@given(
    prev_milli=st.integers(min_value=0, max_value=10**12),
    delta=st.integers(min_value=0, max_value=10**8),
    span=st.integers(min_value=2, max_value=40),
)
def test_vectorised_interpolation_equals_the_scalar_one(prev_milli, delta, span):
    gaps = pl.DataFrame(
        {
            "meter_id": [7],
            "register": ["total"],
            "prev_day": [day(0)],
            "prev_milli": [prev_milli],
            "next_day": [day(span)],
            "next_milli": [prev_milli + delta],
        }
    )

    frame = interpolate_gaps(gaps)

    assert frame["day"].to_list() == [day(i) for i in range(1, span)]
    assert frame["value_milli"].to_list() == interpolate(
        day(0), prev_milli, day(span), prev_milli + delta, [day(i) for i in range(1, span)]
    )


def test_interpolate_gaps_handles_several_gaps_and_wraps_by_the_modulus():
    gaps = pl.DataFrame(
        {
            "meter_id": [1, 2],
            "register": ["total", "peak"],
            "prev_day": [day(0), day(5)],
            "prev_milli": [999_999_000, 10_000],
            "next_day": [day(3), day(7)],
            "next_milli": [1_000_002_000, 12_000],
            "modulus": [1_000_000_000, None],
        }
    )

    assert interpolate_gaps(gaps).rows() == [
        (1, "total", day(1), 0),
        (1, "total", day(2), 1_000),
        (2, "peak", day(6), 11_000),
    ]


def test_interpolate_gaps_of_nothing_is_empty():
    empty = pl.DataFrame(
        schema={
            "meter_id": pl.Int64,
            "register": pl.String,
            "prev_day": pl.Date,
            "prev_milli": pl.Int64,
            "next_day": pl.Date,
            "next_milli": pl.Int64,
        }
    )

    assert interpolate_gaps(empty).is_empty()


# estimate_missing -----------------------------------------------------------------------


def test_estimate_between_two_readings_interpolates():
    series = readings(1, "total", {0: 100_000, 1: 110_000, 5: 150_000})

    result = estimate_missing(series, 1, "total", day(2), day(4))

    assert result.rows() == [
        (1, "total", day(2), 120_000),
        (1, "total", day(3), 130_000),
        (1, "total", day(4), 140_000),
    ]


def test_estimate_replaces_readings_inside_the_span():
    # given a bad reading on day 2 (the clerk estimates it away)
    series = readings(1, "total", {1: 110_000, 2: 90_000, 3: 130_000})

    result = estimate_missing(series, 1, "total", day(2), day(2))

    assert result.rows() == [(1, "total", day(2), 120_000)]


def test_estimate_after_the_last_reading_extends_the_recent_average():
    # given 28 days averaging 3.5 kWh a day (3 and 4 alternating) before the span
    values = {0: 0}
    for n in range(1, 29):
        values[n] = values[n - 1] + (3_000 if n % 2 else 4_000)
    series = readings(1, "total", values)

    result = estimate_missing(series, 1, "total", day(29), day(31))

    assert result["value_milli"].to_list() == [98_000 + 3_500, 98_000 + 7_000, 98_000 + 10_500]


def test_profile_uses_only_the_last_profile_days():
    # given 10 kWh/day long ago and 1 kWh/day over the last 7 days
    values = {n: n * 10_000 for n in range(0, 21)}
    values.update({20 + n: 200_000 + n * 1_000 for n in range(0, 8)})
    series = readings(1, "total", values)

    result = estimate_missing(series, 1, "total", day(28), day(28), profile_days=7)

    assert result["value_milli"].to_list() == [208_000]


def test_profile_estimate_never_goes_below_the_previous_value():
    # given a history that only goes down (a bad meter): no forward consumption to use
    series = readings(1, "total", {0: 50_000, 1: 40_000, 2: 30_000})

    result = estimate_missing(series, 1, "total", day(3), day(4))

    assert result["value_milli"].to_list() == [30_000, 30_000]


def test_estimate_before_the_first_reading_counts_back_from_the_next():
    series = readings(1, "total", {3: 10_000, 4: 12_000, 5: 14_000})

    result = estimate_missing(series, 1, "total", day(0), day(2))

    assert result.rows() == [
        (1, "total", day(0), 4_000),
        (1, "total", day(1), 6_000),
        (1, "total", day(2), 8_000),
    ]


def test_estimate_counting_back_never_goes_below_zero():
    series = readings(1, "total", {3: 1_000, 4: 2_000})

    result = estimate_missing(series, 1, "total", day(0), day(2))

    assert result["value_milli"].to_list() == [0, 0, 0]


def test_estimate_across_a_backward_step_extends_the_previous_value():
    # given a register that went back across the span (rollover or bad read)
    series = readings(1, "total", {0: 100_000, 1: 101_000, 2: 102_000, 5: 500})

    result = estimate_missing(series, 1, "total", day(3), day(4))

    assert result["value_milli"].to_list() == [103_000, 104_000]


def test_estimate_across_a_rollover_interpolates_on_the_unwrapped_register():
    # given a 6-digit register at 999,950 on day 10 and 10 after rolling over on day 16
    series = readings(1, "total", {9: 999_930_000, 10: 999_950_000, 16: 10_000})

    # when days 11–15 are estimated
    result = estimate_missing(series, 1, "total", day(11), day(15), digits=6)

    # then 60 kWh over 6 days, 10 a day, wrapping at 10**6
    assert result["value_milli"].to_list() == [999_960_000, 999_970_000, 999_980_000, 999_990_000, 0]


def test_estimate_across_a_backward_step_that_is_no_rollover_extends_and_wraps():
    # given 20 kWh a day up to 999,990 and then a reading far below (a bad read, not a rollover)
    series = readings(1, "total", {0: 999_970_000, 1: 999_990_000, 4: 500_000_000})

    result = estimate_missing(series, 1, "total", day(2), day(3), digits=6)

    # then the register goes on at its own rate and reads 0 again after 999,999.999
    assert result["value_milli"].to_list() == [10_000, 30_000]


def test_estimate_after_the_last_reading_wraps_at_the_register_range():
    series = readings(1, "total", {0: 9_980_000, 1: 9_990_000})

    result = estimate_missing(series, 1, "total", day(2), day(3), digits=4)

    assert result["value_milli"].to_list() == [0, 10_000]


@settings(max_examples=200, deadline=None)
@given(
    digits=st.integers(min_value=4, max_value=10),
    prev_per_mille=st.integers(min_value=900, max_value=999),
    next_per_mille=st.integers(min_value=0, max_value=100),
    span=st.integers(min_value=2, max_value=30),
)
def test_estimate_action_across_a_rollover_equals_the_automatic_interpolation(
    digits, prev_per_mille, next_per_mille, span
):
    # given a reading at 90–99.9 % of the range and one after a rollover (at most 10 %)
    modulus = register_range(digits)
    prev_milli = modulus * prev_per_mille // 1000
    next_milli = modulus * next_per_mille // 1000
    assert is_rollover(prev_milli, next_milli, modulus)
    series = readings(1, "total", {0: prev_milli, span: next_milli})

    # when the clerk estimates the days between them
    result = estimate_missing(series, 1, "total", day(1), day(span - 1), digits=digits)

    # then the values are VEE's own interpolation across the rollover, inside the range
    gaps = pl.DataFrame(
        {
            "meter_id": [1],
            "register": ["total"],
            "prev_day": [day(0)],
            "prev_milli": [prev_milli],
            "next_day": [day(span)],
            "next_milli": [next_milli + modulus],
            "modulus": [modulus],
        }
    )
    assert result["value_milli"].to_list() == interpolate_gaps(gaps)["value_milli"].to_list()
    assert all(0 <= v < modulus for v in result["value_milli"])


@settings(max_examples=200, deadline=None)
@given(
    digits=st.integers(min_value=1, max_value=10),
    previous=st.integers(min_value=0, max_value=10**13),
    value=st.integers(min_value=0, max_value=10**13),
)
def test_rollover_rule_is_the_same_on_integers_and_on_expressions(digits, previous, value):
    modulus = register_range(digits)
    previous, value = previous % modulus, value % modulus

    as_expr = pl.select(is_rollover(pl.lit(previous), pl.lit(value), pl.lit(modulus))).item()

    assert is_rollover(previous, value, modulus) == as_expr
    assert as_expr == (value < previous and previous * 10 >= modulus * 9 and value * 10 <= modulus)


def test_estimate_only_looks_at_its_own_meter_and_register():
    series = pl.concat(
        [
            readings(1, "total", {0: 100_000, 2: 120_000}),
            readings(1, "peak", {0: 0, 2: 999_000}),
            readings(2, "total", {1: 5}),
        ]
    )

    assert estimate_missing(series, 1, "total", day(1), day(1)).rows() == [(1, "total", day(1), 110_000)]


def test_estimate_without_any_reading_is_refused():
    series = readings(1, "total", {5: 1_000})

    with pytest.raises(ValueError, match="no readings"):
        estimate_missing(series, 2, "total", day(1), day(2))
    with pytest.raises(ValueError, match="no readings"):
        estimate_missing(series, 1, "total", day(5), day(5))


def test_estimate_with_reversed_span_is_refused():
    with pytest.raises(ValueError, match="before day_from"):
        estimate_missing(readings(1, "total", {0: 1}), 1, "total", day(3), day(2))


# estimate_runs / interpolate_runs: a back-fill inside an estimated gap ------------------------


def stored_series(meter_id: int, values: dict[int, tuple[int, str]], register: str = "total") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": [meter_id] * len(values),
            "register": [register] * len(values),
            "day": [day(n) for n in values],
            "value_milli": [v for v, _q in values.values()],
            "quality": [q for _v, q in values.values()],
        },
        schema={
            "meter_id": pl.Int64,
            "register": pl.String,
            "day": pl.Date,
            "value_milli": pl.Int64,
            "quality": pl.String,
        },
    )


def keys(*days: int, meter_id: int = 1, register: str = "total") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": [meter_id] * len(days),
            "register": [register] * len(days),
            "day": [day(n) for n in days],
        },
        schema={"meter_id": pl.Int64, "register": pl.String, "day": pl.Date},
    )


def test_runs_next_to_a_replaced_day_stop_at_another_reading_or_a_day_without_one():
    # given 1 read, 2–4 estimated, 5 back-filled, 6–7 estimated, 8 missing, 9 estimated,
    # 10 read, 12–13 estimated (a gap elsewhere) and 14 read
    series = stored_series(
        1,
        {
            1: (100, "valid"),
            2: (110, "estimated"),
            3: (120, "estimated"),
            4: (130, "estimated"),
            5: (160, "valid"),
            6: (150, "estimated"),
            7: (160, "estimated"),
            9: (180, "estimated"),
            10: (190, "edited"),
            12: (200, "estimated"),
            13: (210, "estimated"),
            14: (220, "valid"),
        },
    )

    runs = estimate_runs(series, keys(5))

    # then the two runs touching day 5, with the readings around them; day 8 ends the
    # second one (no reading that day), and the run 12–13 is not next to day 5
    assert runs.select("day_from", "day_to", "prev_day", "prev_milli", "prev_good").rows() == [
        (day(2), day(4), day(1), 100, True),
        (day(6), day(7), day(5), 160, True),
    ]
    assert runs.select("next_day", "next_milli", "next_good").rows() == [
        (day(5), 160, True),
        (None, None, False),
    ]
    assert run_days(runs)["day"].to_list() == [day(2), day(3), day(4), day(6), day(7)]


def test_runs_only_on_the_replaced_days_register_and_meter():
    series = pl.concat(
        [
            stored_series(1, {1: (10, "valid"), 2: (20, "estimated"), 3: (30, "valid")}),
            stored_series(1, {1: (5, "valid"), 2: (6, "estimated"), 3: (7, "valid")}, register="peak"),
            stored_series(2, {1: (10, "valid"), 2: (20, "estimated"), 3: (30, "valid")}),
        ]
    )

    runs = estimate_runs(series, keys(3))

    assert runs.select("meter_id", "register", "day_from").rows() == [(1, "total", day(2))]


def test_a_run_is_re_estimated_between_good_reads_only():
    # given a replaced day 5 = 160 between estimates, read 100 on day 1 and a suspect 300 on day 8
    series = stored_series(
        1,
        {
            1: (100_000, "valid"),
            2: (110_000, "estimated"),
            3: (120_000, "estimated"),
            4: (130_000, "estimated"),
            5: (160_000, "valid"),
            6: (150_000, "estimated"),
            7: (160_000, "estimated"),
            8: (300_000, "suspect"),
        },
    )
    runs = estimate_runs(series, keys(5))
    assert runs.select("prev_good", "next_good").rows() == [(True, True), (True, False)]

    estimates = interpolate_runs(runs, pl.DataFrame({"meter_id": [1], "digits": [6]}))

    # then days 2–4 follow 100 → 160; days 6–7 are next to a suspect read: left out
    assert estimates.select("day", "value_milli").rows() == [
        (day(2), 115_000),
        (day(3), 130_000),
        (day(4), 145_000),
    ]


def test_a_run_is_re_estimated_across_a_rollover_and_not_across_a_backward_step():
    # given a 6-digit register: 999,950 on day 1, estimates, 10 on day 4 (a rollover); and
    # on meter 2 a drop from 500 to 400 that is no rollover
    series = pl.concat(
        [
            stored_series(
                1, {1: (999_950_000, "valid"), 2: (1, "estimated"), 3: (2, "estimated"), 4: (10_000, "ami")}
            ),
            stored_series(2, {1: (500_000, "valid"), 2: (450_000, "estimated"), 3: (400_000, "valid")}),
        ]
    )
    anchors = pl.concat([keys(4), keys(3, meter_id=2)])

    estimates = interpolate_runs(
        estimate_runs(series, anchors), pl.DataFrame({"meter_id": [1, 2], "digits": [6, 6]})
    )

    # then 999,950 → 1,000,010 unwrapped (20 a day), wrapped back; meter 2 left as it is
    assert estimates.select("meter_id", "day", "value_milli").rows() == [
        (1, day(2), 999_970_000),
        (1, day(3), 999_990_000),
    ]


def test_nothing_to_re_estimate():
    empty = stored_series(1, {})
    assert estimate_runs(empty, keys(1)).is_empty()
    assert interpolate_runs(
        estimate_runs(stored_series(1, {1: (1, "valid")}), keys(1)), pl.DataFrame()
    ).is_empty()
