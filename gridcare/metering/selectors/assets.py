"""Shared reads of the meter assets: search, detail with installation history, the current
installation, the effective class policy and the list of meters due for periodic
verification (周期检定) or replacement (轮换). Scoped by role: staff with
``metering.view_meter`` see every meter; anyone else (portal customers included) sees none.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import NotFound, ValidationFailed
from gridcare.core.roles import staff_has_perm
from gridcare.metering.choices import MeterStatus
from gridcare.metering.models import Installation, Meter, MeterClassPolicy

__all__ = [
    "DueMeter",
    "DueReason",
    "add_months",
    "meter_class_policy_at",
    "meter_current_installation",
    "meter_get",
    "meters_due_for_verification",
    "meters_search",
    "meters_visible_to",
]

# Month-end clamping in ``add_months`` can make a due date up to 3 days earlier than the
# plain "same day N months later"; the database pre-filter widens its cut-off by this much
# and the exact test runs in Python.
_MONTH_END_SLACK = dt.timedelta(days=3)


class DueReason(models.TextChoices):
    """Why a meter is on the due list."""

    PERIODIC = "periodic verification", _("Periodic verification (周期检定)")
    REPLACEMENT = "replacement", _("Replacement (轮换)")


@dataclass(frozen=True)
class DueMeter:
    """One row of the due list: the meter, the account it serves, when and why it is due."""

    meter: Meter
    account_number: str | None
    due_on: dt.date
    reason: DueReason


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months; a day past the end of the target month
    becomes its last day (31 Aug + 6 months = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def meters_visible_to(user: Any) -> QuerySet[Meter]:
    """Meters ``user`` may see: all for staff with ``metering.view_meter``, else none."""
    if staff_has_perm(user, "metering.view_meter"):
        return Meter.objects.all()
    return Meter.objects.none()


def _open_installations() -> QuerySet[Installation]:
    return Installation.objects.filter(removed_at__isnull=True)


def meters_search(*, user: Any, q: str = "", status: str | None = None) -> QuerySet[Meter]:
    """电能表查询 by asset number, barcode (both: contains) or the 户号 of the account the
    meter is installed for (prefix); optionally one lifecycle status. Each meter carries
    ``current_account_number`` (None when not installed)."""
    qs = meters_visible_to(user)
    if status:
        if status not in MeterStatus.values:
            raise ValidationFailed(_("Choose one of the listed values."), field="status")
        qs = qs.filter(status=status)
    q = (q or "").strip()
    if q:
        by_account = _open_installations().filter(account__number__startswith=q).values("meter_id")
        qs = qs.filter(Q(asset_no__icontains=q) | Q(barcode__icontains=q) | Q(pk__in=by_account))
    current_account = _open_installations().filter(meter=OuterRef("pk")).values("account__number")[:1]
    return qs.annotate(current_account_number=Subquery(current_account)).order_by("asset_no")


def meter_get(*, user: Any, meter_id: int) -> Meter:
    """One meter with its installation history, newest first (account, service point and
    transformer area loaded). NotFound when it does not exist or the user may not see it."""
    history = Installation.objects.select_related(
        "account", "service_point", "service_point__transformer"
    ).order_by("-installed_at", "-id")
    meter = (
        meters_visible_to(user)
        .prefetch_related(Prefetch("installations", queryset=history))
        .filter(pk=meter_id)
        .first()
    )
    if meter is None:
        raise NotFound()
    return meter


def meter_current_installation(meter: Meter) -> Installation | None:
    """The meter's open installation, or None. Uses the prefetched history of
    ``meter_get`` when present (no query)."""
    prefetched = getattr(meter, "_prefetched_objects_cache", {})
    if "installations" in prefetched:
        return next((i for i in meter.installations.all() if i.removed_at is None), None)
    return (
        _open_installations()
        .select_related("account", "service_point", "service_point__transformer")
        .filter(meter=meter)
        .first()
    )


def meter_class_policy_at(accuracy_class: str, day: dt.date) -> MeterClassPolicy | None:
    """The class policy (allowed error, verification and replacement periods) in force on
    ``day``: the newest row of that class whose ``effective_from`` is not after it."""
    return (
        MeterClassPolicy.objects.filter(accuracy_class=accuracy_class, effective_from__lte=day)
        .order_by("-effective_from")
        .first()
    )


def _policies_at(day: dt.date) -> dict[str, MeterClassPolicy]:
    policies: dict[str, MeterClassPolicy] = {}
    for policy in MeterClassPolicy.objects.filter(effective_from__lte=day).order_by(
        "accuracy_class", "-effective_from"
    ):
        policies.setdefault(policy.accuracy_class, policy)
    return policies


def meters_due_for_verification(*, user: Any, on: dt.date) -> list[DueMeter]:
    """周期检定/轮换 list: installed meters due on ``on`` under the class policy in force on
    that day.

    - periodic verification: (last verification, or manufacture if never verified)
      + ``verification_interval_months`` ≤ ``on``;
    - replacement: manufacture + ``replacement_years`` ≤ ``on``.

    One row per meter; when both apply, replacement wins (a meter to be replaced is not
    verified first) and its due date is the replacement date. Meters of a class without a
    policy in force are not listed. Sorted by due date, then asset number.
    """
    if not staff_has_perm(user, "metering.view_meter"):
        return []
    policies = _policies_at(on)
    if not policies:
        return []
    cond = Q()
    for cls, policy in policies.items():
        verify_cutoff = add_months(on, -policy.verification_interval_months) + _MONTH_END_SLACK
        replace_cutoff = add_months(on, -12 * policy.replacement_years) + _MONTH_END_SLACK
        cond |= Q(accuracy_class=cls) & (
            Q(last_verified_on__lte=verify_cutoff)
            | Q(last_verified_on__isnull=True, manufactured_on__lte=verify_cutoff)
            | Q(manufactured_on__lte=replace_cutoff)
        )
    candidates = (
        Meter.objects.filter(cond, status=MeterStatus.INSTALLED)
        .prefetch_related(
            Prefetch(
                "installations",
                queryset=_open_installations().select_related("account"),
                to_attr="open_installations",
            )
        )
        .order_by("asset_no")
    )
    rows: list[DueMeter] = []
    for meter in candidates:
        policy = policies[meter.accuracy_class]
        replace_on = add_months(meter.manufactured_on, 12 * policy.replacement_years)
        verify_on = add_months(
            meter.last_verified_on or meter.manufactured_on, policy.verification_interval_months
        )
        if replace_on <= on:
            due_on, reason = replace_on, DueReason.REPLACEMENT
        elif verify_on <= on:
            due_on, reason = verify_on, DueReason.PERIODIC
        else:
            continue
        open_installations = meter.open_installations
        account_number = open_installations[0].account.number if open_installations else None
        rows.append(DueMeter(meter=meter, account_number=account_number, due_on=due_on, reason=reason))
    rows.sort(key=lambda row: (row.due_on, row.meter.asset_no))
    return rows


@dataclass(frozen=True)
class AccountMetering:
    """What the customer 360 view shows of one account's metering."""

    installations: list[Installation]
    open_exceptions: int


def metering_for_accounts(*, user: Any, account_ids: list[int]) -> dict[int, AccountMetering] | None:
    """Per account: its installations (open first, then newest) and the number of reading
    exceptions holding it from billing. None when ``user`` may not see meters (2 queries)."""
    if not staff_has_perm(user, "metering.view_meter"):
        return None
    from gridcare.metering.choices import OPEN_EXCEPTION_STATUSES
    from gridcare.metering.models import ReadingException

    installs: dict[int, list[Installation]] = {pk: [] for pk in account_ids}
    rows = (
        Installation.objects.filter(account_id__in=account_ids)
        .select_related("meter")
        .order_by(models.F("removed_at").desc(nulls_first=True), "-installed_at")
    )
    for inst in rows:
        installs[inst.account_id].append(inst)
    counts = dict(
        ReadingException.objects.filter(account_id__in=account_ids, status__in=OPEN_EXCEPTION_STATUSES)
        .order_by()
        .values_list("account_id")
        .annotate(n=models.Count("id"))
    )
    return {
        pk: AccountMetering(installations=installs[pk], open_exceptions=int(counts.get(pk, 0)))
        for pk in account_ids
    }
