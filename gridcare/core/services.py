"""Writes of the shared kernel: login throttling and calendar overrides."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import LoginThrottled
from gridcare.core.models import CalendarDay, LoginThrottle
from gridcare.core.workdays import calendar_overrides


def _throttle_keys(username: str, ip: str | None) -> list[str]:
    keys = [f"user:{username.strip().lower()}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


def login_throttle_check(*, username: str, ip: str | None) -> None:
    """Raise :class:`LoginThrottled` when the user name or the address is locked out."""
    now = timezone.now()
    locked = LoginThrottle.objects.filter(key__in=_throttle_keys(username, ip), locked_until__gt=now).exists()
    if locked:
        raise LoginThrottled()


def login_failure_record(*, username: str, ip: str | None) -> None:
    """Count a failed login; after ``GRIDCARE_LOGIN_MAX_FAILURES`` within the lock window
    the user name (and the address, at 4× that count) is locked for the window."""
    now = timezone.now()
    window = dt.timedelta(minutes=settings.GRIDCARE_LOGIN_LOCK_MINUTES)
    limit = settings.GRIDCARE_LOGIN_MAX_FAILURES
    with transaction.atomic():
        for key in _throttle_keys(username, ip):
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(key=key)
            if row.first_failure_at is None or now - row.first_failure_at > window:
                row.failures = 0
                row.first_failure_at = now
            row.failures = F("failures") + 1
            row.save(update_fields=["failures", "first_failure_at"])
            row.refresh_from_db(fields=["failures"])
            key_limit = limit if key.startswith("user:") else limit * 4
            if row.failures >= key_limit:
                row.locked_until = now + window
                row.save(update_fields=["locked_until"])


def login_success_record(*, username: str) -> None:
    """A successful login clears the user name's failure counter."""
    LoginThrottle.objects.filter(key__in=_throttle_keys(username, None)).delete()


def calendar_day_set(
    *, actor: Any, date: dt.date, is_workday: bool, name: str = "", source: str = ""
) -> CalendarDay:
    """Enter or change a working-calendar override (e.g. a year's 放假安排)."""
    with transaction.atomic():
        existing = CalendarDay.objects.select_for_update().filter(date=date).first()
        before = snapshot(existing, ("is_workday", "name", "source")) if existing else None
        day, _ = CalendarDay.objects.update_or_create(
            date=date, defaults={"is_workday": is_workday, "name": name, "source": source}
        )
        audit_record(
            actor=actor,
            obj=day,
            action="calendar.set",
            before=before,
            after=snapshot(day, ("is_workday", "name", "source")),
        )
        transaction.on_commit(calendar_overrides.clear)
    calendar_overrides.clear()
    return day
