"""``gridcare bench readings``: generates a file for bench meters, imports it with VEE,
compares with a raw COPY on PostgreSQL (the fastest of three loads) and removes what it stored."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
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


def test_wait_for_quiet_does_not_wait_inside_a_transaction(monkeypatch):
    """An autovacuum worker may wait for the caller's own open transaction: inside one the
    bench does not poll at all (CI once hung here for the full limit, load after load)."""
    from gridcare.core import benchquiet as bench

    asked: list[int] = []
    monkeypatch.setattr(bench, "autovacuum_workers", lambda: asked.append(1) or 1)
    monkeypatch.setattr(bench, "flush_writes", lambda: None)
    monkeypatch.setattr(
        bench, "connection", type("C", (), {"vendor": "postgresql", "in_atomic_block": True})()
    )
    assert bench.wait_for_quiet(limit=60) == (0.0, True)
    assert asked == []


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


def _import_for_the_floor(tmp_path: Any, monkeypatch: Any, prefix: str) -> ReadingImport:
    """An import of 6 meters × 20 days, cut into 6 chunks of one meter each."""
    import datetime as dt

    from gridcare.metering.services import readings as service
    from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

    monkeypatch.setattr(service, "CHUNK_ROWS", 20)
    lines: list[str] = []
    for n in range(6):
        installed_meter(f"{prefix}{n}")
        lines += series_lines(
            f"{prefix}{n}", DAY0 + dt.timedelta(days=1), [str(5 * (i + 1)) for i in range(20)]
        )
    job = import_lines(tmp_path, lines)
    assert Reading.objects.filter(reading_import=job).count() == 120
    return job


def _rows() -> list[tuple[Any, ...]]:
    """Every reading with its row version (``xmin``: a row stored again has a new one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text, meter_id, register, day, value, source, quality, reading_import_id "  # noqa: S608
            f"FROM {Reading._meta.db_table} ORDER BY meter_id, register, day"
        )
        return cursor.fetchall()


class _Command:
    def __init__(self) -> None:
        self.stdout = io.StringIO()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_floor_stores_the_imports_own_rows_again_on_parallel_writers(tmp_path: Any, monkeypatch: Any) -> None:
    """The floor load (d) deletes the import's rows and writes them back chunk by chunk on
    the import's two writer connections: afterwards every row is a new row version and
    the table holds exactly what it held."""
    import threading

    from gridcare.core.management.commands import bench

    job = _import_for_the_floor(tmp_path, monkeypatch, "F")
    before = _rows()
    real = bench._copy_binary_in
    writers: list[str] = []

    def spy(table: str, columns: str, chunk: bytes) -> None:
        writers.append(threading.current_thread().name)
        real(table, columns, chunk)

    monkeypatch.setattr(bench, "_copy_binary_in", spy)

    seconds, stored, db_cpu = bench._floor_rate(_Command(), job.pk)  # type: ignore[arg-type]

    assert seconds > 0
    assert stored == 120
    assert db_cpu is not None  # the test server runs on this machine
    assert db_cpu >= 0
    assert len(writers) == 6  # one COPY per chunk
    assert set(writers) == {"floor-0", "floor-1"}
    after = _rows()
    assert [row[1:] for row in after] == [row[1:] for row in before]
    again = [(new[0], old[0]) for new, old in zip(after, before, strict=True) if new[-1] == job.pk]
    assert len(again) == 120
    assert all(new != old for new, old in again)  # each of the import's rows was stored again


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_failed_floor_load_stores_the_rows_again_before_it_raises(tmp_path: Any, monkeypatch: Any) -> None:
    """A writer failing half-way through the floor load (after the import's rows were
    deleted) must not lose them: what no writer stored is stored on the way out."""
    import threading

    from gridcare.core.management.commands import bench

    job = _import_for_the_floor(tmp_path, monkeypatch, "G")
    before = _rows()
    real = bench._copy_binary_in
    failed: list[str] = []

    def flaky(table: str, columns: str, chunk: bytes) -> None:
        if threading.current_thread().name == "floor-1" and not failed:
            failed.append("floor-1")
            raise RuntimeError("the writer's connection broke")
        real(table, columns, chunk)

    monkeypatch.setattr(bench, "_copy_binary_in", flaky)

    with pytest.raises(RuntimeError, match="connection broke"):
        bench._floor_rate(_Command(), job.pk)  # type: ignore[arg-type]

    assert failed == ["floor-1"]
    assert [row[1:] for row in _rows()] == [row[1:] for row in before]


@pytest.mark.postgresql
def test_on_one_connection_a_failed_chunk_is_stored_on_the_way_out(tmp_path: Any, monkeypatch: Any) -> None:
    """Inside a transaction the floor load writes on this connection, chunk after chunk: a
    chunk that fails there is stored again before the error is raised."""
    from gridcare.core.management.commands import bench

    job = _import_for_the_floor(tmp_path, monkeypatch, "H")
    before = _rows()
    real = bench._copy_binary_in
    calls: list[int] = []

    def second_fails_once(table: str, columns: str, chunk: bytes) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the second chunk broke")
        real(table, columns, chunk)

    monkeypatch.setattr(bench, "_copy_binary_in", second_fails_once)

    with pytest.raises(RuntimeError, match="second chunk broke"):
        bench._floor_rate(_Command(), job.pk)  # type: ignore[arg-type]

    assert len(calls) == 7  # two, then the failed one and the four never tried on the way out
    assert [row[1:] for row in _rows()] == [row[1:] for row in before]


@pytest.mark.postgresql
def test_a_chunk_that_cannot_be_stored_again_is_kept_in_a_file(tmp_path: Any, monkeypatch: Any) -> None:
    from gridcare.core.management.commands import bench

    job = _import_for_the_floor(tmp_path, monkeypatch, "K")
    before = _rows()
    real = bench._copy_binary_in
    seen: list[bytes] = []

    def third_never_stores(table: str, columns: str, chunk: bytes) -> None:
        if chunk not in seen:
            seen.append(chunk)
        if seen.index(chunk) == 2:  # the third chunk, every time it is tried
            raise RuntimeError("the server refuses it")
        real(table, columns, chunk)

    monkeypatch.setattr(bench, "_copy_binary_in", third_never_stores)

    with pytest.raises(CommandError, match=r"1 chunk\(s\) of the import's readings") as raised:
        bench._floor_rate(_Command(), job.pk)  # type: ignore[arg-type]

    folder = Path(str(raised.value).split(" are in ")[1].split(" (load each")[0])
    kept = sorted(folder.iterdir())
    assert [p.name for p in kept] == ["chunk-002.pgcopy"]
    assert len(_rows()) == len(before) - 20  # one meter's 20 readings are in the file, not the table
    real(connection.ops.quote_name(Reading._meta.db_table), _columns(), kept[0].read_bytes())
    assert [row[1:] for row in _rows()] == [row[1:] for row in before]


def _columns() -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Reading._meta.db_table} LIMIT 0")  # noqa: S608
        return ", ".join(connection.ops.quote_name(c.name) for c in cursor.description)
