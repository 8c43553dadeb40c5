"""Shared set-up of the billing-run tests: accounts with installed meters (through the asset
services) and their daily frozen readings written as given state."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Meter, Reading, ReadingException
from gridcare.metering.services.assets import meter_install, meter_register

TZ = dt.timezone(dt.timedelta(hours=8))
OCT = dt.date(2026, 10, 1)
OCT31 = dt.date(2026, 10, 31)
# October's opening and closing readings: a reading dated D is frozen at 00:00 of D, so
# October runs from the 1 October reading to the 1 November one.
OPENING = dt.date(2026, 10, 1)
CLOSING = dt.date(2026, 11, 1)

_serial = iter(range(1, 10**6))


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def new_meter(*, registers: tuple[str, ...] = ("total",), digits: int = 6, multiplier: str = "1") -> Meter:
    n = next(_serial)
    return meter_register(
        actor="test",
        asset_no=f"RM{n:06d}",
        barcode=f"RB{n:06d}",
        meter_type="three" if "reactive" in registers else "single",
        registers=list(registers),
        accuracy_class="2",
        manufactured_on=dt.date(2025, 1, 1),
        digits=digits,
        multiplier=Decimal(multiplier),
    )


def billable_account(
    *,
    tariff_code: str = "HEBS-RES-LV",
    registers: tuple[str, ...] = ("total",),
    digits: int = 6,
    multiplier: str = "1",
    start: str | None = "1000",
    end: str | None = "1150",
    installed_on: dt.date = dt.date(2026, 1, 1),
    **account: Any,
) -> tuple[Any, Meter]:
    """An account on ``tariff_code`` with a meter installed on ``installed_on`` and its
    total-register readings on 1 October (``start``) and 1 November (``end``), October's
    opening and closing readings."""
    later = {k: account.pop(k) for k in ("status", "closed_on", "suspended_on") if k in account}
    acct = AccountFactory(tariff_code=tariff_code, **account)
    meter = new_meter(registers=registers, digits=digits, multiplier=multiplier)
    meter_install(
        actor="test",
        meter=meter,
        account=acct,
        installed_at=at(installed_on),
        initial_readings=dict.fromkeys(registers, "0"),
    )
    if later:  # meters are installed only for active accounts: close or suspend afterwards
        type(acct).objects.filter(pk=acct.pk).update(**later)
        acct.refresh_from_db()
    values = {OPENING: start, CLOSING: end}
    for day, value in values.items():
        if value is not None:
            put_reading(meter, "total", day, value)
    return acct, meter


def put_reading(meter: Meter, register: str, day: dt.date, value: str, *, quality: str = "valid") -> None:
    Reading.objects.update_or_create(
        meter=meter,
        register=register,
        day=day,
        defaults={"value": Decimal(value), "source": "ami", "quality": quality},
    )


def open_exception(
    account: Any, meter: Meter, *, day_from: dt.date, day_to: dt.date, status: str = "open"
) -> None:
    ReadingException.objects.create(
        meter=meter,
        account=account,
        register="total",
        rule="spike",
        day_from=day_from,
        day_to=day_to,
        detail={},
        status=status,
        opened_at=timezone.now(),
    )
