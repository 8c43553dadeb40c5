"""A clerk's write to readings while an import writes the same meters, on PostgreSQL: the
clerk's edit, estimate or accept takes the import's write locks on the meters first, in
the same global order, so it waits for the import's chunk (and the import for it) instead
of the two locking rows in opposite orders and one being killed as a deadlock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from gridcare.metering.choices import ExceptionStatus, ImportStatus, ReadingQuality, VeeRule
from gridcare.metering.models import Reading, ReadingException
from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.readings import reading_edit, reading_exceptions_resolve
from gridcare.metering.tests.readings_fixtures import d, import_lines, installed_meter, series_lines

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


class Worker(threading.Thread):
    """Runs ``fn`` on its own thread and connection; keeps its result or its error."""

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 — handed back to the test thread
            self.error = exc
        finally:
            connections.close_all()

    def outcome(self) -> Any:
        self.join(60)
        assert not self.is_alive(), f"{self.name} did not finish"
        if self.error is not None:
            raise self.error
        return self.result


def backend_waiting_on_a_lock(kind: str | None = None, timeout: float = 8.0) -> bool:
    """Whether another connection comes to wait on a lock (of ``kind``, e.g. ``advisory``,
    or any) within ``timeout`` seconds."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    )
    params: list[str] = []
    if kind:
        sql += " AND wait_event = %s"
        params.append(kind)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


@pytest.fixture
def meter(tmp_path):
    """M1 read 10 kWh a day on days 1–15, days 6–10 missing (a missing-days exception) and
    day 13 one kWh below day 12 (a decreasing exception, the reading suspect)."""
    meter = installed_meter("M1")
    values: list[str | None] = [str(10 * n) for n in range(1, 16)]
    values[5:10] = [None] * 5
    values[12] = "119"
    import_lines(tmp_path, series_lines("M1", d(1), values), name="a.csv")
    return meter


def clerk_action(action: str, meter: Any) -> Callable[[], Any]:
    if action == "edit":
        return lambda: reading_edit(
            actor="clerk", meter_id=meter.pk, register="total", day=d(3), value=Decimal("30.5"), reason="补抄"
        )
    rule = VeeRule.MISSING if action == "estimate" else VeeRule.DECREASING
    exc = ReadingException.objects.get(meter=meter, rule=rule)
    return lambda: reading_exceptions_resolve(actor="clerk", exception_ids=[exc.pk], action=action)


@pytest.mark.parametrize("action", ["edit", "estimate", "accept"])
def test_a_clerk_write_waits_for_the_import_chunk_holding_the_meter(tmp_path, monkeypatch, meter, action):
    # given an import of day 16 paused inside its chunk's transaction, the meter's write
    # locks taken (``_lock_chunk_meters``), its readings not yet written
    locked, release = threading.Event(), threading.Event()
    insert_readings = readings_service._insert_readings

    def pause_inside_the_chunk(reading_import, readings):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "import":
            locked.set()
            release.wait(30)
        return insert_readings(reading_import, readings)

    monkeypatch.setattr(readings_service, "_insert_readings", pause_inside_the_chunk)
    (tmp_path / "b").mkdir()
    importer = Worker("import", lambda: import_lines(tmp_path / "b", [f"M1,total,{d(16)},160"], name="b.csv"))
    clerk = Worker("clerk", clerk_action(action, meter))
    try:
        importer.start()
        assert locked.wait(20)

        # when the clerk acts on the same meter
        clerk.start()

        # then the clerk waits for the import's lock on the meter (before the fix it wrote
        # at once, taking row locks in its own order)
        assert backend_waiting_on_a_lock("advisory")
        assert clerk.is_alive()
    finally:
        release.set()

    # and once the chunk commits, both are done
    job = importer.outcome()
    clerk.outcome()
    assert (job.status, job.inserted_rows) == (ImportStatus.DONE, 1)
    rows = {r.day: r for r in Reading.objects.filter(meter=meter, day__gte=d(1))}
    assert rows[d(16)].value == Decimal("160.000")
    if action == "edit":
        assert (rows[d(3)].value, rows[d(3)].quality) == (Decimal("30.500"), ReadingQuality.EDITED)
    elif action == "estimate":
        assert [rows[d(n)].quality for n in range(6, 11)] == [ReadingQuality.ESTIMATED] * 5
        assert ReadingException.objects.get(rule=VeeRule.MISSING).status == ExceptionStatus.ESTIMATED
    else:
        assert rows[d(13)].quality == ReadingQuality.VALID
        assert ReadingException.objects.get(rule=VeeRule.DECREASING).status == ExceptionStatus.ACCEPTED


def test_a_bulk_estimate_and_a_backfill_of_the_same_meters_both_finish(tmp_path, monkeypatch):
    # given meters A and B (A the lower id) each with days 6–10 missing; B's exception is
    # the older, so the clerk's bulk estimate fills B first, then A — while the import
    # writes meter by meter, A first
    a, b = installed_meter("A1"), installed_meter("B1")
    values: list[str | None] = [str(10 * n) for n in range(1, 16)]
    values[5:10] = [None] * 5
    import_lines(tmp_path, series_lines("B1", d(1), values), name="b.csv")
    import_lines(tmp_path, series_lines("A1", d(1), values), name="a.csv")
    gap_b = ReadingException.objects.get(meter=b, rule=VeeRule.MISSING)
    gap_a = ReadingException.objects.get(meter=a, rule=VeeRule.MISSING)
    assert gap_b.pk < gap_a.pk

    # the clerk pauses after filling B's gap until the back-fill of day 8 of both is
    # waiting (before the fix: on B's new estimates, holding A's day 8, which the clerk
    # then needed — a deadlock, one of the two killed; now: on the clerk's meter locks)
    b_filled, go = threading.Event(), threading.Event()
    estimate_exception = readings_service._estimate_exception

    def pause_after_the_first_gap(exc):  # type: ignore[no-untyped-def]
        count = estimate_exception(exc)
        if exc.pk == gap_b.pk:
            b_filled.set()
            go.wait(30)
        return count

    monkeypatch.setattr(readings_service, "_estimate_exception", pause_after_the_first_gap)
    (tmp_path / "c").mkdir()
    backfill = [f"A1,total,{d(8)},81", f"B1,total,{d(8)},79"]

    def import_after_b_is_filled() -> Any:
        assert b_filled.wait(20)
        return import_lines(tmp_path / "c", backfill, name="c.csv")

    clerk = Worker(
        "clerk",
        lambda: reading_exceptions_resolve(
            actor="clerk", exception_ids=[gap_a.pk, gap_b.pk], action="estimate"
        ),
    )
    importer = Worker("import", import_after_b_is_filled)
    try:
        clerk.start()
        importer.start()
        assert backend_waiting_on_a_lock()
    finally:
        go.set()

    # then both finish: the gaps are estimated and the back-filled readings replaced the
    # estimates of day 8, the days around them re-estimated towards them
    assert clerk.outcome() == 2
    job = importer.outcome()
    assert (job.status, job.inserted_rows) == (ImportStatus.DONE, 2)
    expected = {  # day 5 = 50 → day 8 → day 11 = 110, rounded down to a milli
        a: ["50", "60.333", "70.666", "81", "90.666", "100.333", "110"],
        b: ["50", "59.666", "69.333", "79", "89.333", "99.666", "110"],
    }
    for meter, values_5_to_11 in expected.items():
        rows = Reading.objects.filter(meter=meter, day__range=(d(5), d(11))).order_by("day")
        assert [r.value for r in rows] == [Decimal(v) for v in values_5_to_11]
        assert [r.quality for r in rows] == [ReadingQuality.VALID, *[ReadingQuality.ESTIMATED] * 2] + [
            ReadingQuality.VALID,
            *[ReadingQuality.ESTIMATED] * 2,
            ReadingQuality.VALID,
        ]
    assert set(ReadingException.objects.values_list("status", flat=True)) == {ExceptionStatus.ESTIMATED}
