"""Import jobs run by the real background worker (django-tasks, database backend), and the
``gridcare readings import`` command."""

from __future__ import annotations

import datetime as dt
import io
import signal

import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from gridcare.metering.choices import ImportStatus
from gridcare.metering.models import Reading, ReadingImport
from gridcare.metering.services.readings import (
    reading_import_create,
    reading_import_enqueue,
    rejected_csv_path,
)
from gridcare.metering.tests.readings_fixtures import DAY0, installed_meter, series_lines, write_csv

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_runs_a_queued_import(tmp_path):
    meter = installed_meter("M1")
    lines = series_lines("M1", DAY0 + dt.timedelta(days=1), ["10", "20", "30"])
    path = write_csv(tmp_path, ["meter,register,day,value", *lines, "NOPE,total,2026-01-05,1"])
    job = reading_import_create(actor="test", source_name="queued.csv", content=path, channel="ami")
    reading_import_enqueue(job)
    assert DBTaskResult.objects.count() == 1
    assert ReadingImport.objects.get(pk=job.pk).status == ImportStatus.QUEUED

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("worker", batch=True, verbosity=0, stdout=io.StringIO(), stderr=io.StringIO())
    finally:  # the worker installs its own shutdown handlers
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    job.refresh_from_db()
    assert (job.status, job.inserted_rows, job.rejected_rows) == (ImportStatus.DONE, 3, 1)
    assert Reading.objects.filter(meter=meter, source="ami").count() == 3
    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL"
    assert task.return_value["inserted_rows"] == 3


def test_command_imports_and_prints_the_rejected_rows_path(tmp_path):
    installed_meter("M1")
    path = write_csv(tmp_path, ["meter,register,day,value", "M1,total,2026-01-02,10", "M1,total,bad,1"])
    out = io.StringIO()

    call_command("readings", "import", str(path), "--channel", "manual", "--no-progress", stdout=out)

    job = ReadingImport.objects.get()
    text = out.getvalue()
    assert job.status == ImportStatus.DONE
    assert job.channel == "manual"
    assert "readings stored             1" in text
    assert "rows rejected               1" in text
    assert str(rejected_csv_path(job)) in text


def test_command_exits_1_on_a_header_error(tmp_path):
    path = write_csv(tmp_path, ["meter,day,value", "M1,2026-01-02,10"])
    with pytest.raises(SystemExit) as exit_:
        call_command(
            "readings", "import", str(path), "--no-progress", stdout=io.StringIO(), stderr=io.StringIO()
        )
    assert exit_.value.code == 1
    assert ReadingImport.objects.get().status == ImportStatus.FAILED
