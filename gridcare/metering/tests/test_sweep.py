"""The nightly missing-days sweep: meters that stop reporting open one exception per gap."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command

from gridcare.core.models import AuditEvent
from gridcare.metering.models import Reading, ReadingException
from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.readings import reading_exceptions_resolve, reading_missing_sweep
from gridcare.metering.tests.readings_fixtures import import_lines, installed_meter, series_lines

pytestmark = pytest.mark.django_db

INSTALLED = dt.date(2026, 3, 1)


def _read(meter, register: str, days: range) -> None:
    Reading.objects.bulk_create(
        Reading(meter=meter, register=register, day=INSTALLED + dt.timedelta(days=d), value=d, source="ami")
        for d in days
    )


def test_a_meter_that_stopped_reporting_gets_one_trailing_missing_exception() -> None:
    # given a meter read daily up to 2026-03-11 (the default gap limit auto-estimates 3 days)
    meter = installed_meter("3110000000901", installed_on=INSTALLED)
    _read(meter, "total", range(1, 11))
    # when the sweep runs as of 2026-03-20
    counts = reading_missing_sweep(as_of=dt.date(2026, 3, 20))
    # then one missing-days exception spans 03-12 … 03-20, on the meter's account
    assert counts == {"opened": 1, "extended": 0}
    exc = ReadingException.objects.get()
    assert (exc.rule, exc.register, exc.day_from, exc.day_to) == (
        "missing",
        "total",
        dt.date(2026, 3, 12),
        dt.date(2026, 3, 20),
    )
    assert exc.account_id == meter.installations.get().account_id
    assert exc.detail == {"days": 9, "trailing": True}


def test_the_next_sweep_extends_the_open_exception_instead_of_opening_another() -> None:
    meter = installed_meter("3110000000902", installed_on=INSTALLED)
    _read(meter, "total", range(1, 11))
    reading_missing_sweep(as_of=dt.date(2026, 3, 20))
    counts = reading_missing_sweep(as_of=dt.date(2026, 3, 21))
    assert counts == {"opened": 0, "extended": 1}
    exc = ReadingException.objects.get()
    assert exc.day_to == dt.date(2026, 3, 21)
    event = AuditEvent.objects.get(action="reading_exception.extend", object_id=str(exc.pk))
    assert (event.before, event.after) == ({"day_to": "2026-03-20"}, {"day_to": "2026-03-21"})


def test_an_import_after_a_longer_silence_extends_the_sweeps_exception(tmp_path) -> None:
    # given a meter read up to 03-11 and the sweep of 03-15 (missing 03-12 … 03-15)
    meter = installed_meter("3110000000907", installed_on=INSTALLED)
    _read(meter, "total", range(1, 11))
    reading_missing_sweep(as_of=dt.date(2026, 3, 15))
    (sweep,) = ReadingException.objects.all()

    # when the meter comes back with readings from 03-21 on (nothing between)
    job = import_lines(tmp_path, series_lines("3110000000907", dt.date(2026, 3, 21), ["20", "21", "22"]))

    # then the sweep's exception, still open, covers the whole gap up to 03-20 and is audited
    (exc,) = ReadingException.objects.all()
    assert (exc.pk, exc.status, exc.day_from, exc.day_to) == (
        sweep.pk,
        "open",
        dt.date(2026, 3, 12),
        dt.date(2026, 3, 20),
    )
    assert exc.detail == {"days": 9}
    assert job.exceptions_opened == 0
    event = AuditEvent.objects.get(action="reading_import.extend_exceptions")
    assert (event.object_id, event.before, event.after) == (
        str(job.pk),
        {str(exc.pk): {"day_to": "2026-03-15"}},
        {str(exc.pk): {"day_to": "2026-03-20"}},
    )

    # and estimating it fills every missing day
    reading_exceptions_resolve(actor="test", exception_ids=[exc.pk], action="estimate")
    days = set(Reading.objects.filter(meter=meter, day__range=(exc.day_from, exc.day_to)).values_list("day"))
    assert len(days) == 9


def test_short_gaps_and_removed_or_inactive_meters_open_nothing() -> None:
    # a meter 3 days behind (within the auto-estimate limit) and a meter on a closed account
    fresh = installed_meter("3110000000903", installed_on=INSTALLED)
    _read(fresh, "total", range(1, 17))  # last read 03-17
    closed = installed_meter("3110000000904", installed_on=INSTALLED)
    account = closed.installations.get().account
    account.status, account.closed_on = "closed", dt.date(2026, 3, 5)
    account.save()
    assert reading_missing_sweep(as_of=dt.date(2026, 3, 20)) == {"opened": 0, "extended": 0}
    assert not ReadingException.objects.exists()


def test_a_meter_never_read_counts_from_its_installation_and_every_register_is_checked() -> None:
    meter = installed_meter("3110000000905", registers=("total", "peak", "valley"), installed_on=INSTALLED)
    Reading.objects.all().delete()  # not even the installation reading
    reading_missing_sweep(as_of=dt.date(2026, 3, 20))
    rows = set(ReadingException.objects.values_list("register", "day_from"))
    assert rows == {(r, dt.date(2026, 3, 2)) for r in ("total", "peak", "valley")}
    assert meter.pk == ReadingException.objects.first().meter_id


def test_the_command_reports_what_it_did() -> None:
    meter = installed_meter("3110000000906", installed_on=INSTALLED)
    _read(meter, "total", range(1, 5))
    out = io.StringIO()
    call_command("readings", "sweep", "--as-of", "2026-03-20", stdout=out)
    assert "1 exceptions opened, 0 extended" in out.getvalue()


def test_the_sweep_locks_and_writes_its_meters_a_batch_at_a_time(monkeypatch) -> None:
    # given three silent meters, one with an open exception from an earlier sweep, and
    # sweep batches of two meters
    meters = [installed_meter(f"311000000091{n}", installed_on=INSTALLED) for n in range(3)]
    reading_missing_sweep(as_of=dt.date(2026, 3, 10))
    ReadingException.objects.exclude(meter=meters[2]).delete()
    monkeypatch.setattr(readings_service, "SWEEP_BATCH_METERS", 2)
    locked: list[list[int]] = []
    lock = readings_service.lock_meter_writes

    def record(meter_ids):  # type: ignore[no-untyped-def]
        locked.append(sorted(int(m) for m in meter_ids))
        lock(meter_ids)

    monkeypatch.setattr(readings_service, "lock_meter_writes", record)

    # when the sweep runs
    counts = reading_missing_sweep(as_of=dt.date(2026, 3, 20))

    # then each batch of meters is locked before it is written, in meter order, and the
    # result is the sweep's as in one pass: two gaps opened, the third extended
    ids = sorted(m.pk for m in meters)
    assert locked == [ids[:2], ids[2:]]
    assert counts == {"opened": 2, "extended": 1}
    assert set(ReadingException.objects.values_list("meter_id", "day_from", "day_to")) == {
        (pk, dt.date(2026, 3, 2), dt.date(2026, 3, 20)) for pk in ids
    }
