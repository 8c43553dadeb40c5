"""What settled periods used of the metering readings: metering asks before it estimates
again the estimates of a gap (a back-fill inside an estimated gap, a clerk's edit), so
that an estimate an issued bill or a prepaid daily charge used never changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import polars as pl
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from gridcare.billing.choices import BillStatus
from gridcare.billing.models import Bill, PrepaidCharge
from gridcare.core.bulk import IN_BATCH
from gridcare.metering.models import Installation

SETTLED_SCHEMA = {"meter_id": pl.Int64, "settled_to": pl.Date}


def settled_reading_days(meter_ids: Iterable[int]) -> pl.DataFrame:
    """Per meter of ``meter_ids``: ``settled_to``, the last day whose reading a settled
    period used — an issued bill (its end reading is the one of the day after its
    ``period_end``) or a prepaid daily charge (the use of day D runs to the reading of
    D + 1) of an account the meter was installed at, within the installation (its first
    day to the day it was removed). Meters no such period used are left out.

    One query per 5,000 meters: each installation with its account's latest issued bill
    and latest charge (both found by their ``(account, …)`` unique indexes)."""
    ids = sorted({int(m) for m in meter_ids})
    latest_bill = (
        Bill.objects.filter(account_id=OuterRef("account_id"), status=BillStatus.ISSUED)
        .order_by("-period_end")
        .values("period_end")[:1]
    )
    latest_charge = (
        PrepaidCharge.objects.filter(account_id=OuterRef("account_id")).order_by("-day").values("day")[:1]
    )
    last: dict[int, dt.date] = {}
    for i in range(0, len(ids), IN_BATCH):
        rows = (
            Installation.objects.filter(meter_id__in=ids[i : i + IN_BATCH])
            .annotate(bill_end=Subquery(latest_bill), charge_end=Subquery(latest_charge))
            .filter(Q(bill_end__isnull=False) | Q(charge_end__isnull=False))
            .values_list("meter_id", "installed_at", "removed_at", "bill_end", "charge_end")
        )
        for meter_id, installed_at, removed_at, bill_end, charge_end in rows:
            used = max(d for d in (bill_end, charge_end) if d is not None) + dt.timedelta(days=1)
            if removed_at is not None:
                used = min(used, timezone.localtime(removed_at).date())
            if used < timezone.localtime(installed_at).date():
                continue  # the account's periods ended before this meter came
            if used > last.get(meter_id, dt.date.min):
                last[meter_id] = used
    return pl.DataFrame({"meter_id": list(last), "settled_to": list(last.values())}, schema=SETTLED_SCHEMA)
