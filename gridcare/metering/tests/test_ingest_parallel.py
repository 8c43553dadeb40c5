"""The PostgreSQL import writes chunks on two connections at once: the result must be the
same as the sequential path (every reading once, exceptions opened, counters right), and a
re-import of the same file stores nothing new."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from gridcare.metering.choices import ImportStatus, ReadingSource, VeeRule
from gridcare.metering.models import Reading, ReadingException
from gridcare.metering.services import readings as readings_service
from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


def test_chunks_written_on_parallel_connections_store_every_reading_once(tmp_path, monkeypatch):
    assert connection.vendor == "postgresql"
    monkeypatch.setattr(readings_service, "CHUNK_ROWS", 20)  # 6 meters × 20 days → 6 chunks
    calls: list[int] = []
    real = readings_service._write_in_parallel

    def spy(reading_import, works, installs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(reading_import, works, installs)

    monkeypatch.setattr(readings_service, "_write_in_parallel", spy)
    lines: list[str] = []
    for n in range(6):
        installed_meter(f"P{n}")
        values: list[str | None] = [str(10 * (i + 1)) for i in range(20)]
        if n == 3:
            values[10] = str(10 * 10 + 500)  # a spike on one meter of one chunk
        lines += series_lines(f"P{n}", DAY0 + dt.timedelta(days=1), values)

    job = import_lines(tmp_path, lines)

    assert calls == [1]
    assert job.status == ImportStatus.DONE
    assert (job.inserted_rows, job.duplicate_rows, job.rejected_rows) == (120, 0, 0)
    assert Reading.objects.exclude(source=ReadingSource.EXCHANGE).count() == 120
    assert job.exceptions_opened >= 1
    assert ReadingException.objects.filter(rule=VeeRule.SPIKE, meter__asset_no="P3").exists()

    again = import_lines(tmp_path, lines, name="again.csv")

    assert (again.inserted_rows, again.duplicate_rows) == (0, 120)
    assert Reading.objects.exclude(source=ReadingSource.EXCHANGE).count() == 120


def test_inside_an_open_transaction_the_import_stays_on_one_connection(tmp_path, monkeypatch):
    monkeypatch.setattr(readings_service, "CHUNK_ROWS", 20)
    assert readings_service._parallel_writes_possible(3) is True
    from django.db import transaction

    with transaction.atomic():
        assert readings_service._parallel_writes_possible(3) is False
    assert readings_service._parallel_writes_possible(1) is False
