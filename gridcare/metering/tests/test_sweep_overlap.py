"""The nightly missing-days sweep while an import writes the same meters, on PostgreSQL.

Both write missing-days exceptions: the sweep opens trailing gaps and extends the open
ones, the import opens the gaps it sees and extends the sweep's exceptions when a silent
meter comes back. The sweep takes the import's write locks on each batch of meters first,
in the same global order, so one waits for the other instead of each holding an
exception row the other needs (a deadlock, one of them killed)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from gridcare.metering.choices import ExceptionStatus, ImportStatus, VeeRule
from gridcare.metering.models import ReadingException
from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.readings import reading_missing_sweep
from gridcare.metering.tests.readings_fixtures import d, import_lines, installed_meter, series_lines
from gridcare.metering.tests.test_clerk_overlap import Worker, backend_waiting_on_a_lock

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


def gaps() -> dict[str, tuple[dt.date, dt.date, str]]:
    return {
        e.meter.asset_no: (e.day_from, e.day_to, e.status)
        for e in ReadingException.objects.filter(rule=VeeRule.MISSING).select_related("meter")
    }


def test_the_sweep_and_an_import_of_meters_coming_back_both_finish(tmp_path, monkeypatch):
    # given A read up to day 14 and B up to day 10; the sweep of day 15 opened B's trailing
    # gap (days 11–15), A was then only a day behind
    installed_meter("A1")
    installed_meter("B1")
    import_lines(tmp_path, series_lines("A1", d(1), [str(10 * n) for n in range(1, 15)]), name="a.csv")
    import_lines(tmp_path, series_lines("B1", d(1), [str(10 * n) for n in range(1, 11)]), name="b.csv")
    assert reading_missing_sweep(as_of=d(15)) == {"opened": 1, "extended": 0}

    # and the sweep of day 20 pauses once it has opened A's gap (days 15–20), before it
    # extends B's
    opened, go = threading.Event(), threading.Event()
    insert = readings_service.insert_ignoring_conflicts

    def pause_after_opening(**kwargs: Any) -> int:
        count = insert(**kwargs)
        if threading.current_thread().name == "sweep":
            opened.set()
            go.wait(30)
        return count

    monkeypatch.setattr(readings_service, "insert_ignoring_conflicts", pause_after_opening)
    sweep = Worker("sweep", lambda: reading_missing_sweep(as_of=d(20)))
    (tmp_path / "c").mkdir()
    back = [f"A1,total,{d(21)},210", f"B1,total,{d(21)},210"]
    importer = Worker("import", lambda: import_lines(tmp_path / "c", back, name="c.csv"))
    try:
        sweep.start()
        assert opened.wait(20)

        # when both meters come back on day 21 in an import
        importer.start()

        # then the import waits for the sweep's write locks on the meters (before the fix
        # it extended B's exception, then waited for the sweep's uncommitted gap of A,
        # while the sweep waited for B's exception: a deadlock)
        assert backend_waiting_on_a_lock("advisory")
        assert importer.is_alive()
    finally:
        go.set()

    # and both finish: the sweep opened A's gap and extended B's to day 20; the import,
    # after it, finds both gaps already covered up to the day before its readings
    assert sweep.outcome() == {"opened": 1, "extended": 1}
    job = importer.outcome()
    assert (job.status, job.inserted_rows, job.exceptions_opened) == (ImportStatus.DONE, 2, 0)
    assert gaps() == {
        "A1": (d(15), d(20), ExceptionStatus.OPEN),
        "B1": (d(11), d(20), ExceptionStatus.OPEN),
    }
