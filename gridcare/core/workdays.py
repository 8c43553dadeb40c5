"""The working-day calendar with the company's override table loaded (see engine/workdays.py)."""

from __future__ import annotations

import datetime as dt

from gridcare.core.engine.workdays import WorkdayCalendar, hours_deadline, unknown_years
from gridcare.core.models import CalendarDay
from gridcare.core.refcache import RefCache

__all__ = [
    "CALENDAR_WARNING_DAYS",
    "add_working_days",
    "calendar_gaps",
    "count_working_days",
    "hours_deadline",
    "working_calendar",
    "working_day_deadline",
]


def _load_overrides() -> dict[dt.date, bool]:
    return dict(CalendarDay.objects.values_list("date", "is_workday"))


#: How far ahead a year whose holidays are not entered yet is reported (deadlines of up to
#: 15 working days and the SLA of a few weeks reach into it).
CALENDAR_WARNING_DAYS = 45

calendar_overrides: RefCache[dict[dt.date, bool]] = RefCache("calendar overrides", _load_overrides)


def working_calendar() -> WorkdayCalendar:
    """The calendar in force: package holidays plus every ``CalendarDay`` override."""
    return WorkdayCalendar(overrides=calendar_overrides.get())


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The N-th working day after ``start`` under the calendar in force."""
    return working_calendar().add_working_days(start, n)


def count_working_days(start: dt.date, end: dt.date) -> int:
    """Working days in (start, end] under the calendar in force."""
    return working_calendar().count_working_days(start, end)


def working_day_deadline(start: dt.datetime, n: int) -> dt.datetime:
    """End of the N-th working day after the event at ``start``."""
    return working_calendar().working_day_deadline(start, n)


def calendar_gaps(today: dt.date | None = None, *, days: int = CALENDAR_WARNING_DAYS) -> list[int]:
    """Years from ``today`` to ``days`` ahead whose holiday arrangement is neither in the
    package nor entered in the override table: the dashboard and ``gridcare calendar``
    warn about them (docs/calendar.md)."""
    from django.utils import timezone

    today = today or timezone.localdate()
    return unknown_years(today, today + dt.timedelta(days=days), calendar_overrides.get())
