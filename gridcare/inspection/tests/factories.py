"""Test data of the inspection area: accounts on a transformer area with a meter and daily
total-register readings that produce a given daily kWh series. Rows are written directly to
set up *given* state; behaviour is exercised through the services."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from gridcare.customers.choices import CustomerClass
from gridcare.customers.models import Account, Transformer
from gridcare.customers.tests.factories import AccountFactory, ServicePointFactory, TransformerFactory
from gridcare.metering.choices import MeterStatus, MeterType, ReadingQuality, ReadingSource, Register
from gridcare.metering.models import Installation, Meter, Reading

__all__ = ["metered_account", "transformer_area"]

TZ = ZoneInfo("Asia/Shanghai")
_serial = itertools.count(1)


def transformer_area(**kwargs: Any) -> Transformer:
    """A public transformer area (公变台区)."""
    kwargs.setdefault("is_dedicated", False)
    return TransformerFactory(**kwargs)


def metered_account(
    *,
    daily_kwh: Sequence[float],
    start: dt.date,
    transformer: Transformer | None = None,
    customer_class: str = CustomerClass.URBAN_RESIDENTIAL,
    multiplier: Decimal = Decimal("1"),
    digits: int = 8,
    first_reading: Decimal = Decimal("1000"),
    **account_fields: Any,
) -> Account:
    """An active account on ``transformer`` (a new area when None) whose meter, installed at
    00:00 of ``start``, reads ``first_reading`` on ``start`` and then advances by
    ``daily_kwh[i] / multiplier`` over day ``start + i`` (the reading dated D is frozen at
    00:00 of D, so day i's use shows in the reading of day i + 1). A NaN/None entry leaves
    the reading at the end of that day missing (so that day and the next have no use)."""
    point = ServicePointFactory(transformer=transformer or transformer_area())
    account = AccountFactory(service_point=point, customer_class=customer_class, **account_fields)
    n = next(_serial)
    meter = Meter.objects.create(
        asset_no=f"INSP{n:08d}",
        barcode=f"IB{n:010d}",
        meter_type=MeterType.SINGLE_PHASE,
        registers=[Register.TOTAL.value],
        digits=digits,
        multiplier=multiplier,
        accuracy_class="2",
        manufactured_on=dt.date(2018, 1, 1),
        status=MeterStatus.INSTALLED,
    )
    installed = dt.datetime.combine(start, dt.time(0), tzinfo=TZ)
    Installation.objects.create(
        meter=meter,
        service_point=point,
        account=account,
        installed_at=installed,
        initial_readings={Register.TOTAL.value: str(first_reading)},
    )
    rollover = Decimal(10**digits)
    value = first_reading
    rows = [
        Reading(
            meter=meter,
            register=Register.TOTAL,
            day=start,
            value=value,
            source=ReadingSource.AMI,
            quality=ReadingQuality.VALID,
        )
    ]
    for i, kwh in enumerate(daily_kwh):
        if kwh is None or kwh != kwh:  # None or NaN: no reading that day
            continue
        value = (value + (Decimal(str(kwh)) / multiplier).quantize(Decimal("0.001"))) % rollover
        rows.append(
            Reading(
                meter=meter,
                register=Register.TOTAL,
                day=start + dt.timedelta(days=i + 1),
                value=value,
                source=ReadingSource.AMI,
                quality=ReadingQuality.VALID,
            )
        )
    Reading.objects.bulk_create(rows, batch_size=2000)
    return account
