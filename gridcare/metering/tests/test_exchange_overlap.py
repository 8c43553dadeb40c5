"""A meter exchange (换表), removal or installation while an import writes the same meter,
on PostgreSQL: the asset service takes the import's write locks on the meters whose
readings it stores (the old and the new meter of an exchange) first, in the same global
order, so it waits for the import's chunk instead of the two locking rows in opposite
orders (the exchange holding the meter row and waiting for the chunk's reading of the
day, the chunk waiting for the meter row to open an exception on it) and one of them
being killed as a deadlock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext as _

from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ImportStatus, MeterStatus, ReadingSource, VeeRule
from gridcare.metering.models import Installation, Meter, Reading, ReadingException
from gridcare.metering.services import assets as assets_service
from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.assets import meter_exchange, meter_install, meter_remove
from gridcare.metering.tests.readings_fixtures import (
    at,
    d,
    import_lines,
    installed_meter,
    series_lines,
    stock_meter,
)
from gridcare.metering.tests.test_clerk_overlap import Worker, backend_waiting_on_a_lock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


@pytest.fixture
def meters(tmp_path) -> tuple[Meter, Meter]:
    """M1 installed and read 10 kWh a day on days 1–10; N1, the meter to exchange it for,
    in stock."""
    old = installed_meter("M1")
    import_lines(tmp_path, series_lines("M1", d(1), [str(10 * n) for n in range(1, 11)]), name="a.csv")
    return old, stock_meter("N1")


def exchange(old: Meter, new: Meter) -> Callable[[], Any]:
    account = old.installations.get().account
    return lambda: meter_exchange(
        actor="fitter",
        account=account,
        new_meter=new,
        at=at(d(16)),
        old_final_readings={"total": "160.5"},
        new_initial_readings={"total": "0"},
        reason="轮换",
    )


def paused_import(tmp_path, monkeypatch, lines: list[str]) -> tuple[Worker, threading.Event, threading.Event]:
    """An import of ``lines`` that pauses inside its chunk's transaction once its readings
    are written (the meters' write locks held, the exceptions not yet written)."""
    locked, release = threading.Event(), threading.Event()
    insert_readings = readings_service._insert_readings

    def pause_after_the_readings(reading_import, readings):  # type: ignore[no-untyped-def]
        inserted = insert_readings(reading_import, readings)
        if threading.current_thread().name == "import":
            locked.set()
            release.wait(30)
        return inserted

    monkeypatch.setattr(readings_service, "_insert_readings", pause_after_the_readings)
    (tmp_path / "b").mkdir()
    importer = Worker("import", lambda: import_lines(tmp_path / "b", lines, name="b.csv"))
    return importer, locked, release


def test_an_exchange_waits_for_the_import_chunk_holding_the_old_meter(tmp_path, monkeypatch, meters):
    # given an import of the old meter's day 16 (160: days 11–15 missing, an exception to
    # open on the meter) paused in its chunk's transaction after writing the reading
    old, new = meters
    importer, locked, release = paused_import(tmp_path, monkeypatch, [f"M1,total,{d(16)},160"])
    fitter = Worker("exchange", exchange(old, new))
    try:
        importer.start()
        assert locked.wait(20)

        # when the exchange of that meter is recorded on day 16
        fitter.start()

        # then the exchange waits for the import's write lock on the meter (before the
        # fix it locked the meter row, then waited for the chunk's day-16 reading, while
        # the chunk waited for the meter row to open its exception: a deadlock)
        assert backend_waiting_on_a_lock("advisory")
        assert fitter.is_alive()
    finally:
        release.set()

    # and once the chunk commits, both are done
    job = importer.outcome()
    installation = fitter.outcome()
    assert (job.status, job.inserted_rows, job.exceptions_opened) == (ImportStatus.DONE, 1, 1)
    assert ReadingException.objects.get(meter=old).rule == VeeRule.MISSING
    assert installation.meter_id == new.pk
    assert Installation.objects.get(meter=old).final_readings == {"total": "160.500"}
    assert Meter.objects.get(pk=old.pk).status == MeterStatus.REMOVED
    # the import's reading of day 16 was stored first and is kept; the new meter starts at 0
    assert Reading.objects.get(meter=old, day=d(16)).value == Decimal("160.000")
    new_start = Reading.objects.get(meter=new, day=d(16))
    assert (new_start.value, new_start.source) == (Decimal("0.000"), ReadingSource.EXCHANGE)
    assert AuditEvent.objects.filter(action="meter.exchange").count() == 1


def test_an_exchange_waits_for_the_import_chunk_holding_the_new_meter(tmp_path, monkeypatch, meters):
    # given an import of a reading of the new meter (still in stock) for day 16, paused in
    # its chunk's transaction
    old, new = meters
    importer, locked, release = paused_import(tmp_path, monkeypatch, [f"N1,total,{d(16)},0"])
    fitter = Worker("exchange", exchange(old, new))
    try:
        importer.start()
        assert locked.wait(20)

        # when the exchange to that meter is recorded
        fitter.start()

        # then it waits for the import's write lock on the new meter (before the fix: on
        # the chunk's day-16 reading, after locking both meters' and the account's rows)
        assert backend_waiting_on_a_lock("advisory")
        assert fitter.is_alive()
    finally:
        release.set()

    job = importer.outcome()
    installation = fitter.outcome()
    assert (job.status, job.inserted_rows) == (ImportStatus.DONE, 1)
    assert installation.meter_id == new.pk
    assert Reading.objects.get(meter=new, day=d(16)).value == Decimal("0.000")


@pytest.mark.parametrize("service", ["remove", "install"])
def test_a_removal_or_installation_waits_for_the_import_chunk_holding_the_meter(
    tmp_path, monkeypatch, meters, service
):
    # given an import of the meter's day 16 paused inside its chunk's transaction
    old, new = meters
    meter = old if service == "remove" else new
    line = f"{meter.asset_no},total,{d(16)},{'160' if service == 'remove' else '0'}"
    importer, locked, release = paused_import(tmp_path, monkeypatch, [line])
    account = old.installations.get().account
    if service == "install":  # the account's meter removed on day 12; N1 goes in on day 16
        meter_remove(
            actor="fitter", meter=old, removed_at=at(d(12)), final_readings={"total": "120"}, reason="轮换"
        )

    def work() -> Any:
        if service == "remove":
            return meter_remove(
                actor="fitter",
                meter=old,
                removed_at=at(d(16)),
                final_readings={"total": "160.5"},
                reason="销户拆表",
            )
        return meter_install(
            actor="fitter",
            meter=new,
            account=account,
            installed_at=at(d(16)),
            initial_readings={"total": "0"},
        )

    fitter = Worker(service, work)
    try:
        importer.start()
        assert locked.wait(20)

        # when the fitter records the removal (or installation) of that meter on day 16
        fitter.start()

        # then it waits for the import's write lock on the meter
        assert backend_waiting_on_a_lock("advisory")
        assert fitter.is_alive()
    finally:
        release.set()

    # and both finish
    assert importer.outcome().status == ImportStatus.DONE
    fitter.outcome()
    assert Meter.objects.get(pk=meter.pk).status == (
        MeterStatus.REMOVED if service == "remove" else MeterStatus.INSTALLED
    )


def test_two_exchanges_of_one_account_at_once_the_second_is_refused(monkeypatch, meters):
    # given a first exchange (to N1) paused once it holds the meters' write locks
    old, first_new = meters
    second_new = stock_meter("N2")
    locked, release = threading.Event(), threading.Event()
    lock = assets_service.lock_meter_writes

    def pause_after_locking(meter_ids):  # type: ignore[no-untyped-def]
        lock(meter_ids)
        if threading.current_thread().name == "first":
            locked.set()
            release.wait(30)

    monkeypatch.setattr(assets_service, "lock_meter_writes", pause_after_locking)
    first = Worker("first", exchange(old, first_new))
    second = Worker("second", exchange(old, second_new))
    try:
        first.start()
        assert locked.wait(20)

        # when a second exchange of the same account (to N2) is recorded meanwhile
        second.start()

        # then it waits for the first one's lock on the old meter
        assert backend_waiting_on_a_lock("advisory")
    finally:
        release.set()

    # and once the first commits, the second finds the account's meter changed and is
    # refused: N1 is installed, N2 still in stock
    assert first.outcome().meter_id == first_new.pk
    with pytest.raises(Conflict) as err:
        second.outcome()
    assert (str(err.value.message), err.value.field) == (
        str(_("The meter of this account changed meanwhile; reload the page and check.")),
        "account",
    )
    assert Meter.objects.get(pk=first_new.pk).status == MeterStatus.INSTALLED
    assert Meter.objects.get(pk=second_new.pk).status == MeterStatus.IN_STOCK
    assert Installation.objects.filter(meter=second_new).count() == 0
