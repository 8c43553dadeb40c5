"""Validation and estimation of daily register readings (engine.vee, no database)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.metering.engine.vee import (
    EXCEPTION_SCHEMA,
    STORED_RUN_SCHEMA,
    VeeParams,
    VeeResult,
    continue_runs,
    median_of_days_before,
    vee_validate,
    with_quality,
)

D0 = dt.date(2026, 1, 1)
PARAMS = VeeParams(
    spike_factor_x100=500,
    spike_window_days=28,
    spike_min_wh=5000,
    zero_run_days=5,
    tou_tolerance_milli=500,
    auto_estimate_max_days=3,
)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def kwh(text: str) -> int:
    """'999998.5' → 999998500 (test helper: register text to milli)."""
    whole, _, fraction = text.partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


def series(*rows: tuple[int, str, int, int, bool]) -> pl.DataFrame:
    """Rows of (meter_id, register, day number, value_milli, is_new)."""
    return pl.DataFrame(
        [(m, r, day(d), v, n) for m, r, d, v, n in rows],
        schema={
            "meter_id": pl.Int64,
            "register": pl.String,
            "day": pl.Date,
            "value_milli": pl.Int64,
            "is_new": pl.Boolean,
        },
        orient="row",
    )


def daily(
    meter_id: int, values: list[int], *, first_new: int, register: str = "total", start: int = 0
) -> list[tuple[int, str, int, int, bool]]:
    """One reading a day from ``start``; rows from index ``first_new`` on are new."""
    return [(meter_id, register, start + i, v, i >= first_new) for i, v in enumerate(values)]


def meters(*ids: int, digits: int = 6, multiplier_x100: int = 100, active: bool = True) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": list(ids),
            "digits": [digits] * len(ids),
            "multiplier_x100": [multiplier_x100] * len(ids),
            "active": [active] * len(ids),
        },
        schema={"meter_id": pl.Int64, "digits": pl.Int64, "multiplier_x100": pl.Int64, "active": pl.Boolean},
    )


def exceptions(result: VeeResult) -> list[tuple]:
    return [
        (
            row["meter_id"],
            row["register"],
            row["rule"],
            row["day_from"],
            row["day_to"],
            json.loads(row["detail"]),
        )
        for row in result.exceptions.to_dicts()
    ]


def suspects(result: VeeResult) -> list[tuple]:
    return result.quality.filter(pl.col("quality") == "suspect").select("meter_id", "register", "day").rows()


def steady(start_milli: int, per_day_milli: int, days: int) -> list[int]:
    return [start_milli + per_day_milli * i for i in range(days)]


# decreasing and rollover ---------------------------------------------------------------


def test_rollover_at_the_digit_boundary_is_consumption_not_an_exception():
    # given a 6-digit meter reading 999998.5 and then 000002.0
    rows = series((1, "total", 0, kwh("999998.5"), False), (1, "total", 1, kwh("2.0"), True))

    # when validated
    result = vee_validate(rows, meters(1, digits=6), PARAMS)

    # then there is no exception and the new row is valid
    assert exceptions(result) == []
    assert result.quality.rows() == [(1, "total", day(1), "valid")]


def test_decrease_far_from_the_boundary_is_a_decreasing_exception():
    # given 500000 followed by 400000 on a 6-digit meter
    rows = series((1, "total", 0, kwh("500000"), False), (1, "total", 1, kwh("400000"), True))

    result = vee_validate(rows, meters(1, digits=6), PARAMS)

    assert exceptions(result) == [
        (1, "total", "decreasing", day(1), day(1), {"previous": "500000.000", "value": "400000.000"})
    ]
    assert suspects(result) == [(1, "total", day(1))]


@pytest.mark.parametrize(
    ("previous", "value", "is_rollover"),
    [
        ("900000.000", "100000.000", True),  # exactly 90 % and 10 % of the range
        ("899999.999", "100000.000", False),  # previous just below 90 %
        ("900000.000", "100000.001", False),  # value just above 10 %
        ("9999.9", "0.1", True),  # a 4-digit register
    ],
)
def test_rollover_thresholds_are_ninety_and_ten_percent_of_the_range(previous, value, is_rollover):
    digits = 4 if previous == "9999.9" else 6
    rows = series((1, "total", 0, kwh(previous), False), (1, "total", 1, kwh(value), True))

    result = vee_validate(rows, meters(1, digits=digits), PARAMS)

    assert [e[2] for e in exceptions(result)] == ([] if is_rollover else ["decreasing"])


def test_meter_exchange_new_series_from_the_initial_reading_is_not_decreasing():
    # given the old meter's readings up to its removal and the new meter's initial reading
    # (put in by the caller as a context row on the installation day) followed by new reads
    rows = series(
        *daily(1, steady(kwh("5000"), 10_000, 5), first_new=99),
        (2, "total", 4, kwh("0.0"), False),
        (2, "total", 5, kwh("10.0"), True),
        (2, "total", 6, kwh("20.5"), True),
    )

    # when validated
    result = vee_validate(rows, meters(1, 2), PARAMS)

    # then nothing is wrong: the new meter's readings follow its own initial reading
    assert exceptions(result) == []
    assert result.quality.rows() == [(2, "total", day(5), "valid"), (2, "total", day(6), "valid")]


def test_decreasing_among_context_rows_is_not_reported_again():
    rows = series(
        (1, "total", 0, kwh("500"), False),
        (1, "total", 1, kwh("400"), False),
        (1, "total", 2, kwh("410"), True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == []
    assert result.quality.rows() == [(1, "total", day(2), "valid")]


def test_backfill_above_the_next_stored_reading_is_decreasing_on_the_new_row():
    # given stored days 10 and 12 (day 11 was estimated) and a back-filled day 11 above day 12
    rows = series(
        (1, "total", 10, kwh("100"), False),
        (1, "total", 11, kwh("111"), False),  # the estimate the back-fill replaces
        (1, "total", 11, kwh("125"), True),
        (1, "total", 12, kwh("120"), False),
    )

    # when validated
    result = vee_validate(rows, meters(1), PARAMS)

    # then the series goes backwards after the new row: it broke the series and is suspect
    assert exceptions(result) == [
        (1, "total", "decreasing", day(11), day(11), {"value": "125.000", "next": "120.000"})
    ]
    assert suspects(result) == [(1, "total", day(11))]


def test_new_row_below_the_day_before_and_above_the_day_after_opens_one_exception():
    rows = series(
        (1, "total", 0, kwh("100"), False),
        (1, "total", 1, kwh("95"), True),
        (1, "total", 2, kwh("90"), False),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == [
        (1, "total", "decreasing", day(1), day(1), {"previous": "100.000", "value": "95.000"})
    ]
    assert suspects(result) == [(1, "total", day(1))]


@pytest.mark.parametrize(
    ("next_value", "stored_suspect", "reported"),
    [
        ("3", False, False),  # a rollover after the back-filled day
        ("999996", False, False),  # the register goes on
        ("500000", True, False),  # the next reading is a bad read already on record
        ("500000", False, True),
    ],
)
def test_backfill_before_a_rollover_or_a_suspect_reading_is_not_blamed(next_value, stored_suspect, reported):
    rows = series(
        (1, "total", 0, kwh("999990"), False),
        (1, "total", 1, kwh("999995"), True),
        (1, "total", 2, kwh(next_value), False),
    ).with_columns(suspect=pl.Series([False, False, stored_suspect]))

    result = vee_validate(rows, meters(1, digits=6), PARAMS)

    assert [e[2:4] for e in exceptions(result)] == ([("decreasing", day(1))] if reported else [])
    assert suspects(result) == ([(1, "total", day(1))] if reported else [])


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(0, 999), min_size=2, max_size=12),
    new=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_every_decrease_touching_a_new_row_blames_exactly_one_new_row(values, new):
    # given a 3-digit register read daily (values in whole kWh), some rows new
    rows = [(1, "total", i, v * 1000, new[i]) for i, v in enumerate(values)]

    result = vee_validate(series(*rows), meters(1, digits=3), PARAMS)

    # then each decrease that is no rollover, between a new row and the one before it or a
    # new row and the stored one after it, makes the new row (the later one if both are
    # new) suspect with a decreasing exception on its day; nothing else is decreasing
    blamed = set()
    for (_, _, d0, v0, n0), (_, _, d1, v1, n1) in zip(rows, rows[1:], strict=False):
        rollover = v1 < v0 and v0 >= 900_000 and v1 <= 100_000
        if v1 < v0 and not rollover and (n0 or n1):
            blamed.add(d1 if n1 else d0)
    decreasing = [e for e in exceptions(result) if e[2] == "decreasing"]
    assert sorted(e[3] for e in decreasing) == sorted(day(d) for d in blamed)
    assert all(e[3] == e[4] for e in decreasing)
    assert {d for _, _, d in suspects(result)} >= {day(d) for d in blamed}


# tou_mismatch ---------------------------------------------------------------------------


@pytest.mark.parametrize(("tou_off_by", "reported"), [(500, False), (-500, False), (501, True), (-501, True)])
def test_tou_registers_must_sum_to_total_within_tolerance(tou_off_by, reported):
    # given a total of 100.000 and TOU values summing to 100.000 + tou_off_by milli
    rows = series(
        (1, "total", 0, 100_000, True),
        (1, "peak", 0, 40_000, True),
        (1, "flat", 0, 35_000, True),
        (1, "valley", 0, 25_000 + tou_off_by, True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    if reported:
        tou_sum = f"{(100_000 + tou_off_by) / 1000:.3f}"
        assert exceptions(result) == [
            (1, "total", "tou_mismatch", day(0), day(0), {"total": "100.000", "tou_sum": tou_sum})
        ]
        assert suspects(result) == [(1, "total", day(0))]
    else:
        assert exceptions(result) == []
        assert suspects(result) == []


def test_total_without_tou_registers_is_not_compared():
    rows = series((1, "total", 0, 100_000, True), (1, "reactive", 0, 3_000, True))

    assert exceptions(vee_validate(rows, meters(1), PARAMS)) == []


def test_day_missing_one_of_the_meters_tou_registers_is_not_compared():
    # given a meter with peak and valley, whose valley reading is missing on day 1
    rows = series(
        (1, "total", 0, 100_000, True),
        (1, "peak", 0, 60_000, True),
        (1, "valley", 0, 40_000, True),
        (1, "total", 1, 110_000, True),
        (1, "peak", 1, 66_000, True),
    )

    # then day 1 is not a mismatch (the missing valley is not a zero)
    assert exceptions(vee_validate(rows, meters(1), PARAMS)) == []


def test_tou_mismatch_between_context_rows_only_is_not_reported():
    rows = series(
        (1, "total", 0, 100_000, False),
        (1, "peak", 0, 10_000, False),
        (1, "total", 1, 110_000, True),
        (1, "peak", 1, 50_000, True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert [(e[2], e[3]) for e in exceptions(result)] == [("tou_mismatch", day(1))]


def test_tou_values_that_rolled_over_differently_from_the_total_still_match():
    # given a 6-digit total that has rolled over while its TOU registers have not
    rows = series(
        (1, "total", 0, kwh("3.0"), True),
        (1, "peak", 0, kwh("600001.0"), True),
        (1, "valley", 0, kwh("400002.0"), True),
    )

    assert exceptions(vee_validate(rows, meters(1, digits=6), PARAMS)) == []


# spike ----------------------------------------------------------------------------------


def spike_rows(history_days: int, last_day_wh: int, multiplier_x100: int = 100) -> pl.DataFrame:
    """``history_days`` context days of 10 kWh, then a new day of ``last_day_wh`` energy."""
    per_day = 10_000 * 100 // multiplier_x100
    values = steady(kwh("1000"), per_day, history_days + 1)
    values.append(values[-1] + last_day_wh * 100 // multiplier_x100)
    return series(*daily(1, values, first_new=history_days + 1))


def test_spike_above_factor_times_median_is_reported():
    # given 7 days of 10 kWh, then 50.001 kWh (factor 5.00)
    result = vee_validate(spike_rows(7, 50_001), meters(1), PARAMS)

    assert exceptions(result) == [
        (
            1,
            "total",
            "spike",
            day(8),
            day(8),
            {"energy_kwh": "50.001", "median_kwh": "10.000", "factor": "5.00"},
        )
    ]
    assert suspects(result) == [(1, "total", day(8))]


def test_exactly_factor_times_median_is_not_a_spike():
    assert exceptions(vee_validate(spike_rows(7, 50_000), meters(1), PARAMS)) == []


def test_spike_needs_seven_days_of_history():
    assert exceptions(vee_validate(spike_rows(6, 90_000), meters(1), PARAMS)) == []


def test_spike_below_the_floor_is_ignored():
    # given a tiny consumer: 0.5 kWh a day, then 4.999 kWh (ten times, but under 5 kWh)
    values = steady(kwh("100"), 500, 8)
    values.append(values[-1] + 4_999)
    result = vee_validate(series(*daily(1, values, first_new=8)), meters(1), PARAMS)

    assert exceptions(result) == []


def test_spike_energy_uses_the_multiplier():
    # given a CT meter with multiplier 30: register steps of 1/30 of the energy
    result = vee_validate(
        spike_rows(10, 60_000, multiplier_x100=3000), meters(1, multiplier_x100=3000), PARAMS
    )

    assert [(e[2], e[5]["energy_kwh"], e[5]["median_kwh"]) for e in exceptions(result)] == [
        ("spike", "60.000", "9.990")
    ]


def test_spike_median_uses_only_the_window_days():
    # given 20 days of 1 kWh long ago, then 10 days of 10 kWh inside a 10-day window
    values = steady(kwh("100"), 1_000, 21)
    values += [values[-1] + 10_000 * (i + 1) for i in range(10)]
    values.append(values[-1] + 45_000)
    params = VeeParams(500, 10, 5000, 5, 500, 3)

    result = vee_validate(series(*daily(1, values, first_new=len(values) - 1)), meters(1), params)

    assert exceptions(result) == []  # 45 kWh < 5 × 10 kWh (the old 1 kWh days are outside the window)


# zero_run -------------------------------------------------------------------------------


@pytest.mark.parametrize(("zero_days", "reported"), [(4, False), (5, True), (6, True)])
def test_zero_run_of_n_days_on_an_active_meter(zero_days, reported):
    # given a reading followed by zero_days days with the same value (threshold 5)
    values = [kwh("100"), kwh("110")] + [kwh("110")] * zero_days + [kwh("112")]
    result = vee_validate(series(*daily(1, values, first_new=1)), meters(1), PARAMS)

    expected = [(1, "total", "zero_run", day(2), day(1 + zero_days), {"days": zero_days})] if reported else []
    assert exceptions(result) == expected
    assert suspects(result) == []  # a zero run leaves the rows valid


def test_zero_run_on_an_inactive_meter_is_not_reported():
    values = [kwh("110")] * 8
    result = vee_validate(series(*daily(1, values, first_new=1)), meters(1, active=False), PARAMS)

    assert exceptions(result) == []


def test_zero_run_extending_from_context_into_new_days_is_reported_from_its_start():
    values = [kwh("100")] + [kwh("110")] * 7
    result = vee_validate(series(*daily(1, values, first_new=6)), meters(1), PARAMS)

    assert exceptions(result) == [(1, "total", "zero_run", day(2), day(7), {"days": 6})]


def test_zero_run_within_context_only_is_not_reported_again():
    values = [kwh("100")] + [kwh("110")] * 7 + [kwh("112")]
    result = vee_validate(series(*daily(1, values, first_new=8)), meters(1), PARAMS)

    assert exceptions(result) == []


def test_zero_run_counts_the_days_of_a_gap_without_consumption():
    # given the same value 6 days apart with two readings in between (a 3-day gap)
    rows = series(
        (1, "total", 0, kwh("110"), False),
        (1, "total", 1, kwh("110"), True),
        (1, "total", 2, kwh("110"), True),
        (1, "total", 6, kwh("110"), True),
    )
    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == [(1, "total", "zero_run", day(1), day(6), {"days": 6})]
    assert result.estimates.rows() == [
        (1, "total", day(3), kwh("110")),
        (1, "total", day(4), kwh("110")),
        (1, "total", day(5), kwh("110")),
    ]


def _runs(*rows: tuple[int, int, int]) -> pl.DataFrame:
    """zero_run exceptions as VEE reports them: (meter_id, first day, last day)."""
    return pl.DataFrame(
        [(m, "total", "zero_run", day(a), day(b), f'{{"days":{b - a + 1}}}') for m, a, b in rows],
        schema=EXCEPTION_SCHEMA,
        orient="row",
    )


def _stored(*rows: tuple[int, int, int, int]) -> pl.DataFrame:
    """zero_run exceptions on record: (id, meter_id, first day, last day)."""
    return pl.DataFrame(
        [(i, m, "total", day(a), day(b)) for i, m, a, b in rows], schema=STORED_RUN_SCHEMA, orient="row"
    )


def test_a_run_seen_from_a_later_context_start_extends_the_run_on_record():
    # given a run on record from day 2 to day 50, seen now from day 15 to day 51
    fresh, extended = continue_runs(_runs((1, 15, 51)), _stored((7, 1, 2, 50)))

    assert fresh.is_empty()
    assert extended.rows() == [(7, day(50), day(51), '{"days":50}')]


def test_a_run_on_record_is_matched_without_change_when_nothing_is_new():
    fresh, extended = continue_runs(_runs((1, 15, 40)), _stored((7, 1, 2, 50)))

    assert fresh.is_empty()
    assert extended.is_empty()


@pytest.mark.parametrize(
    ("found", "stored", "opened"),
    [
        ((1, 52, 60), (7, 1, 2, 50), True),  # a day of use between: a new run
        ((1, 51, 60), (7, 1, 2, 50), False),  # starts the day after: the same run
        ((2, 15, 51), (7, 1, 2, 50), True),  # another meter
    ],
)
def test_only_an_overlapping_or_adjoining_run_of_the_same_register_continues(found, stored, opened):
    fresh, extended = continue_runs(_runs(found), _stored(stored))

    assert fresh.height == int(opened)
    assert extended.height == int(not opened)


def test_several_runs_on_record_the_earliest_is_extended():
    fresh, extended = continue_runs(_runs((1, 16, 52)), _stored((9, 1, 15, 51), (7, 1, 2, 50)))

    assert fresh.is_empty()
    assert extended.rows() == [(7, day(50), day(52), '{"days":51}')]


def test_zero_run_applies_to_the_total_only():
    values = [kwh("110")] * 8
    result = vee_validate(series(*daily(1, values, first_new=1, register="reactive")), meters(1), PARAMS)

    assert exceptions(result) == []


# missing --------------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [1, 2, 3])
def test_gaps_up_to_the_limit_are_estimated_between_the_neighbours(gap):
    # given readings 100.000 and 200.000 with ``gap`` days missing between them
    rows = series((1, "total", 0, kwh("100"), False), (1, "total", gap + 1, kwh("200"), True))

    result = vee_validate(rows, meters(1), PARAMS)

    # then every missing day is estimated, strictly between and non-decreasing, no exception
    assert exceptions(result) == []
    assert result.estimates["day"].to_list() == [day(i) for i in range(1, gap + 1)]
    values = result.estimates["value_milli"].to_list()
    assert all(kwh("100") < v < kwh("200") for v in values)
    assert values == sorted(values)
    assert values == [kwh("100") + 100_000 * i // (gap + 1) for i in range(1, gap + 1)]


def test_gap_longer_than_the_limit_is_one_missing_exception():
    rows = series((1, "total", 0, kwh("100"), False), (1, "total", 5, kwh("200"), True))

    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == [(1, "total", "missing", day(1), day(4), {"days": 4})]
    assert result.estimates.is_empty()


def test_gap_between_context_rows_is_not_judged():
    rows = series(
        (1, "total", 0, kwh("100"), False),
        (1, "total", 9, kwh("200"), False),
        (1, "total", 10, kwh("210"), True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == []
    assert result.estimates.is_empty()


def test_gap_across_a_rollover_is_estimated_on_the_unwrapped_register():
    # given 999998.5 and, two days later, 000002.0 on a 6-digit meter
    rows = series((1, "total", 0, kwh("999998.5"), False), (1, "total", 2, kwh("2.0"), True))

    result = vee_validate(rows, meters(1, digits=6), PARAMS)

    assert exceptions(result) == []
    assert result.estimates.rows() == [(1, "total", day(1), kwh("0.25"))]


def test_gap_next_to_a_decreasing_reading_is_not_estimated():
    rows = series(
        (1, "total", 0, kwh("500"), False),
        (1, "total", 1, kwh("400"), True),
        (1, "total", 3, kwh("410"), True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert [(e[2], e[3], e[4]) for e in exceptions(result)] == [
        ("decreasing", day(1), day(1)),
        ("missing", day(2), day(2)),
    ]
    assert result.estimates.is_empty()


def test_gap_next_to_a_spike_is_not_estimated_from_it():
    # given 10 days of 10 kWh, two days missing, then a read 300 kWh higher (a spike)
    values = steady(kwh("1000"), 10_000, 10)
    rows = series(*daily(1, values, first_new=10), (1, "total", 12, values[-1] + 300_000, True))

    result = vee_validate(rows, meters(1), PARAMS)

    assert [(e[2], e[3], e[4]) for e in exceptions(result)] == [
        ("missing", day(10), day(11)),
        ("spike", day(12), day(12)),
    ]
    assert suspects(result) == [(1, "total", day(12))]
    assert result.estimates.is_empty()


def test_gap_next_to_a_tou_mismatch_is_not_estimated_from_it():
    # given a total whose new read on day 3 disagrees with its TOU registers, after a gap
    rows = series(
        (1, "total", 0, kwh("100"), False),
        (1, "peak", 0, kwh("40"), False),
        (1, "valley", 0, kwh("60"), False),
        (1, "total", 3, kwh("130"), True),
        (1, "peak", 3, kwh("52"), True),
        (1, "valley", 3, kwh("72"), True),  # 52 + 72 = 124 ≠ 130
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert [(e[1], e[2], e[3], e[4]) for e in exceptions(result)] == [
        ("total", "missing", day(1), day(2)),
        ("total", "tou_mismatch", day(3), day(3)),
    ]
    # the TOU registers' own gaps lie between good reads and are estimated
    assert sorted(set(result.estimates["register"].to_list())) == ["peak", "valley"]


@pytest.mark.parametrize(("stored_suspect", "estimated"), [(True, False), (False, True)])
def test_gap_after_a_context_row_stored_as_suspect_is_not_estimated(stored_suspect, estimated):
    frame = series(
        (1, "total", 0, kwh("100"), False),
        (1, "total", 1, kwh("110"), False),
        (1, "total", 4, kwh("140"), True),
    ).with_columns(suspect=pl.Series([False, stored_suspect, False]))

    result = vee_validate(frame, meters(1), PARAMS)

    assert (not result.estimates.is_empty()) is estimated
    missing = [(e[3], e[4]) for e in exceptions(result) if e[2] == "missing"]
    assert missing == ([] if estimated else [(day(2), day(3))])


def test_gaps_are_judged_per_register():
    rows = series(
        (1, "total", 0, kwh("100"), False),
        (1, "total", 1, kwh("110"), True),
        (1, "peak", 0, kwh("40"), False),
        (1, "peak", 2, kwh("46"), True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert result.estimates.rows() == [(1, "peak", day(1), kwh("43"))]


# quality and inputs ---------------------------------------------------------------------


def test_quality_lists_every_new_row_once_and_no_context_row():
    rows = series(
        *daily(1, steady(kwh("100"), 10_000, 4), first_new=2),
        (1, "total", 3, kwh("130"), True),  # the same day twice: the new row counts once
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert result.quality.rows() == [(1, "total", day(2), "valid"), (1, "total", day(3), "valid")]
    assert result.quality.schema == pl.Schema(
        {"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "quality": pl.String}
    )
    assert result.exceptions.schema == pl.Schema(
        {
            "meter_id": pl.Int64,
            "register": pl.String,
            "rule": pl.String,
            "day_from": pl.Date,
            "day_to": pl.Date,
            "detail": pl.String,
        }
    )
    assert result.estimates.schema == pl.Schema(
        {"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "value_milli": pl.Int64}
    )


def test_empty_series_gives_empty_results():
    result = vee_validate(series(), meters(1), PARAMS)

    assert result.quality.is_empty()
    assert result.exceptions.is_empty()
    assert result.estimates.is_empty()


def test_new_row_wins_over_a_stored_row_of_the_same_day():
    rows = series(
        (1, "total", 0, kwh("100"), False),
        (1, "total", 1, kwh("90"), False),
        (1, "total", 1, kwh("110"), True),
    )

    result = vee_validate(rows, meters(1), PARAMS)

    assert exceptions(result) == []
    assert result.quality.rows() == [(1, "total", day(1), "valid")]


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=50_000)),
        min_size=1,
        max_size=30,
    )
)
def test_estimates_are_non_decreasing_and_between_their_neighbours(steps):
    # given a non-decreasing register with random gaps, every row new
    rows = [(1, "total", 0, kwh("1000"), True)]
    for days, use in steps:
        _, _, last_day, last_value, _ = rows[-1]
        rows.append((1, "total", last_day + days, last_value + use, True))
    frame = series(*rows)

    # when validated
    result = vee_validate(frame, meters(1, digits=8), PARAMS)

    # then nothing decreases, and each estimate lies between the readings around it
    merged = (
        pl.concat([frame.select("day", "value_milli"), result.estimates.select("day", "value_milli")])
        .sort("day")
        .get_column("value_milli")
        .to_list()
    )
    assert merged == sorted(merged)
    # short gaps between two good reads are estimated; long ones, and short ones next to a
    # reading found suspect (a random step can be a spike), are missing-days exceptions
    limit = PARAMS.auto_estimate_max_days + 1
    bad = {d for _, _, d in suspects(result)}
    days_of = [day(r[2]) for r in rows]
    gaps = [(days, days_of[i] in bad or days_of[i + 1] in bad) for i, (days, _) in enumerate(steps)]
    assert result.estimates.height == sum(
        days - 1 for days, next_to_bad in gaps if 1 < days <= limit and not next_to_bad
    )
    reported = sum(1 for days, next_to_bad in gaps if days > limit or (days > 1 and next_to_bad))
    assert result.exceptions.filter(pl.col("rule") == "missing").height == reported


# The spike median's fast path (a fixed window of rows where the days are consecutive)
# must give exactly the window in days everywhere: series with gaps, several meters and
# registers, short windows.
@settings(max_examples=200, deadline=None)
@given(
    series=st.lists(
        st.tuples(
            st.integers(1, 3),  # meter
            st.integers(0, 1),  # register code
            st.lists(st.integers(0, 60), min_size=1, max_size=40, unique=True),  # days
        ),
        min_size=1,
        max_size=4,
        unique_by=lambda t: (t[0], t[1]),
    ),
    values=st.lists(st.integers(0, 50_000), min_size=160, max_size=160),
    days=st.integers(1, 12),
)
def test_spike_median_fast_path_equals_the_window_in_days(series, values, days):
    keys = sorted({(meter * 8 + register) * (1 << 22) + day for meter, register, ds in series for day in ds})
    frame = pl.DataFrame(
        {"_key": keys, "daily_wh": values[: len(keys)]}, schema={"_key": pl.Int64, "daily_wh": pl.Int64}
    )
    expected = frame.select(
        pl.col("daily_wh").rolling_median_by("_key", f"{days}i", closed="left")
    ).to_series()
    assert median_of_days_before(frame, days).to_list() == expected.to_list()


def test_with_quality_marks_the_rows_vee_listed_and_keeps_the_order() -> None:
    rows = pl.DataFrame(
        {
            "meter_id": [2, 1, 1],
            "register": ["total", "peak", "total"],
            "day": [D0, D0, D0 + dt.timedelta(days=1)],
            "value_milli": [5, 6, 7],
        }
    )
    quality = pl.DataFrame(
        {"meter_id": [1, 9], "register": ["total", "total"], "day": [D0 + dt.timedelta(days=1), D0]},
    ).with_columns(quality=pl.lit("suspect"))
    out = with_quality(rows, quality)
    assert out.columns == ["meter_id", "register", "day", "value_milli", "quality"]
    assert out["value_milli"].to_list() == [5, 6, 7]
    assert out["quality"].to_list() == ["valid", "valid", "suspect"]
