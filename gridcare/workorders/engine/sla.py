"""SLA deadlines (服务时限). Pure Python: no Django import.

- :func:`pick_standard`: of the service standards in force, the one for an order's stage
  (most specific wins: a row naming the category, channel or grade beats a blank one).
- :func:`clock_deadline`: "within N working days" (end of the N-th working day after the
  event's Beijing date, the calendar's 调休 included) or "within N hours" (wall clock).
- :func:`warn_time`: the moment ``warn_ratio`` of the allowed time has passed.
- :func:`extend_for_pause`: the deadline after a pause. Hours: pushed by the paused wall-clock
  time. Working days: pushed by the working days that began while paused (a pause within
  one day moves nothing; a pause over a weekend moves nothing either).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from gridcare.core.engine.workdays import WorkdayCalendar, hours_deadline

WORKING_DAYS = "working_days"
HOURS = "hours"


@dataclass(frozen=True)
class StandardRow:
    """One service standard as plain data."""

    id: int
    code: str
    kind: str
    stage: str
    basis: str
    amount: Decimal
    sub_type: str = ""
    channel: str = ""
    grade: str = ""
    pausable: bool = False
    warn_ratio: Decimal = Decimal("0.75")
    effective_from: dt.date = dt.date(2000, 1, 1)
    effective_to: dt.date | None = None

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


def specificity(row: StandardRow) -> int:
    """How many optional dimensions the row names (category counts most)."""
    return (4 if row.sub_type else 0) + (2 if row.channel else 0) + (1 if row.grade else 0)


def pick_standard(
    rows: Iterable[StandardRow],
    *,
    kind: str,
    stage: str,
    on: dt.date,
    channel: str = "",
    grade: str = "",
    category_codes: Sequence[str] = (),
) -> StandardRow | None:
    """The standard for one stage of an order, or None when no row applies.

    A row matches when its kind and stage equal the order's and each of its optional fields
    is blank or equal to the order's (``sub_type`` may name any of ``category_codes``: the
    order's category and its ancestors). Ties in specificity go to the newest
    ``effective_from``, then the lowest id.
    """
    codes = set(category_codes)
    best: StandardRow | None = None
    best_key: tuple[int, dt.date, int] | None = None
    for row in rows:
        if row.kind != kind or row.stage != stage or not row.in_force(on):
            continue
        if row.sub_type and row.sub_type not in codes:
            continue
        if row.channel and row.channel != channel:
            continue
        if row.grade and row.grade != grade:
            continue
        key = (specificity(row), row.effective_from, -row.id)
        if best_key is None or key > best_key:
            best, best_key = row, key
    return best


def clock_deadline(start: dt.datetime, basis: str, amount: Decimal, calendar: WorkdayCalendar) -> dt.datetime:
    """The deadline of a clock started at ``start`` (aware) for ``amount`` of ``basis``."""
    if basis == WORKING_DAYS:
        if amount != amount.to_integral_value():
            raise ValueError("working-day standards are whole days")
        return calendar.working_day_deadline(start, int(amount))
    if basis == HOURS:
        return hours_deadline(start, float(amount))
    raise ValueError(f"unknown basis {basis!r}")


def warn_time(start: dt.datetime, due: dt.datetime, ratio: Decimal) -> dt.datetime:
    """``start`` plus ``ratio`` of the wall-clock time allowed (to the second)."""
    allowed = (due - start).total_seconds()
    return start + dt.timedelta(seconds=int(allowed * float(ratio)))


def extend_for_pause(
    due: dt.datetime,
    *,
    paused_from: dt.datetime,
    paused_to: dt.datetime,
    basis: str,
    calendar: WorkdayCalendar,
) -> dt.datetime:
    """The deadline after a pause from ``paused_from`` to ``paused_to`` (both aware)."""
    if paused_to < paused_from:
        raise ValueError("a pause cannot end before it starts")
    if basis == HOURS:
        return due + (paused_to - paused_from)
    if basis == WORKING_DAYS:
        tz = calendar.tz
        lost = calendar.count_working_days(paused_from.astimezone(tz).date(), paused_to.astimezone(tz).date())
        if lost == 0:
            return due
        day = calendar.add_working_days(due.astimezone(tz).date(), lost)
        return dt.datetime.combine(day, due.astimezone(tz).time(), tzinfo=tz)
    raise ValueError(f"unknown basis {basis!r}")


def remaining_share(now: dt.datetime, start: dt.datetime, due: dt.datetime) -> float:
    """The share of the allowed time still left at ``now`` (negative once breached); for
    colouring countdowns, not for deciding anything."""
    allowed = (due - start).total_seconds()
    if allowed <= 0:
        return 0.0
    return (due - now).total_seconds() / allowed
