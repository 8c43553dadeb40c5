"""The pure engines of inspection tasks: the checklist as data (which items apply to which
account) and the periodic cycles (rules in force, due dates with end-of-month arithmetic)."""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.inspection.engine import checklist, cycles
from gridcare.inspection.engine.cycles import (
    Cycle,
    add_months,
    add_months_array,
    due_accounts,
    rules_in_force,
)

# --- checklist ---------------------------------------------------------------------------------


def codes(entries: list[checklist.Entry]) -> list[str]:
    return [e.code for e in entries]


def test_codes_are_unique_and_fit_the_column() -> None:
    all_codes = [i.code for i in checklist.CHECKLIST]
    assert len(all_codes) == len(set(all_codes)) == 18
    assert max(len(c) for c in all_codes) <= 30
    assert {i.section for i in checklist.CHECKLIST} == set(checklist.SECTIONS)
    # every label keeps its Chinese term in parentheses
    assert all("(" in i.label and i.label.endswith(")") for i in checklist.CHECKLIST)


def test_residential_low_voltage_gets_no_power_factor_harmonics_or_standby() -> None:
    entries = checklist.items_for(customer_class="urban_res", voltage_level="220v")
    got = codes(entries)
    assert "quality_power_factor" not in got
    assert "quality_harmonics" not in got
    assert "safety_standby_interlock" not in got
    assert len(entries) == 15
    assert [e.position for e in entries] == list(range(1, 16))
    assert entries[0].section == "safety"
    assert entries[-1].code == "quality_voltage"


def test_general_commercial_gets_power_factor_but_no_harmonics() -> None:
    got = codes(checklist.items_for(customer_class="general_ic", voltage_level="380v"))
    assert "quality_power_factor" in got
    assert "safety_standby_interlock" in got
    assert "quality_harmonics" not in got
    assert len(got) == 17


def test_high_voltage_and_large_industrial_get_everything() -> None:
    assert len(checklist.items_for(customer_class="general_ic", voltage_level="10kv")) == 18
    assert len(checklist.items_for(customer_class="large_ind", voltage_level="380v")) == 18


def test_important_residential_gets_the_standby_interlock() -> None:
    got = codes(checklist.items_for(customer_class="urban_res", voltage_level="220v", importance="second"))
    assert "safety_standby_interlock" in got
    assert "quality_power_factor" not in got


def test_sections_in_order() -> None:
    sections = [e.section for e in checklist.items_for(customer_class="large_ind", voltage_level="35kv")]
    assert sections == sorted(sections, key=checklist.SECTIONS.index)
    assert checklist.label_of("theft_seals") == "Meter and box seals intact (封印完好)"
    assert checklist.label_of("nope") == "nope"
    assert checklist.unanswered([("a", "pass"), ("b", ""), ("c", "na")]) == ["b"]


# --- month arithmetic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2024, 8, 31), 6, dt.date(2025, 2, 28)),
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2024, 11, 30), 3, dt.date(2025, 2, 28)),
        (dt.date(2025, 3, 31), 3, dt.date(2025, 6, 30)),
        (dt.date(2025, 5, 15), 12, dt.date(2026, 5, 15)),
        (dt.date(2025, 12, 31), 1, dt.date(2026, 1, 31)),
    ],
)
def test_add_months_examples(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def reference_add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


days = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 12, 31))


@given(day=days, months=st.integers(min_value=0, max_value=36))
def test_add_months_matches_the_calendar(day: dt.date, months: int) -> None:
    got = add_months(day, months)
    assert got == reference_add_months(day, months)
    assert (got.year * 12 + got.month) - (day.year * 12 + day.month) == months
    assert got.day == min(day.day, calendar.monthrange(got.year, got.month)[1])
    assert got >= day


@given(day=days, a=st.integers(min_value=1, max_value=24), b=st.integers(min_value=1, max_value=24))
def test_add_months_is_monotonic_in_months(day: dt.date, a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert add_months(day, lo) <= add_months(day, hi)


@given(st.lists(st.tuples(days, st.integers(min_value=0, max_value=24)), min_size=1, max_size=40))
def test_vectorised_equals_scalar(pairs: list[tuple[dt.date, int]]) -> None:
    arr = add_months_array(
        np.array([d for d, _ in pairs], dtype="datetime64[D]"), np.array([m for _, m in pairs])
    )
    assert [dt.date.fromisoformat(str(x)) for x in arr] == [reference_add_months(d, m) for d, m in pairs]


@given(day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 1)))
def test_month_end_dates_land_on_month_ends_or_earlier(day: dt.date) -> None:
    end = dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    for months in (1, 3, 6, 12):
        got = add_months(end, months)
        assert got.day <= end.day
        last = calendar.monthrange(got.year, got.month)[1]
        assert got.day == min(end.day, last)


# --- due accounts ------------------------------------------------------------------------------

RULES = [
    Cycle("first", "", 3, dt.date(2020, 1, 1)),
    Cycle("second", "", 6, dt.date(2020, 1, 1)),
    Cycle("", "10kv", 12, dt.date(2020, 1, 1)),
    Cycle("", "35kv", 12, dt.date(2020, 1, 1)),
]


def accounts(rows: list[tuple[int, str, str, dt.date | None, dt.date]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "account_id": pl.Int64,
            "importance": pl.String,
            "voltage_level": pl.String,
            "last_inspected": pl.Date,
            "opened_on": pl.Date,
        },
        orient="row",
    )


def test_rules_in_force_take_the_latest_effective_row() -> None:
    rows = [*RULES, Cycle("first", "", 2, dt.date(2026, 1, 1)), Cycle("second", "", 4, dt.date(2027, 1, 1))]
    on_2026 = {
        (c.importance, c.voltage_level): c.interval_months for c in rules_in_force(rows, dt.date(2026, 6, 1))
    }
    assert on_2026[("first", "")] == 2
    assert on_2026[("second", "")] == 6
    assert rules_in_force(rows, dt.date(2019, 12, 31)) == []


def test_due_accounts_hand_computed() -> None:
    start, end = dt.date(2026, 1, 1), dt.date(2026, 3, 31)
    frame = accounts(
        [
            (1, "first", "10kv", dt.date(2025, 10, 31), dt.date(2015, 1, 1)),  # 3 months → 2026-01-31
            (2, "", "10kv", None, dt.date(2015, 1, 1)),  # never inspected → period start
            (3, "second", "220v", dt.date(2025, 1, 1), dt.date(2015, 1, 1)),  # 6 → 2025-07-01, overdue
            (4, "", "220v", None, dt.date(2015, 1, 1)),  # no rule applies
            (5, "", "35kv", dt.date(2025, 6, 1), dt.date(2015, 1, 1)),  # 12 → 2026-06-01, not due
            (6, "", "10kv", None, dt.date(2026, 2, 10)),  # opened in the period → due that day
            (7, "", "10kv", None, dt.date(2026, 4, 1)),  # opens after the period → not due
            (8, "second", "10kv", dt.date(2025, 8, 31), dt.date(2015, 1, 1)),  # min(6, 12) → 2026-02-28
        ]
    )
    due = due_accounts(frame, RULES, period_start=start, period_end=end)
    assert due.rows() == [
        (3, 6, "importance", dt.date(2025, 7, 1), start, True),
        (2, 12, "voltage", start, start, False),
        (1, 3, "importance", dt.date(2026, 1, 31), dt.date(2026, 1, 31), False),
        (6, 12, "voltage", dt.date(2026, 2, 10), dt.date(2026, 2, 10), False),
        (8, 6, "importance", dt.date(2026, 2, 28), dt.date(2026, 2, 28), False),
    ]


def test_due_accounts_empty_and_bad_period() -> None:
    empty = due_accounts(
        accounts([]), RULES, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31)
    )
    assert empty.is_empty()
    assert empty.columns == list(cycles.DUE_SCHEMA)
    with pytest.raises(ValueError, match="before"):
        due_accounts(accounts([]), RULES, period_start=dt.date(2026, 2, 1), period_end=dt.date(2026, 1, 1))


@given(
    last=st.one_of(st.none(), st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2026, 12, 31))),
    months=st.sampled_from([1, 3, 6, 12]),
    start=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 12, 31)),
    length=st.integers(min_value=0, max_value=120),
)
def test_due_iff_the_computed_date_falls_by_the_period_end(
    last: dt.date | None, months: int, start: dt.date, length: int
) -> None:
    end = start + dt.timedelta(days=length)
    rules = [Cycle("first", "", months, dt.date(2020, 1, 1))]
    due = due_accounts(
        accounts([(1, "first", "220v", last, dt.date(2019, 1, 1))]), rules, period_start=start, period_end=end
    )
    expected = reference_add_months(last, months) if last is not None else start
    assert (due.height == 1) == (expected <= end)
    if due.height:
        row = due.row(0, named=True)
        assert row["due"] == expected
        assert row["due_on"] == max(expected, start)
        assert row["overdue"] == (expected < start)


def test_ten_thousand_accounts_in_one_pass() -> None:
    n = 10_000
    rng = np.random.default_rng(0)
    base = np.datetime64("2024-01-01")
    lasts = (base + rng.integers(0, 700, size=n).astype("timedelta64[D]")).astype("datetime64[D]")
    frame = pl.DataFrame(
        {
            "account_id": np.arange(n),
            "importance": rng.choice(["", "first", "second"], size=n),
            "voltage_level": rng.choice(["220v", "10kv"], size=n),
            "last_inspected": lasts,
            "opened_on": np.full(n, np.datetime64("2015-01-01")),
        }
    )
    due = due_accounts(frame, RULES, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31))
    assert 0 < due.height <= n
    assert due["due"].max() <= dt.date(2026, 3, 31)  # type: ignore[operator]
