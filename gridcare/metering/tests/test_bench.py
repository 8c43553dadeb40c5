"""``gridcare bench readings``: generates a file for bench meters, imports it with VEE,
compares with a raw COPY on PostgreSQL (the fastest of three loads) and removes what it stored."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from gridcare.metering.models import Reading, ReadingImport

pytestmark = pytest.mark.django_db


def test_bench_readings_imports_compares_and_cleans_up():
    out = io.StringIO()
    call_command("bench", "readings", "--rows", "2000", stdout=out)
    text = out.getvalue()
    result = json.loads(text.strip().splitlines()[-1])

    assert result["bench"] == "readings"
    assert result["rows"] == 2000
    assert result["reads_per_s"] > 0
    assert "2,000 stored, 0 already stored, 0 rejected" in text
    assert "CPU during the import: this process" in text
    assert result["process_cpu_s"] > 0
    if connection.vendor == "postgresql":
        assert result["copy_reads_per_s"] > 0
        assert result["keyed_copy_reads_per_s"] > 0
        assert result["ratio"] == pytest.approx(result["reads_per_s"] / result["copy_reads_per_s"], abs=0.002)
        assert "(fastest of " in text
        loads = [float(x) for x in text.split("(fastest of ")[1].split(" s)")[0].split(", ")]
        assert len(loads) == 3
        assert loads == sorted(loads)
        assert f"raw COPY into an UNLOGGED table: {loads[0]:.2f} s" in text
        # (d) the import's own rows stored again as it writes them: the highest reachable ratio
        assert "(d) the database alone: the import's own 2,000 rows stored again" in text
        assert result["floor_reads_per_s"] > 0
        assert result["floor_db_cpu_s"] >= 0
        assert result["ratio_ceiling"] == pytest.approx(
            result["floor_reads_per_s"] / result["copy_reads_per_s"], abs=0.002
        )
        # measured (the test server runs on this machine); a 2,000-row import may take less
        # than the 10 ms tick of the kernel's CPU clock, so the figure itself may be 0.0
        assert result["db_cpu_s"] is not None
        assert result["db_cpu_s"] >= 0
    else:
        assert result["copy_reads_per_s"] is None
        assert result["ratio"] is None
        assert result["floor_reads_per_s"] is None
        assert result["ratio_ceiling"] is None
        assert result["floor_db_cpu_s"] is None
        assert result["db_cpu_s"] is None
    # without --keep the bench leaves no readings or import job behind
    assert not Reading.objects.exists()
    assert not ReadingImport.objects.exists()


def test_wait_for_quiet_polls_until_no_autovacuum_worker(monkeypatch):
    from gridcare.core import benchquiet as bench

    busy = iter([2, 1, 0])
    monkeypatch.setattr(bench, "autovacuum_workers", lambda: next(busy))
    monkeypatch.setattr(bench.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(bench, "flush_writes", lambda: None)
    monkeypatch.setattr(bench, "connection", type("C", (), {"vendor": "postgresql"})())
    waited, quiet = bench.wait_for_quiet(limit=60)
    assert quiet is True
    assert next(busy, "drained") == "drained"  # asked until the server said 0


def test_wait_for_quiet_gives_up_after_the_limit_and_says_so(monkeypatch):
    from gridcare.core import benchquiet as bench

    monkeypatch.setattr(bench, "autovacuum_workers", lambda: 1)
    monkeypatch.setattr(bench.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(bench, "flush_writes", lambda: None)
    monkeypatch.setattr(bench, "connection", type("C", (), {"vendor": "postgresql"})())
    waited, quiet = bench.wait_for_quiet(limit=0.0)
    assert quiet is False
    out = io.StringIO()
    bench.quiet_note(type("Cmd", (), {"stdout": out})(), "a raw COPY", waited, quiet)
    assert "autovacuum still running" in out.getvalue()
    assert "a raw COPY is timed beside it" in out.getvalue()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_vacuum_readings_runs_outside_a_transaction_only():
    from django.db import transaction

    from gridcare.core import benchquiet
    from gridcare.core.management.commands import bench

    assert benchquiet.autovacuum_workers() >= 0  # the query itself works on this server
    with transaction.atomic():
        assert bench._vacuum_readings() is False  # VACUUM cannot run in a transaction
    assert bench._vacuum_readings() is True
    benchquiet.flush_writes()  # CHECKPOINT (the test server's role may) and the page cache
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the connection is usable afterwards
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = %s",
            [Reading._meta.db_table],
        )
        assert cursor.fetchone()[0] is True


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_floor_stores_the_imports_own_rows_again_on_parallel_writers(tmp_path, monkeypatch):
    """The floor load (d) deletes the import's rows and writes them back chunk by chunk on
    the import's writer connections: afterwards the table holds exactly what it held."""
    import datetime as dt
    import threading

    from gridcare.core.management.commands import bench
    from gridcare.metering.services import readings as service
    from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

    monkeypatch.setattr(service, "CHUNK_ROWS", 20)  # 6 meters × 20 days → 6 chunks
    lines: list[str] = []
    for n in range(6):
        installed_meter(f"F{n}")
        lines += series_lines(f"F{n}", DAY0 + dt.timedelta(days=1), [str(10 * (i + 1)) for i in range(20)])
    job = import_lines(tmp_path, lines)
    columns = ("meter_id", "register", "day", "value", "source", "quality", "reading_import_id")
    before = list(Reading.objects.order_by("meter_id", "register", "day").values_list(*columns))
    assert sum(1 for row in before if row[-1] == job.pk) == 120
    writers: set[str] = set()
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        writers.add(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)

    seconds, stored, db_cpu = bench._floor_rate(job.pk)

    assert seconds > 0
    assert stored == 120
    assert db_cpu is not None  # the test server runs on this machine
    assert db_cpu >= 0
    assert {name for name in writers if name.startswith("floor-")} == {"floor-0", "floor-1"}
    after = list(Reading.objects.order_by("meter_id", "register", "day").values_list(*columns))
    assert after == before


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_failed_floor_load_stores_the_rows_again_before_it_raises(tmp_path, monkeypatch):
    """A writer failing half-way through the floor load (after the import's rows were
    deleted) must not lose them: what no writer stored is stored on the way out."""
    import datetime as dt
    import threading

    from gridcare.core.management.commands import bench
    from gridcare.metering.services import readings as service
    from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

    monkeypatch.setattr(service, "CHUNK_ROWS", 20)
    lines: list[str] = []
    for n in range(6):
        installed_meter(f"G{n}")
        lines += series_lines(f"G{n}", DAY0 + dt.timedelta(days=1), [str(5 * (i + 1)) for i in range(20)])
    job = import_lines(tmp_path, lines)
    columns = ("meter_id", "register", "day", "value", "source", "quality", "reading_import_id")
    before = list(Reading.objects.order_by("meter_id", "register", "day").values_list(*columns))
    real = bench._copy_binary_in
    failed: list[str] = []

    def flaky(table: str, cols: str, chunk: bytes) -> None:
        if threading.current_thread().name == "floor-1" and not failed:
            failed.append("floor-1")
            raise RuntimeError("the writer's connection broke")
        real(table, cols, chunk)

    monkeypatch.setattr(bench, "_copy_binary_in", flaky)

    with pytest.raises(RuntimeError, match="connection broke"):
        bench._floor_rate(job.pk)

    assert failed == ["floor-1"]
    after = list(Reading.objects.order_by("meter_id", "register", "day").values_list(*columns))
    assert after == before
