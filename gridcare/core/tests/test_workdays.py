"""The working-day calendar (工作日历): statutory holidays with 调休 make-up days from the
``chinesecalendar`` package, the weekend rule for unknown years, and the override table.

Facts checked against chinesecalendar 1.11 (the State Council notice for 2026):
春节 2026 — off Sun 15 … Mon 23 February; make-up working days Sat 14 and Sat 28 February.
国庆 2026 — off Thu 1 … Wed 7 October; make-up working days Sun 20 September and
Sat 10 October (中秋 is Fri 25 … Sun 27 September).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.engine.workdays import (
    END_OF_DAY,
    WorkdayCalendar,
    hours_deadline,
    package_workday,
    package_years,
)

BEIJING = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
D = dt.date
CAL = WorkdayCalendar()

SPRING_FESTIVAL_2026_OFF = [D(2026, 2, 15) + dt.timedelta(days=i) for i in range(9)]
NATIONAL_DAY_2026_OFF = [D(2026, 10, 1) + dt.timedelta(days=i) for i in range(7)]
MAKE_UP_2026 = [D(2026, 2, 14), D(2026, 2, 28), D(2026, 9, 20), D(2026, 10, 10)]
FIRST_UNKNOWN_YEAR = package_years()[1] + 1


# --- the package's view of 2026 --------------------------------------------------------


def test_the_installed_package_knows_2026_and_not_the_year_after() -> None:
    first, last = package_years()
    assert first <= 2004
    assert last >= 2026
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(FIRST_UNKNOWN_YEAR, 1, 4))
    assert package_workday(D(FIRST_UNKNOWN_YEAR, 1, 4)) is None


@pytest.mark.parametrize("day", SPRING_FESTIVAL_2026_OFF + NATIONAL_DAY_2026_OFF)
def test_2026_statutory_holidays_are_days_off(day: dt.date) -> None:
    assert CAL.is_workday(day) is False
    assert CAL.source(day) == "package"


@pytest.mark.parametrize("day", MAKE_UP_2026)
def test_2026_make_up_weekend_days_are_working_days(day: dt.date) -> None:
    assert day.weekday() >= 5
    assert CAL.is_workday(day) is True


def test_the_spring_festival_span_in_the_package() -> None:
    feb = [D(2026, 2, d) for d in range(10, 29)]
    assert [d for d in feb if not CAL.is_workday(d)] == SPRING_FESTIVAL_2026_OFF


# --- add_working_days / count_working_days --------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (D(2026, 2, 12), 1, D(2026, 2, 13)),  # Thu → Fri
        (D(2026, 2, 13), 1, D(2026, 2, 14)),  # Fri → the make-up Saturday
        (D(2026, 2, 13), 2, D(2026, 2, 24)),  # … then over the whole holiday
        (D(2026, 2, 14), 1, D(2026, 2, 24)),
        (D(2026, 2, 16), 1, D(2026, 2, 24)),  # from inside the holiday
        (D(2026, 2, 27), 1, D(2026, 2, 28)),  # Fri → make-up Saturday
        (D(2026, 2, 28), 1, D(2026, 3, 2)),  # Sat → Mon (Sunday 1 March is off)
        (D(2026, 2, 13), 7, D(2026, 3, 2)),
        (D(2026, 9, 18), 1, D(2026, 9, 20)),  # Fri → the make-up Sunday
        (D(2026, 9, 24), 1, D(2026, 9, 28)),  # over 中秋
        (D(2026, 9, 30), 1, D(2026, 10, 8)),  # over 国庆
        (D(2026, 10, 9), 1, D(2026, 10, 10)),  # Fri → the make-up Saturday
        (D(2026, 10, 10), 1, D(2026, 10, 12)),
        (D(2026, 9, 30), 5, D(2026, 10, 13)),  # 8, 9, 10, 12, 13
    ],
)
def test_add_working_days_across_2026_holidays(start: dt.date, n: int, expected: dt.date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_add_zero_working_days() -> None:
    assert CAL.add_working_days(D(2026, 2, 13), 0) == D(2026, 2, 13)  # a working day: itself
    assert CAL.add_working_days(D(2026, 2, 15), 0) == D(2026, 2, 24)  # a holiday: the next one
    assert CAL.add_working_days(D(2026, 2, 28), 0) == D(2026, 2, 28)  # make-up Saturday


def test_negative_working_days_are_refused() -> None:
    with pytest.raises(ValueError, match="n must be"):
        CAL.add_working_days(D(2026, 2, 13), -1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (D(2026, 2, 13), D(2026, 2, 13), 0),
        (D(2026, 2, 13), D(2026, 2, 24), 2),  # 14, 24
        (D(2026, 2, 13), D(2026, 3, 2), 7),  # 14, 24, 25, 26, 27, 28, 2
        (D(2026, 2, 14), D(2026, 2, 23), 0),
        (D(2026, 9, 30), D(2026, 10, 12), 4),  # 8, 9, 10, 12
        (D(2026, 9, 18), D(2026, 10, 8), 9),  # 20-24, 28-30, 8
        (D(2026, 3, 2), D(2026, 2, 13), -7),  # reversed span: negative
    ],
)
def test_count_working_days(start: dt.date, end: dt.date, expected: int) -> None:
    assert CAL.count_working_days(start, end) == expected


dates = st.dates(min_value=D(2004, 1, 1), max_value=D(FIRST_UNKNOWN_YEAR + 3, 12, 31))


@given(dates, st.integers(min_value=1, max_value=60))
def test_add_working_days_lands_on_a_working_day_n_working_days_later(start: dt.date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert end > start
    assert CAL.is_workday(end)
    assert CAL.count_working_days(start, end) == n
    # and it is the first such day: the day before has one working day fewer
    assert CAL.count_working_days(start, end - dt.timedelta(days=1)) == n - 1


@given(dates)
def test_add_zero_working_days_is_the_first_working_day_from_start(start: dt.date) -> None:
    day = CAL.add_working_days(start, 0)
    assert CAL.is_workday(day)
    assert CAL.count_working_days(start, day) == (0 if day == start else 1)


@given(dates, st.integers(min_value=-400, max_value=400))
def test_count_working_days_is_antisymmetric(a: dt.date, offset: int) -> None:
    b = a + dt.timedelta(days=offset)
    assert CAL.count_working_days(a, b) == -CAL.count_working_days(b, a)


# --- deadlines --------------------------------------------------------------------------


def test_working_day_deadline_is_end_of_day_in_beijing() -> None:
    # Given a complaint taken on Friday 13 February 2026 at 10:00 Beijing time
    start = dt.datetime(2026, 2, 13, 10, 0, tzinfo=BEIJING)
    # When it must be answered within 2 working days
    deadline = CAL.working_day_deadline(start, 2)
    # Then the deadline is the end of Tuesday 24 February, in Beijing time
    assert deadline == dt.datetime(2026, 2, 24, 23, 59, 59, tzinfo=BEIJING)
    assert deadline.utcoffset() == dt.timedelta(hours=8)
    assert deadline.timetz().replace(tzinfo=None) == END_OF_DAY


def test_working_day_deadline_uses_the_beijing_date_of_a_utc_timestamp() -> None:
    # Given an event stored in UTC: 2026-02-12 20:00 UTC is Friday the 13th, 04:00 in Beijing
    start = dt.datetime(2026, 2, 12, 20, 0, tzinfo=UTC)
    # Then day 0 is the 13th, as it is for the same instant in Beijing time
    expected = dt.datetime(2026, 2, 24, 23, 59, 59, tzinfo=BEIJING)
    assert CAL.working_day_deadline(start, 2) == expected
    assert CAL.working_day_deadline(start.astimezone(BEIJING), 2) == expected
    assert CAL.working_day_deadline(start, 2).tzinfo == BEIJING


def test_working_day_deadline_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.working_day_deadline(dt.datetime(2026, 2, 13, 10, 0), 1)  # noqa: DTZ001


@given(
    st.datetimes(
        # hypothesis takes naive bounds and attaches the zone itself
        min_value=dt.datetime(2004, 1, 1),  # noqa: DTZ001
        max_value=dt.datetime(2030, 12, 31),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.integers(min_value=0, max_value=30),
)
def test_working_day_deadline_is_always_the_end_of_a_working_day(start: dt.datetime, n: int) -> None:
    deadline = CAL.working_day_deadline(start, n)
    assert deadline.tzinfo == BEIJING
    assert deadline.time() == END_OF_DAY
    assert CAL.is_workday(deadline.date())
    assert deadline > start


def test_hours_deadline_counts_holiday_hours_on_the_wall_clock() -> None:
    # Given an outage reported on the eve of the Spring Festival holiday
    start = dt.datetime(2026, 2, 14, 18, 0, tzinfo=BEIJING)
    # Then "within 48 hours" runs straight through the holiday
    assert hours_deadline(start, 48) == dt.datetime(2026, 2, 16, 18, 0, tzinfo=BEIJING)
    assert hours_deadline(start, 1.5) == dt.datetime(2026, 2, 14, 19, 30, tzinfo=BEIJING)
    assert hours_deadline(start, 0) == start


def test_hours_deadline_keeps_the_zone_of_start() -> None:
    start = dt.datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    deadline = hours_deadline(start, 24)
    assert deadline == dt.datetime(2026, 10, 2, 0, 0, tzinfo=UTC)
    assert deadline.tzinfo == UTC


def test_hours_deadline_refuses_naive_and_negative() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hours_deadline(dt.datetime(2026, 2, 14, 18, 0), 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="hours"):
        hours_deadline(dt.datetime(2026, 2, 14, 18, 0, tzinfo=BEIJING), -1)


# --- a year the package does not know: weekend rule + overrides ---------------------------


def test_unknown_year_falls_back_to_monday_to_friday() -> None:
    y = FIRST_UNKNOWN_YEAR
    week = [D(y, 3, 1) + dt.timedelta(days=i) for i in range(7)]
    assert [CAL.is_workday(d) for d in week] == [d.weekday() < 5 for d in week]
    assert {CAL.source(d) for d in week} == {"weekend_rule"}


def test_overrides_come_first_in_every_year() -> None:
    # Given overrides for a known year (a local correction) and for an unknown one
    cal = WorkdayCalendar(overrides={D(2026, 2, 14): False, D(2027, 2, 6): True})
    # Then they win over the package and over the weekend rule
    assert cal.is_workday(D(2026, 2, 14)) is False
    assert cal.source(D(2026, 2, 14)) == "override"
    assert cal.is_workday(D(2027, 2, 6)) is True  # a Saturday
    assert cal.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 24)


def test_the_package_layer_is_replaceable() -> None:
    # A calendar that knows nothing: only the weekend rule and the overrides.
    cal = WorkdayCalendar(overrides={D(2026, 10, 1): False}, package=lambda day: None)
    assert cal.is_workday(D(2026, 10, 2)) is True  # a Friday, a holiday in the package
    assert cal.is_workday(D(2026, 10, 1)) is False
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 2)


# --- the calendar in force: core.workdays with the CalendarDay table ----------------------


@pytest.mark.django_db
def test_working_calendar_reads_the_override_table() -> None:
    from gridcare.core.services import calendar_day_set
    from gridcare.core.workdays import (
        add_working_days,
        count_working_days,
        working_calendar,
        working_day_deadline,
    )

    y = 2027
    # Given the 2027 New Year notice is not in the package: 1 January (a Friday) counts
    assert add_working_days(D(2026, 12, 31), 1) == D(y, 1, 1)
    # When the company enters the notice: 1 January off, Saturday 9 January worked
    calendar_day_set(actor="test", date=D(y, 1, 1), is_workday=False, name="元旦")
    calendar_day_set(actor="test", date=D(y, 1, 9), is_workday=True, name="元旦调休上班")
    # Then every deadline follows it
    assert working_calendar().overrides == {D(y, 1, 1): False, D(y, 1, 9): True}
    assert working_calendar().source(D(y, 1, 1)) == "override"
    assert add_working_days(D(2026, 12, 31), 1) == D(y, 1, 4)
    assert add_working_days(D(y, 1, 8), 1) == D(y, 1, 9)
    assert count_working_days(D(2026, 12, 31), D(y, 1, 11)) == 7  # 4-8, 9, 11
    assert working_day_deadline(dt.datetime(2026, 12, 31, 9, 0, tzinfo=BEIJING), 1) == (
        dt.datetime(y, 1, 4, 23, 59, 59, tzinfo=BEIJING)
    )


@pytest.mark.django_db
def test_calendar_day_set_changes_an_existing_override() -> None:
    from gridcare.core.models import CalendarDay
    from gridcare.core.services import calendar_day_set
    from gridcare.core.workdays import add_working_days

    calendar_day_set(actor="test", date=D(2027, 1, 1), is_workday=False, name="元旦")
    calendar_day_set(actor="test", date=D(2027, 1, 1), is_workday=True, name="更正")
    assert list(CalendarDay.objects.values_list("date", "is_workday", "name")) == [
        (D(2027, 1, 1), True, "更正")
    ]
    assert add_working_days(D(2026, 12, 31), 1) == D(2027, 1, 1)


def test_unknown_years_are_those_outside_the_package_without_an_override() -> None:
    from gridcare.core.engine.workdays import unknown_years

    first, last = package_years()
    assert unknown_years(D(last, 11, 1), D(last, 12, 31), {}) == []
    assert unknown_years(D(last, 12, 1), D(last + 1, 1, 15), {}) == [last + 1]
    # one entered day of the year counts as the year being entered
    assert unknown_years(D(last, 12, 1), D(last + 1, 1, 15), {D(last + 1, 1, 1): False}) == []
    assert unknown_years(D(first - 1, 12, 1), D(first, 1, 5), {}) == [first - 1]


@pytest.mark.django_db
def test_the_dashboard_and_the_command_warn_of_a_year_not_entered(client, make_user) -> None:
    import io

    from django.core.management import call_command

    from gridcare.core.services import calendar_day_set
    from gridcare.core.workdays import calendar_gaps

    _first, last = package_years()
    december = D(last, 12, 20)
    assert calendar_gaps(D(last, 10, 1)) == []
    assert calendar_gaps(december) == [last + 1]

    client.force_login(make_user(roles=["hotline_agent"]))
    from unittest import mock

    with mock.patch("django.utils.timezone.localdate", return_value=december):
        page = client.get("/").content.decode()
        err = io.StringIO()
        call_command("calendar", "add", "2026-12-30", "1", stdout=io.StringIO(), stderr=err)
    assert "message--warning" in page
    assert str(last + 1) in page
    assert f"the holidays of {last + 1} are not known yet" in err.getvalue()

    calendar_day_set(actor="test", date=D(last + 1, 1, 1), is_workday=False, name="元旦")
    assert calendar_gaps(december) == []


@pytest.mark.django_db
def test_calendar_show_refuses_a_month_that_does_not_exist() -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("calendar", "show", "2026-13")
