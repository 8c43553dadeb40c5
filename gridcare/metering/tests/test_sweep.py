"""The nightly missing-days sweep: meters that stop reporting open one exception per gap."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


# How the sweep reads: first the readings of the last ``auto_estimate_max_days`` (3) days up
# to ``as_of``, then, for the registers with nothing in them, their true last day.
AS_OF = dt.date(2026, 3, 20)  # the window is 03-17 … 03-20


def _gaps() -> set[tuple[str, str, dt.date, dt.date, int]]:
    """(meter, register, day_from, day_to, days) of every exception."""
    return {
        (e.meter.asset_no, e.register, e.day_from, e.day_to, e.detail["days"])
        for e in ReadingException.objects.select_related("meter")
    }


def test_a_last_reading_just_outside_the_recent_window_is_missing_and_one_on_its_edge_is_not() -> None:
    # given one meter last read on 03-16 (4 days before as_of) and one on 03-17 (3 days)
    _read(installed_meter("3110000000921", installed_on=INSTALLED), "total", range(1, 16))
    _read(installed_meter("3110000000922", installed_on=INSTALLED), "total", range(1, 17))
    # when the sweep runs as of 03-20
    counts = reading_missing_sweep(as_of=AS_OF)
    # then only the first gets a gap, from the day after its last reading
    assert counts == {"opened": 1, "extended": 0}
    assert _gaps() == {("3110000000921", "total", dt.date(2026, 3, 17), AS_OF, 4)}


def test_a_register_the_meter_carries_but_never_read_counts_from_installation() -> None:
    # given a meter carrying total and peak, total read every day, peak never (not even at
    # installation)
    meter = installed_meter("3110000000923", registers=("total", "peak"), installed_on=INSTALLED)
    Reading.objects.filter(register="peak").delete()
    _read(meter, "total", range(1, 20))
    # when the sweep runs
    reading_missing_sweep(as_of=AS_OF)
    # then peak is missing from the day after installation; total is not
    assert _gaps() == {("3110000000923", "peak", dt.date(2026, 3, 2), AS_OF, 19)}


def test_readings_after_as_of_do_not_count() -> None:
    # given a meter read 03-02 … 03-05 and again from 03-21, and a meter read only from 03-21
    back = installed_meter("3110000000924", installed_on=INSTALLED)
    _read(back, "total", [*range(1, 5), *range(20, 25)])
    later = installed_meter("3110000000925", installed_on=INSTALLED)
    Reading.objects.filter(meter=later).delete()
    _read(later, "total", range(20, 25))
    # when the sweep runs as of 03-20
    reading_missing_sweep(as_of=AS_OF)
    # then each is missing up to 03-20: from its last reading before, or from installation
    assert _gaps() == {
        ("3110000000924", "total", dt.date(2026, 3, 6), AS_OF, 15),
        ("3110000000925", "total", dt.date(2026, 3, 2), AS_OF, 19),
    }


def test_registers_silent_longer_than_the_window_get_the_day_after_their_own_last_reading() -> None:
    # given a meter whose total is read every day but whose peak stopped after 03-08 and
    # valley after 03-05, and a meter whose total stopped after 03-10 (with an older gap)
    tou = installed_meter("3110000000926", registers=("total", "peak", "valley"), installed_on=INSTALLED)
    _read(tou, "total", range(1, 20))
    _read(tou, "peak", range(1, 8))
    _read(tou, "valley", range(1, 5))
    single = installed_meter("3110000000927", installed_on=INSTALLED)
    _read(single, "total", [1, 2, 3, 6, 7, 8, 9])
    # when the sweep runs
    reading_missing_sweep(as_of=AS_OF)
    # then each silent register's gap starts the day after that register's last reading
    assert _gaps() == {
        ("3110000000926", "peak", dt.date(2026, 3, 9), AS_OF, 12),
        ("3110000000926", "valley", dt.date(2026, 3, 6), AS_OF, 15),
        ("3110000000927", "total", dt.date(2026, 3, 11), AS_OF, 10),
    }


def _reads(queries: CaptureQueriesContext) -> tuple[int, int]:
    """The queries that read readings: (window scans, backward probes)."""
    sqls = [q["sql"] for q in queries.captured_queries if '"metering_reading"' in q["sql"]]
    probes = sum("LIMIT 1" in sql for sql in sqls)
    return len(sqls) - probes, probes


def test_the_sweep_reads_the_window_once_a_register_and_probes_only_the_silent_meters() -> None:
    # given meters read up to as_of and up to the window's first day (03-17), on two registers
    fresh = installed_meter("3110000000928", registers=("total", "peak"), installed_on=INSTALLED)
    _read(fresh, "total", range(1, 20))
    Reading.objects.filter(register="peak").update(day=dt.date(2026, 3, 17))
    _read(installed_meter("3110000000929", installed_on=INSTALLED), "total", range(1, 17))
    # when the sweep runs: then it reads each register's window once and probes nothing
    with CaptureQueriesContext(connection) as queries:
        assert reading_missing_sweep(as_of=AS_OF) == {"opened": 0, "extended": 0}
    assert _reads(queries) == (2, 0)

    # given a meter last read the day before the window (03-16)
    _read(installed_meter("3110000000930", installed_on=INSTALLED), "total", range(1, 16))
    # when the sweep runs: then one probe finds its last day
    with CaptureQueriesContext(connection) as queries:
        assert reading_missing_sweep(as_of=AS_OF) == {"opened": 1, "extended": 0}
    assert _reads(queries) == (2, 1)

    # given two more meters never read, on total and valley
    installed_meter("3110000000931", registers=("total", "valley"), installed_on=INSTALLED)
    installed_meter("3110000000932", installed_on=INSTALLED)
    Reading.objects.filter(meter__asset_no__in=["3110000000931", "3110000000932"]).delete()
    # when the sweep runs: then one probe a register finds the last days of all its silent meters
    with CaptureQueriesContext(connection) as queries:
        assert reading_missing_sweep(as_of=AS_OF) == {"opened": 3, "extended": 0}
    assert _reads(queries) == (3, 2)
    assert {g[:3] for g in _gaps()} == {
        ("3110000000930", "total", dt.date(2026, 3, 17)),
        ("3110000000931", "total", dt.date(2026, 3, 2)),
        ("3110000000931", "valley", dt.date(2026, 3, 2)),
        ("3110000000932", "total", dt.date(2026, 3, 2)),
    }
