"""Test data of billing (factory_boy): bills with lines, issued or draft. Factories write
rows directly to set up *given* state; exercise behaviour through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone

from gridcare.billing.choices import BillLineKind, BillStatus
from gridcare.billing.models import Bill, BillLine
from gridcare.customers.tests.factories import AccountFactory

__all__ = ["BillFactory", "BillLineFactory", "issued_bill"]

TZ = dt.timezone(dt.timedelta(hours=8))


class BillFactory(factory.django.DjangoModelFactory):
    """电费账单: a draft bill for October 2026 of a new account (one energy line)."""

    class Meta:
        model = Bill

    number = factory.Sequence(lambda n: f"TB{n:010d}")
    account = factory.SubFactory(AccountFactory)
    period = dt.date(2026, 10, 1)
    period_start = dt.date(2026, 10, 1)
    period_end = dt.date(2026, 10, 31)
    tariff_code = "HEBS-RES-LV"
    kwh = Decimal("100.000")
    amount = Decimal("52.00")
    status = BillStatus.DRAFT
    created_at = factory.LazyFunction(timezone.now)


class BillLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BillLine

    bill = factory.SubFactory(BillFactory)
    seq = 1
    kind = BillLineKind.ENERGY
    item = "energy_tier1"
    kwh = Decimal("100.000")
    unit_price = Decimal("0.520000")
    amount = Decimal("52.00")


def issued_bill(*, due_date: dt.date = dt.date(2026, 11, 20), **kwargs: Any) -> Bill:
    """An issued bill (with one energy line matching its amount and kWh), due ``due_date``."""
    kwargs.setdefault("status", BillStatus.ISSUED)
    kwargs.setdefault(
        "issued_at", dt.datetime.combine(due_date - dt.timedelta(days=15), dt.time(9), tzinfo=TZ)
    )
    bill = BillFactory(due_date=due_date, **kwargs)
    # Lines go in before the bill is issued in real life; a trigger refuses changes after.
    BillLine.objects.create(
        bill=bill,
        seq=1,
        kind=BillLineKind.ENERGY,
        item="energy_tier1",
        kwh=bill.kwh,
        unit_price=Decimal("0.520000"),
        amount=bill.amount,
    )
    return bill
