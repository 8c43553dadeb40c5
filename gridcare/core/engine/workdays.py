"""The working-day calendar (工作日历). Pure computation, no Django import.

Whether a date is a working day is decided, in order, by:

1. an explicit override (the ``core.CalendarDay`` table: a company can enter the State
   Council's holiday notice for a year before the package knows it, or correct a day);
2. the ``chinesecalendar`` package, which carries the statutory holidays and the 调休
   make-up working days for the years it knows;
3. for a year neither knows: Monday–Friday are working days, Saturday and Sunday are not.

Deadline conventions (used by every SLA in GridCare):

- "within N working days" from an event: the day of the event (its date in Beijing time,
  whatever zone the timestamp carries) is day 0 and is not counted; the deadline is the
  end (23:59:59 Asia/Shanghai) of the N-th working day after it.
- "within N hours": wall-clock hours, holidays included.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import chinese_calendar

END_OF_DAY = dt.time(23, 59, 59)
BEIJING = ZoneInfo("Asia/Shanghai")
MAX_SCAN_DAYS = 3660  # ten years: a safety bound on every loop below


@functools.lru_cache(maxsize=16384)
def package_workday(day: dt.date) -> bool | None:
    """What the ``chinesecalendar`` package says about ``day``; None when it does not know the year.

    Kept per process: the package's tables do not change while it runs, and every SLA
    deadline asks about the same few weeks (the package checks each date's range first)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


def package_years() -> tuple[int, int]:
    """The first and last year the installed ``chinesecalendar`` package knows."""
    years = sorted({d.year for d in chinese_calendar.holidays})
    return years[0], years[-1]


def unknown_years(start: dt.date, end: dt.date, overrides: Mapping[dt.date, bool]) -> list[int]:
    """The years of ``start``..``end`` the calendar only guesses: outside the package's years
    and without a single override row (their holidays not entered yet: Monday to Friday
    would count as working days, the statutory holidays included)."""
    first, last = package_years()
    entered = {day.year for day in overrides}
    return [
        year
        for year in range(start.year, end.year + 1)
        if (year < first or year > last) and year not in entered
    ]


@dataclass(frozen=True)
class WorkdayCalendar:
    """A working-day calendar: overrides first, then the package, then plain weekends."""

    overrides: Mapping[dt.date, bool] = field(default_factory=dict)
    package: Callable[[dt.date], bool | None] = package_workday
    tz: dt.tzinfo = BEIJING

    def is_workday(self, day: dt.date) -> bool:
        """True when ``day`` is a working day."""
        if day in self.overrides:
            return self.overrides[day]
        known = self.package(day)
        if known is not None:
            return known
        return day.weekday() < 5

    def source(self, day: dt.date) -> str:
        """Which layer decided ``day``: ``override``, ``package`` or ``weekend_rule``."""
        if day in self.overrides:
            return "override"
        if self.package(day) is not None:
            return "package"
        return "weekend_rule"

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The N-th working day after ``start`` (``start`` itself is not counted).

        ``n == 0`` returns ``start`` when it is a working day, else the next working day.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        day = start
        if n == 0:
            for _ in range(MAX_SCAN_DAYS):
                if self.is_workday(day):
                    return day
                day += dt.timedelta(days=1)
            raise ValueError("no working day found within ten years")
        counted = 0
        for _ in range(MAX_SCAN_DAYS + n):
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                counted += 1
                if counted == n:
                    return day
        raise ValueError("no working day found within ten years")

    def count_working_days(self, start: dt.date, end: dt.date) -> int:
        """Working days in the half-open span (start, end]; negative when end is before start."""
        if end < start:
            return -self.count_working_days(end, start)
        if (end - start).days > MAX_SCAN_DAYS * 10:
            raise ValueError("span too long")
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count

    def working_day_deadline(self, start: dt.datetime, n: int) -> dt.datetime:
        """Deadline "within N working days" of an event at ``start`` (aware datetime).

        The end (23:59:59 in the calendar's zone, Asia/Shanghai) of the N-th working day
        after the event's local date. ``start`` may carry any zone: timestamps read from
        the database are in UTC, and 2026-02-12 20:00 UTC is already the 13th in Beijing.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        day = self.add_working_days(start.astimezone(self.tz).date(), n)
        return dt.datetime.combine(day, END_OF_DAY, tzinfo=self.tz)


def hours_deadline(start: dt.datetime, hours: float | int) -> dt.datetime:
    """Deadline "within N hours" on the wall clock, holidays included (aware datetime)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if hours < 0:
        raise ValueError("hours must be >= 0")
    utc = start.astimezone(dt.UTC) + dt.timedelta(hours=hours)
    return utc.astimezone(start.tzinfo)
