"""Shared set-up of the reading tests: installed meters through the asset services and
small reading files. Given state only; behaviour is exercised through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.choices import ReadingQuality, ReadingSource
from gridcare.metering.models import Meter, Reading
from gridcare.metering.services.assets import meter_install, meter_register
from gridcare.metering.services.readings import reading_import_create, reading_import_run

TZ = dt.timezone(dt.timedelta(hours=8))
DAY0 = dt.date(2026, 1, 1)
#: The (source, quality) of an estimated reading.
EST = (ReadingSource.ESTIMATED, ReadingQuality.ESTIMATED)


def d(n: int) -> dt.date:
    """Day ``n`` after ``DAY0``."""
    return DAY0 + dt.timedelta(days=n)


def at(day: dt.date) -> dt.datetime:
    """10:00 Beijing time on ``day``."""
    return dt.datetime.combine(day, dt.time(10), tzinfo=TZ)


def stock_meter(
    asset_no: str, *, registers: tuple[str, ...] = ("total",), digits: int = 6, multiplier: str = "1"
) -> Meter:
    """A class-2 meter made on 2025-01-01, registered and in stock (e.g. the new meter of
    an exchange)."""
    return meter_register(
        actor="test",
        asset_no=asset_no,
        barcode=f"B{asset_no}",
        meter_type="three" if "reactive" in registers else "single",
        registers=list(registers),
        accuracy_class="2",
        manufactured_on=dt.date(2025, 1, 1),
        digits=digits,
        multiplier=Decimal(multiplier),
    )


def installed_meter(
    asset_no: str,
    *,
    registers: tuple[str, ...] = ("total",),
    digits: int = 6,
    multiplier: str = "1",
    installed_on: dt.date = DAY0,
    initial: dict[str, str] | None = None,
    account: Any = None,
) -> Meter:
    """A meter registered and installed for a new active account on ``installed_on``."""
    meter = stock_meter(asset_no, registers=registers, digits=digits, multiplier=multiplier)
    meter_install(
        actor="test",
        meter=meter,
        account=account or AccountFactory(),
        installed_at=at(installed_on),
        initial_readings=initial or dict.fromkeys(registers, "0"),
    )
    meter.refresh_from_db()
    return meter


def write_csv(directory: Path, lines: list[str], name: str = "readings.csv") -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def series_lines(
    asset_no: str, start: dt.date, values: list[str | None], register: str = "total"
) -> list[str]:
    """One CSV line per day from ``start``; ``None`` leaves the day out (a gap)."""
    return [
        f"{asset_no},{register},{start + dt.timedelta(days=i)},{v}"
        for i, v in enumerate(values)
        if v is not None
    ]


def import_lines(
    tmp_path: Path, lines: list[str], *, channel: str = "ami", name: str = "readings.csv"
) -> Any:
    """Write ``meter,register,day,value`` + ``lines`` and run the import synchronously."""
    path = write_csv(tmp_path, ["meter,register,day,value", *lines], name)
    job = reading_import_create(actor="test", source_name=name, content=path, channel=channel)
    return reading_import_run(import_id=job.pk, path=job.stored_path)


def now_day() -> dt.date:
    return timezone.localdate()


def stored_by_day(meter: Meter) -> dict[int, tuple[Decimal, str, str]]:
    """The meter's total readings by day number (the installation's day-0 row left out)."""
    return {
        (r.day - DAY0).days: (r.value, r.source, r.quality)
        for r in Reading.objects.filter(meter=meter, register="total", day__gte=d(1))
    }
