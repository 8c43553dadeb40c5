"""The pure SLA engine (engine/sla.py): which standard applies, deadlines in working days and
hours on the Chinese calendar (chinesecalendar 2026: National Day 10-01..10-07 off, Sunday
09-20 and Saturday 10-10 make-up working days; Spring Festival 02-15..02-23 off, Saturdays
02-14 and 02-28 worked), warning times and pauses. No database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.core.engine.workdays import BEIJING, WorkdayCalendar
from gridcare.workorders.engine.sla import (
    HOURS,
    WORKING_DAYS,
    StandardRow,
    clock_deadline,
    extend_for_pause,
    pick_standard,
    remaining_share,
    specificity,
    warn_time,
)

CAL = WorkdayCalendar()
EOD = dt.time(23, 59, 59)


def row(id: int, **kw: object) -> StandardRow:
    values: dict[str, object] = {
        "code": f"S{id}",
        "kind": "complaint",
        "stage": "reply",
        "basis": WORKING_DAYS,
        "amount": Decimal("4"),
    }
    values.update(kw)
    return StandardRow(id=id, **values)  # type: ignore[arg-type]


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=BEIJING)


def eod(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime.combine(dt.date(y, m, d), EOD, tzinfo=BEIJING)


ON = dt.date(2026, 9, 30)


# --- pick_standard -----------------------------------------------------------------------


def test_pick_most_specific_row():
    generic = row(1)
    by_channel = row(2, channel="gov_12345", basis=HOURS, amount=Decimal("168"))
    by_grade = row(3, grade="major", amount=Decimal("2"))
    by_category = row(4, sub_type="cmp_business")
    rows = [generic, by_channel, by_grade, by_category]
    assert pick_standard(rows, kind="complaint", stage="reply", on=ON) == generic
    assert pick_standard(rows, kind="complaint", stage="reply", on=ON, channel="gov_12345") == by_channel
    assert pick_standard(rows, kind="complaint", stage="reply", on=ON, grade="major") == by_grade
    # channel (2) beats grade (1); category (4) beats channel and grade together (3)
    assert (
        pick_standard(rows, kind="complaint", stage="reply", on=ON, channel="gov_12345", grade="major")
        == by_channel
    )
    picked = pick_standard(
        rows,
        kind="complaint",
        stage="reply",
        on=ON,
        channel="gov_12345",
        grade="major",
        category_codes=["cmp_business_tariff", "cmp_business"],
    )
    assert picked == by_category
    assert specificity(by_category) > specificity(by_channel) + specificity(by_grade)


def test_pick_ignores_other_kind_stage_and_non_matching_dimensions():
    rows = [
        row(1, kind="report"),
        row(2, stage="contact"),
        row(3, channel="media"),
        row(4, grade="serious"),
        row(5, sub_type="cmp_power"),
    ]
    assert pick_standard(rows, kind="complaint", stage="reply", on=ON, channel="hotline") is None
    assert pick_standard(rows, kind="report", stage="reply", on=ON) == rows[0]
    assert pick_standard([], kind="complaint", stage="reply", on=ON) is None


def test_pick_respects_effective_dates():
    old = row(1, effective_from=dt.date(2021, 1, 1), effective_to=dt.date(2026, 10, 1))
    new = row(2, amount=Decimal("3"), effective_from=dt.date(2026, 10, 1))
    rows = [old, new]
    assert pick_standard(rows, kind="complaint", stage="reply", on=dt.date(2026, 9, 30)) == old
    # effective_to is exclusive: on the first day of the new row only the new one is in force
    assert pick_standard(rows, kind="complaint", stage="reply", on=dt.date(2026, 10, 1)) == new
    assert pick_standard(rows, kind="complaint", stage="reply", on=dt.date(2020, 12, 31)) is None


def test_pick_ties_go_to_newest_then_lowest_id():
    a = row(7, effective_from=dt.date(2021, 1, 1))
    b = row(5, effective_from=dt.date(2024, 1, 1))
    c = row(6, effective_from=dt.date(2024, 1, 1))
    assert pick_standard([a, b, c], kind="complaint", stage="reply", on=ON) == b
    assert pick_standard([c, a, b], kind="complaint", stage="reply", on=ON) == b
    assert pick_standard([a, c], kind="complaint", stage="reply", on=ON) == c


# --- clock_deadline ----------------------------------------------------------------------


def test_working_days_across_national_day_2026():
    # Accepted Wed 2026-09-30 (day 0). 10-01..10-07 off; Thu 10-08 = 1, Fri 10-09 = 2,
    # Sat 10-10 (调休 make-up working day) = 3, Sun 10-11 off, Mon 10-12 = 4.
    start = at(2026, 9, 30, 16, 30)
    assert clock_deadline(start, WORKING_DAYS, Decimal("4"), CAL) == eod(2026, 10, 12)
    # 9 working days (reports): 10-13 = 5, 14 = 6, 15 = 7, 16 = 8, Mon 10-19 = 9
    assert clock_deadline(start, WORKING_DAYS, Decimal("9"), CAL) == eod(2026, 10, 19)
    # 1 working day: the first working day after the holiday
    assert clock_deadline(start, WORKING_DAYS, Decimal("1"), CAL) == eod(2026, 10, 8)


def test_working_days_count_the_sunday_make_up_day_before_national_day():
    # Fri 2026-09-18 (day 0): Sat 09-19 off, Sun 09-20 (调休) = 1, Mon 09-21 = 2
    assert clock_deadline(at(2026, 9, 18), WORKING_DAYS, Decimal("2"), CAL) == eod(2026, 9, 21)


def test_working_days_use_beijing_date_of_a_utc_timestamp():
    # 2026-09-29 17:00 UTC is already Wed 09-30 01:00 in Beijing: day 0 is the 30th
    start = dt.datetime(2026, 9, 29, 17, 0, tzinfo=dt.UTC)
    assert clock_deadline(start, WORKING_DAYS, Decimal("4"), CAL) == eod(2026, 10, 12)


def test_working_days_reject_fractions_and_unknown_basis():
    with pytest.raises(ValueError, match="whole days"):
        clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("1.5"), CAL)
    with pytest.raises(ValueError, match="unknown basis"):
        clock_deadline(at(2026, 9, 30), "weeks", Decimal("1"), CAL)


def test_hours_run_on_the_wall_clock_through_holidays():
    start = at(2026, 9, 30, 16, 30)
    assert clock_deadline(start, HOURS, Decimal("24"), CAL) == at(2026, 10, 1, 16, 30)
    assert clock_deadline(start, HOURS, Decimal("168"), CAL) == at(2026, 10, 7, 16, 30)
    assert clock_deadline(start, HOURS, Decimal("0.25"), CAL) == at(2026, 9, 30, 16, 45)


def test_override_turns_a_day_off_into_a_working_day():
    cal = WorkdayCalendar(overrides={dt.date(2026, 10, 7): True, dt.date(2026, 10, 9): False})
    # 10-07 = 1, 10-08 = 2, (10-09 off), 10-10 = 3, 10-12 = 4
    assert clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("4"), cal) == eod(2026, 10, 12)
    # 10-07 = 1, 10-08 = 2, 10-10 = 3
    assert clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("3"), cal) == eod(2026, 10, 10)
    assert clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("3"), CAL) == eod(2026, 10, 10)
    assert clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("2"), cal) == eod(2026, 10, 8)
    assert clock_deadline(at(2026, 9, 30), WORKING_DAYS, Decimal("2"), CAL) == eod(2026, 10, 9)


# --- warn_time / remaining_share -----------------------------------------------------------


def test_warn_time_is_the_share_of_the_wall_clock_allowed():
    start = at(2026, 11, 2, 9, 0)
    assert warn_time(start, start + dt.timedelta(hours=24), Decimal("0.75")) == at(2026, 11, 3, 3, 0)
    assert warn_time(start, start + dt.timedelta(minutes=15), Decimal("0.75")) == at(
        2026, 11, 2, 9, 11
    ) + dt.timedelta(seconds=15)
    due = eod(2026, 10, 12)
    w = warn_time(at(2026, 9, 30), due, Decimal("0.5"))
    assert at(2026, 9, 30) < w < due
    assert remaining_share(start, start, start + dt.timedelta(hours=4)) == 1.0
    assert remaining_share(start + dt.timedelta(hours=5), start, start + dt.timedelta(hours=4)) < 0
    assert remaining_share(start, start, start) == 0.0


# --- extend_for_pause ----------------------------------------------------------------------


def test_pause_on_an_hours_clock_adds_the_paused_time():
    due = at(2026, 11, 3, 9, 0)
    new = extend_for_pause(
        due, paused_from=at(2026, 11, 2, 10), paused_to=at(2026, 11, 2, 13, 30), basis=HOURS, calendar=CAL
    )
    assert new == due + dt.timedelta(hours=3, minutes=30)


def test_pause_within_one_day_moves_a_working_day_clock_nothing():
    due = eod(2026, 11, 6)
    new = extend_for_pause(
        due, paused_from=at(2026, 11, 3, 9), paused_to=at(2026, 11, 3, 17), basis=WORKING_DAYS, calendar=CAL
    )
    assert new == due


def test_pause_over_working_days_pushes_by_those_days():
    # paused Tue 11-03 → Thu 11-05: two working days began (11-04, 11-05); due Fri 11-06 → Tue 11-10
    due = eod(2026, 11, 6)
    new = extend_for_pause(
        due, paused_from=at(2026, 11, 3, 9), paused_to=at(2026, 11, 5, 9), basis=WORKING_DAYS, calendar=CAL
    )
    assert new == eod(2026, 11, 10)


def test_pause_over_a_weekend_moves_nothing():
    due = eod(2026, 11, 12)
    new = extend_for_pause(
        due, paused_from=at(2026, 11, 6, 18), paused_to=at(2026, 11, 8, 20), basis=WORKING_DAYS, calendar=CAL
    )
    assert new == due


def test_pause_over_national_day_counts_only_the_make_up_day():
    # Paused Wed 09-30 → Sun 10-11: the working days that began while paused are Thu 10-08,
    # Fri 10-09 and the 调休 Saturday 10-10 (three). Due Mon 10-12 → Thu 10-15.
    due = eod(2026, 10, 12)
    new = extend_for_pause(
        due, paused_from=at(2026, 9, 30, 17), paused_to=at(2026, 10, 11, 10), basis=WORKING_DAYS, calendar=CAL
    )
    assert new == eod(2026, 10, 15)
    # paused only over the holiday itself (10-01 → 10-07): no working day began, nothing moves
    new = extend_for_pause(
        due, paused_from=at(2026, 10, 1, 10), paused_to=at(2026, 10, 7, 22), basis=WORKING_DAYS, calendar=CAL
    )
    assert new == due


def test_pause_errors():
    with pytest.raises(ValueError, match="cannot end before"):
        extend_for_pause(
            eod(2026, 11, 6),
            paused_from=at(2026, 11, 3),
            paused_to=at(2026, 11, 2),
            basis=HOURS,
            calendar=CAL,
        )
    with pytest.raises(ValueError, match="unknown basis"):
        extend_for_pause(
            eod(2026, 11, 6),
            paused_from=at(2026, 11, 2),
            paused_to=at(2026, 11, 3),
            basis="weeks",
            calendar=CAL,
        )


# --- properties ------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=dt.datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=dt.datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(BEIJING),
)
days = st.integers(min_value=0, max_value=30)
hours = st.decimals(min_value=Decimal("0"), max_value=Decimal("400"), places=2)


@settings(max_examples=150, deadline=None)
@given(start=starts, n=days)
def test_property_working_day_deadline_ends_a_working_day_after_start(start, n):
    due = clock_deadline(start, WORKING_DAYS, Decimal(n), CAL)
    local = due.astimezone(BEIJING)
    assert due >= start
    assert local.time() == EOD
    assert CAL.is_workday(local.date())
    if n > 0:
        assert CAL.count_working_days(start.astimezone(BEIJING).date(), local.date()) == n


@settings(max_examples=150, deadline=None)
@given(start=starts, amount=hours)
def test_property_hours_deadline_never_before_start(start, amount):
    due = clock_deadline(start, HOURS, amount, CAL)
    assert due >= start
    assert due - start == dt.timedelta(hours=float(amount))


@settings(max_examples=100, deadline=None)
@given(start=starts, a=days, b=days)
def test_property_more_days_never_earlier(start, a, b):
    lo, hi = sorted((a, b))
    assert clock_deadline(start, WORKING_DAYS, Decimal(lo), CAL) <= clock_deadline(
        start, WORKING_DAYS, Decimal(hi), CAL
    )


@settings(max_examples=150, deadline=None)
@given(
    start=starts,
    n=st.integers(min_value=1, max_value=15),
    pause_after=st.integers(min_value=0, max_value=20 * 24 * 60),
    pause_len=st.integers(min_value=0, max_value=20 * 24 * 60),
    basis=st.sampled_from([WORKING_DAYS, HOURS]),
)
def test_property_pausing_never_shortens_a_deadline(start, n, pause_after, pause_len, basis):
    due = clock_deadline(start, basis, Decimal(n), CAL)
    paused_from = start + dt.timedelta(minutes=pause_after)
    paused_to = paused_from + dt.timedelta(minutes=pause_len)
    new = extend_for_pause(due, paused_from=paused_from, paused_to=paused_to, basis=basis, calendar=CAL)
    assert new >= due
    if basis == WORKING_DAYS:
        local = new.astimezone(BEIJING)
        assert local.time() == EOD
        assert CAL.is_workday(local.date())
