"""Shared reads of readings, import jobs and reading exceptions (抄表异常), scoped by role.

Staff with the metering view permission see everything; portal customers and other users
see nothing here (the portal reads its own accounts through its own selectors).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from gridcare.core.roles import staff_has_perm
from gridcare.customers.models import Account
from gridcare.metering.choices import OPEN_EXCEPTION_STATUSES, ReadingQuality, Register
from gridcare.metering.engine.estimate import is_rollover, register_range
from gridcare.metering.models import ImportRejection, Meter, Reading, ReadingException, ReadingImport

__all__ = [
    "accounts_held_from_billing",
    "import_rejections",
    "meter_daily_consumption",
    "meter_register_readings",
    "reading_exceptions_queue",
    "reading_import_get",
    "reading_imports_recent",
]


def reading_exceptions_queue(
    *,
    user: Any,
    rule: str | None = None,
    area_type: str | None = None,
    min_age_days: int | None = None,
    status: str | None = "open",
) -> QuerySet[ReadingException]:
    """The reading-exception work queue (抄表异常队列), oldest first, filtered by rule,
    the account's area type (城区/农村/边远), minimum age in days and status
    (``None`` or ``""``: every status)."""
    if not staff_has_perm(user, "metering.view_readingexception"):
        return ReadingException.objects.none()
    qs = ReadingException.objects.select_related(
        "meter", "account__service_point__transformer", "resolved_by"
    ).order_by("opened_at", "id")
    if status:
        qs = qs.filter(status=status)
    if rule:
        qs = qs.filter(rule=rule)
    if area_type:
        qs = qs.filter(account__service_point__transformer__area_type=area_type)
    if min_age_days:
        qs = qs.filter(opened_at__lte=timezone.now() - dt.timedelta(days=min_age_days))
    return qs


def accounts_held_from_billing() -> QuerySet[Account]:
    """Accounts billing must hold: those with a reading exception still open or sent for
    re-read (accepted, estimated or released exceptions no longer hold)."""
    held = ReadingException.objects.filter(status__in=OPEN_EXCEPTION_STATUSES, account__isnull=False)
    return Account.objects.filter(pk__in=held.values("account_id"))


def meter_daily_consumption(*, meter_id: int, start: dt.date, end: dt.date) -> list[tuple[dt.date, Decimal]]:
    """Daily energy (kWh) of a meter from its total register, for each day from ``start`` to
    ``end`` that has the readings on both of its ends. A 日冻结 reading dated D is frozen at
    00:00 of D, so the use *of* day D is (reading of D+1 − reading of D) × multiplier — the
    same convention as ``inspection.services.consumption.accounts_daily_kwh`` and the
    interval curves. Suspect readings are left out (a day next to one has no bar); a
    decrease counts through when it is a rollover by VEE's rule (``engine.estimate.
    is_rollover``) and otherwise leaves the day without a bar (a meter exchange starts a
    new meter's series)."""
    meter = Meter.objects.only("digits", "multiplier").get(pk=meter_id)
    rows = list(
        Reading.objects.filter(
            meter_id=meter_id,
            register=Register.TOTAL,
            day__range=(start, end + dt.timedelta(days=1)),
        )
        .exclude(quality=ReadingQuality.SUSPECT)
        .order_by("day")
        .values_list("day", "value")
    )
    modulus = register_range(meter.digits)
    out: list[tuple[dt.date, Decimal]] = []
    for (day, value), (next_day, next_value) in zip(rows, rows[1:], strict=False):
        if day > end or (next_day - day).days != 1:
            continue
        before, after = int(value * 1000), int(next_value * 1000)
        if after >= before:
            used = after - before
        elif is_rollover(before, after, modulus):
            used = after + modulus - before
        else:  # went backwards without a rollover (a bad read accepted as read): no bar
            continue
        out.append((day, (Decimal(used) / 1000 * meter.multiplier).quantize(Decimal("0.001"))))
    return out


def reading_imports_recent(user: Any, *, limit: int = 50) -> QuerySet[ReadingImport]:
    """The newest import jobs (with who started them), for the import-job page."""
    if not staff_has_perm(user, "metering.view_readingimport"):
        return ReadingImport.objects.none()
    return ReadingImport.objects.select_related("created_by").order_by("-created_at", "-id")[:limit]


def meter_register_readings(*, user: Any, meter_id: int, start: dt.date, end: dt.date) -> list[Reading]:
    """Every stored reading of one meter between ``start`` and ``end`` (newest day first, then
    register): the meter page's register table."""
    if not staff_has_perm(user, "metering.view_meter"):
        return []
    return list(
        Reading.objects.filter(meter_id=meter_id, day__range=(start, end)).order_by("-day", "register")
    )


def reading_import_get(*, user: Any, import_id: int) -> ReadingImport | None:
    """One import job (with who started it), or None when it does not exist or the user may
    not see import jobs."""
    if not staff_has_perm(user, "metering.view_readingimport"):
        return None
    return ReadingImport.objects.select_related("created_by").filter(pk=import_id).first()


def import_rejections(*, user: Any, reading_import: ReadingImport) -> QuerySet[ImportRejection]:
    """The rejected rows of one import job in file order."""
    if not staff_has_perm(user, "metering.view_readingimport"):
        return ImportRejection.objects.none()
    return ImportRejection.objects.filter(reading_import=reading_import).order_by("line_no", "id")
