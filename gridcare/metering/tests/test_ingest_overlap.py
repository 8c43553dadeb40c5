"""Two imports of overlapping files at once on PostgreSQL (e.g. the daily AMI file and a
head-end back-fill, 补召): every reading is stored once, a real reading wins over an
estimate whichever import wrote it first, and the second import waits for the first one's
chunk instead of deadlocking on its rows."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ImportStatus, ReadingQuality
from gridcare.metering.models import Reading, ReadingImport
from gridcare.metering.services import readings as readings_service
from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def run_side_by_side(**imports: Callable[[], ReadingImport]) -> dict[str, ReadingImport]:
    """Run each import on its own thread (named after its key) and connection; re-raise
    the first error."""
    results: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], ReadingImport]) -> None:
        try:
            results[name] = fn()
        except BaseException as exc:  # noqa: BLE001 — handed back to the test thread
            results[name] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=item, name=item[0]) for item in imports.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for value in results.values():
        if isinstance(value, BaseException):
            raise value
    return results


def stored(meter: Any) -> dict[dt.date, tuple[Decimal, str]]:
    return {r.day: (r.value, r.quality) for r in Reading.objects.filter(meter=meter, day__gte=day(1))}


def test_a_backfill_checked_before_a_concurrent_import_stored_estimates_replaces_them(tmp_path, monkeypatch):
    # given: file A (days 1-10 without 5 and 6: it estimates them) and back-fill B (the real
    # days 5 and 6), B validated before A's estimates are stored and written after
    meter = installed_meter("M1")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_lines = [f"M1,total,{day(i)},{10 * i}" for i in range(1, 11) if i not in (5, 6)]
    b_lines = [f"M1,total,{day(5)},41.500", f"M1,total,{day(6)},58.250"]
    b_checked, a_done = threading.Event(), threading.Event()
    write_chunk = readings_service._write_chunk

    def b_writes_after_a(reading_import, work, installs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "b":
            b_checked.set()
            a_done.wait(20)
        return write_chunk(reading_import, work, installs)

    monkeypatch.setattr(readings_service, "_write_chunk", b_writes_after_a)

    def import_a() -> ReadingImport:
        try:
            b_checked.wait(20)
            return import_lines(tmp_path / "a", a_lines, name="a.csv")
        finally:
            a_done.set()

    # when
    jobs = run_side_by_side(a=import_a, b=lambda: import_lines(tmp_path / "b", b_lines, name="b.csv"))

    # then: the real readings replaced A's estimates, counted and audited on B
    readings = stored(meter)
    assert readings[day(5)] == (Decimal("41.500"), ReadingQuality.VALID)
    assert readings[day(6)] == (Decimal("58.250"), ReadingQuality.VALID)
    b = jobs["b"]
    assert (b.status, b.inserted_rows, b.duplicate_rows) == (ImportStatus.DONE, 2, 0)
    event = AuditEvent.objects.get(action="reading_import.replace_estimates")
    assert event.object_id == str(b.pk)
    key5, key6 = (f"{meter.pk}/total/{day(n)}" for n in (5, 6))
    assert event.before == {
        key5: {"value": "50.000", "source": "estimated", "quality": "estimated"},
        key6: {"value": "60.000", "source": "estimated", "quality": "estimated"},
    }
    assert event.after == {
        key5: {"value": "41.500", "source": "ami", "quality": "valid"},
        key6: {"value": "58.250", "source": "ami", "quality": "valid"},
    }

    # and importing the back-fill again finds both stored
    again = import_lines(tmp_path / "b", b_lines, name="b-again.csv")
    assert (again.inserted_rows, again.duplicate_rows) == (0, 2)
    assert stored(meter) == readings


def test_two_overlapping_imports_at_once_both_finish(tmp_path, monkeypatch):
    # given: A (days 1, 5, 6: it estimates 2-4) and B (days 3 and 6); B starts writing while
    # A, its readings written, is about to insert its estimates (before the fix: B waited on
    # A's day 6 while holding day 3, A's estimate of day 3 waited on B, one was killed)
    meter = installed_meter("M1")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a_lines = [f"M1,total,{day(1)},10", f"M1,total,{day(5)},50", f"M1,total,{day(6)},60"]
    b_lines = [f"M1,total,{day(3)},30", f"M1,total,{day(6)},60"]
    a_readings_in = threading.Event()
    write_chunk = readings_service._write_chunk
    insert_estimates = readings_service._insert_estimates

    def b_writes_while_a_is_writing(reading_import, work, installs):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "b":
            a_readings_in.wait(20)
        return write_chunk(reading_import, work, installs)

    def a_pauses_before_its_estimates(reading_import, estimates):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "a":
            a_readings_in.set()
            time.sleep(0.5)  # B is writing now
        return insert_estimates(reading_import, estimates)

    monkeypatch.setattr(readings_service, "_write_chunk", b_writes_while_a_is_writing)
    monkeypatch.setattr(readings_service, "_insert_estimates", a_pauses_before_its_estimates)

    # when
    jobs = run_side_by_side(
        a=lambda: import_lines(tmp_path / "a", a_lines, name="a.csv"),
        b=lambda: import_lines(tmp_path / "b", b_lines, name="b.csv"),
    )

    # then: both done; B's day 3 replaced A's estimate, its day 6 was a duplicate
    assert connection.vendor == "postgresql"
    assert [jobs[k].status for k in "ab"] == [ImportStatus.DONE, ImportStatus.DONE]
    assert (jobs["b"].inserted_rows, jobs["b"].duplicate_rows) == (1, 1)
    readings = stored(meter)
    assert sorted(readings) == [day(1), day(2), day(3), day(4), day(5), day(6)]
    assert readings[day(3)] == (Decimal("30.000"), ReadingQuality.VALID)
    assert readings[day(2)][1] == readings[day(4)][1] == ReadingQuality.ESTIMATED
