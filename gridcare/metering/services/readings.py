"""Reading ingestion (抄表数据导入) and the handling of reading exceptions (抄表异常处理).

One pipeline serves the background import task, the ``gridcare readings import`` command
and the batched JSON API: :func:`reading_import_run` reads a file (or a batch of records),
rejects malformed rows with a reason per row (never storing them), runs VEE
(validation, estimation) against the readings already stored and writes readings, estimates
and exceptions in bulk, a chunk of meters at a time, updating the job's progress as it goes.

The computation is the pure engine (:mod:`gridcare.metering.engine`); this module does the
database side: which meters exist, what is already stored around the new days, and the
bulk writes (:func:`gridcare.core.bulk.insert_ignoring_conflicts`, ``COPY`` on PostgreSQL).
Values travel as integer thousandths of a kWh (``*_milli``) and are written as exact
decimal text: never as float.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Max, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.billing.selectors.settled import settled_reading_days
from gridcare.core.audit import audit_record, snapshot
from gridcare.core.bulk import (
    IN_BATCH,
    decimal_from_units,
    decimal_text,
    insert_ignoring_conflicts,
    lock_ids,
    update_from_frame,
)
from gridcare.core.engine.cells import text_cell_expr
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.customers.choices import AccountStatus
from gridcare.metering.choices import (
    OPEN_EXCEPTION_STATUSES,
    ExceptionStatus,
    ImportStatus,
    ReadingQuality,
    ReadingSource,
    VeeRule,
)
from gridcare.metering.engine.estimate import (
    estimate_missing,
    estimate_runs,
    interpolate_runs,
    run_days,
    runs_after_settled,
)
from gridcare.metering.engine.parse import (
    SOURCE_COLUMN,
    HeaderError,
    frame_from_records,
    parse_readings,
    read_table,
)
from gridcare.metering.engine.vee import (
    EXTENDED_RUN_SCHEMA,
    STORED_RUN_SCHEMA,
    VeeParams,
    continue_runs,
    vee_validate,
    with_quality,
)
from gridcare.metering.models import (
    ImportRejection,
    Installation,
    Meter,
    Reading,
    ReadingException,
    ReadingImport,
    VeeParameters,
)

__all__ = [
    "API_BATCH_LIMIT",
    "CHUNK_ROWS",
    "WRITERS",
    "IMPORT_CHANNELS",
    "RESOLVE_ACTIONS",
    "SWEEP_BATCH_METERS",
    "lock_meter_writes",
    "reading_edit",
    "reading_exceptions_resolve",
    "reading_import_create",
    "reading_import_enqueue",
    "reading_import_run",
    "reading_missing_sweep",
    "vee_params_in_force",
    "readings_ingest_batch",
    "rejected_csv_path",
]

CHUNK_ROWS = 125_000
"""Valid rows per processing chunk (whole meters per chunk): bounds memory at 1M-row files."""

WRITERS = 2
"""Connections writing chunks at once on PostgreSQL (index upkeep is the import's largest
cost and one backend runs on one core; two cores, two writers)."""

API_BATCH_LIMIT = 10_000
"""Records per ``POST /api/metering/readings`` call."""

SWEEP_BATCH_METERS = 5_000
"""Meters per transaction of the nightly missing-days sweep (each batch takes its meters'
write locks, so an import of those meters waits for that batch only)."""

IMPORT_CHANNELS = (ReadingSource.AMI, ReadingSource.MANUAL, ReadingSource.HANDHELD)
"""Channels a file or batch may come from (estimates and edits are made here, not imported)."""

RESOLVE_ACTIONS = {
    "accept": ExceptionStatus.ACCEPTED,
    "estimate": ExceptionStatus.ESTIMATED,
    "reread": ExceptionStatus.REREAD,
    "release": ExceptionStatus.RELEASED,
}
"""Clerk actions on a reading exception and the status each leaves."""

_DEFAULT_PARAMS = VeeParams(
    spike_factor_x100=500,
    spike_window_days=30,
    spike_min_wh=10_000,
    zero_run_days=7,
    tou_tolerance_milli=100,
    auto_estimate_max_days=3,
)

_READING_SCHEMA = {"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "value_milli": pl.Int64}
_CONTEXT_SCHEMA = {**_READING_SCHEMA, "quality": pl.String}
_KEYS = ["meter_id", "register", "day"]
_WRITE_LOCKS = 0x4D52  # advisory-lock namespace of every write of readings (``lock_meter_writes``)
_AROUND_DAYS = 8  # first reach of ``_estimate_runs_around`` either side of a replaced day
_AROUND_MAX_DAYS = 8 * 4**4  # how far it widens at most (a run of estimates longer: left as it is)
_IMPORT_ACTOR = "gridcare readings import"
_SWEEP_ACTOR = "gridcare readings sweep"

MSG_MISSING_COLUMNS = _("The file has no column(s): {columns}.")
MSG_UNREADABLE = _("The file could not be read: {error}")
MSG_BAD_CHANNEL = _("Unknown channel {channel!r}; use ami, manual or handheld.")
MSG_TOO_MANY = _("At most {limit} readings per call; split the batch.")
MSG_EMPTY_BATCH = _("The batch has no readings.")
MSG_REASON_REQUIRED = _("Give the reason for changing a reading.")
MSG_NEGATIVE = _("A register reading cannot be negative.")
MSG_BAD_VALUE = _("Not a number with at most 3 decimals.")
MSG_BAD_ACTION = _("Unknown action {action!r}; use accept, estimate, reread or release.")
MSG_ONLY_MISSING = _("Only missing-days exceptions can be estimated.")
MSG_NO_EXCEPTIONS = _("Select at least one exception.")
MSG_ALREADY_RESOLVED = _("Exception(s) {ids} are already resolved.")
MSG_CANNOT_ESTIMATE = _("No valid readings on both sides of the gap of exception {id}; send it for re-read.")


# --- import jobs ----------------------------------------------------------------------------


def _imports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def rejected_csv_path(reading_import: ReadingImport) -> Path:
    """Where the rejected rows of an import are written (line, reason, detail, raw)."""
    return _imports_dir() / f"{reading_import.pk}-rejected.csv"


def _check_channel(channel: str) -> None:
    if channel not in IMPORT_CHANNELS:
        raise ValidationFailed(MSG_BAD_CHANNEL.format(channel=channel), field="channel")


def reading_import_create(
    *, actor: Any, source_name: str, content: bytes | Path, channel: str = ReadingSource.AMI
) -> ReadingImport:
    """Register an import job (status queued): the file is kept under ``DATA_DIR/imports``
    with its SHA-256, so a worker (or the command line) can run it later."""
    _check_channel(channel)
    data = content.read_bytes() if isinstance(content, Path) else content
    name = Path(source_name).name or "readings.csv"
    with transaction.atomic():
        reading_import = ReadingImport.objects.create(
            source_name=name[:255],
            sha256=hashlib.sha256(data).hexdigest(),
            channel=channel,
            status=ImportStatus.QUEUED,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-100:]
        stored = _imports_dir() / f"{reading_import.pk}-{safe}"
        stored.write_bytes(data)
        audit_record(
            actor=actor,
            obj=reading_import,
            action="reading_import.create",
            after={**snapshot(reading_import), "path": str(stored)},
        )
    reading_import.stored_path = stored  # type: ignore[attr-defined]
    return reading_import


def reading_import_stored_path(reading_import: ReadingImport) -> Path:
    """The stored copy of an import's file (see :func:`reading_import_create`)."""
    matches = sorted(_imports_dir().glob(f"{reading_import.pk}-*"))
    matches = [p for p in matches if not p.name.endswith("-rejected.csv")]
    if not matches:
        raise NotFound()
    return matches[0]


def reading_import_enqueue(reading_import: ReadingImport) -> None:
    """Queue the import for a background worker once the current transaction commits."""
    from gridcare.metering.tasks import reading_import_task

    path = str(getattr(reading_import, "stored_path", None) or reading_import_stored_path(reading_import))
    pk = reading_import.pk
    transaction.on_commit(lambda: reading_import_task.enqueue(import_id=pk, path=path))


def readings_ingest_batch(
    *, actor: Any, records: Sequence[dict[str, Any]], channel: str = ReadingSource.AMI
) -> ReadingImport:
    """Ingest a batch of readings from the API synchronously (the same pipeline as a file):
    ``[{"meter": asset_no, "register": "total", "day": "2026-11-01", "value": "1234.56"}]``."""
    _check_channel(channel)
    if not records:
        raise ValidationFailed(MSG_EMPTY_BATCH, field="readings")
    if len(records) > API_BATCH_LIMIT:
        raise ValidationFailed(MSG_TOO_MANY.format(limit=API_BATCH_LIMIT), field="readings")
    try:
        raw = frame_from_records([{k: None if v is None else str(v) for k, v in r.items()} for r in records])
    except HeaderError as exc:
        missing = ", ".join(exc.missing) or str(exc)
        raise ValidationFailed(MSG_MISSING_COLUMNS.format(columns=missing), field="readings") from exc
    body = json.dumps(list(records), sort_keys=True, default=str).encode()
    with transaction.atomic():
        reading_import = ReadingImport.objects.create(
            source_name=f"api-{timezone.now():%Y%m%d%H%M%S}-{len(records)}",
            sha256=hashlib.sha256(body).hexdigest(),
            channel=channel,
            status=ImportStatus.QUEUED,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        audit_record(
            actor=actor,
            obj=reading_import,
            action="reading_import.create",
            after={**snapshot(reading_import), "records": len(records)},
        )
    return _run(reading_import, raw)


def reading_import_run(*, import_id: int, path: str | Path) -> ReadingImport:
    """Run one import job end to end (the task and the command line call this).

    A file without the required columns fails the job (``error`` names the columns) and
    stores nothing. Otherwise malformed rows are rejected row by row (``ImportRejection``
    rows and ``DATA_DIR/imports/<id>-rejected.csv``) and every valid row is stored once,
    with its VEE quality; estimates and exceptions follow. An unexpected error marks the
    job failed and is raised again.
    """
    reading_import = ReadingImport.objects.get(pk=import_id)
    _mark_running(reading_import)
    try:
        raw = read_table(Path(path))
    except HeaderError as exc:
        missing = ", ".join(getattr(exc, "missing", ()) or ()) or str(exc)
        return _fail(reading_import, str(MSG_MISSING_COLUMNS.format(columns=missing)))
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:
        return _fail(reading_import, str(MSG_UNREADABLE.format(error=exc)))
    return _run(reading_import, raw, started=True)


def _mark_running(reading_import: ReadingImport) -> None:
    reading_import.status = ImportStatus.RUNNING
    reading_import.started_at = timezone.now()
    reading_import.error = ""
    reading_import.save(update_fields=["status", "started_at", "error"])


def _fail(reading_import: ReadingImport, error: str) -> ReadingImport:
    ReadingImport.objects.filter(pk=reading_import.pk).update(
        status=ImportStatus.FAILED, error=error[:5000], finished_at=timezone.now()
    )
    reading_import.refresh_from_db()
    return reading_import


def _run(reading_import: ReadingImport, raw: pl.DataFrame, *, started: bool = False) -> ReadingImport:
    if not started:
        _mark_running(reading_import)
    try:
        _ingest(reading_import, raw)
    except Exception as exc:
        _fail(reading_import, f"{type(exc).__name__}: {exc}")
        raise
    reading_import.refresh_from_db()
    return reading_import


# --- the pipeline ----------------------------------------------------------------------------


@dataclass
class _MeterInfo:
    """Meters named in the file: parse input, VEE input and the open installations."""

    parse: pl.DataFrame  # asset_no, meter_id, registers
    vee: pl.DataFrame  # meter_id, digits, multiplier_x100, active
    installs: pl.DataFrame  # meter_id, account_id, install_day (open installations)
    initial: pl.DataFrame  # meter_id, register, value_milli, install_day (their initial readings)


def _ingest(reading_import: ReadingImport, raw: pl.DataFrame) -> None:
    pk = reading_import.pk
    total = raw.height
    ReadingImport.objects.filter(pk=pk).update(total_rows=total)
    row_sources = SOURCE_COLUMN in raw.columns
    asset_nos = raw.get_column("meter").drop_nulls().str.strip_chars().unique().to_list()
    info = _load_meters(asset_nos)
    parsed = parse_readings(raw, info.parse, today=timezone.localdate())
    del raw
    valid = parsed.valid
    if not row_sources:  # no source column: every row comes from the job's channel
        valid = valid.with_columns(source=pl.lit(str(reading_import.channel)))
    rejected = parsed.rejected

    _write_rejections(reading_import, rejected)
    ReadingImport.objects.filter(pk=pk).update(rejected_rows=rejected.height, processed_rows=rejected.height)

    if valid.height:
        params = vee_params_in_force(valid.get_column("day").max())  # type: ignore[arg-type]
        valid = valid.sort("meter_id", "register", "day")
        chunks = list(plan_chunks(valid))
        parts = (valid.filter(pl.col("meter_id").is_between(ids[0], ids[-1])) for ids in chunks)
        works = (_compute_chunk(new, info, params) for new in parts)
        if _parallel_writes_possible(len(chunks)):
            _write_in_parallel(reading_import, works, info.installs)
        else:
            for work in works:
                _write_chunk(reading_import, work, info.installs)
    ReadingImport.objects.filter(pk=pk).update(
        status=ImportStatus.DONE, processed_rows=total, finished_at=timezone.now()
    )


def _parallel_writes_possible(chunks: int) -> bool:
    """Chunks may be written on their own connections: PostgreSQL, more than one chunk, and
    no transaction open around the import (other connections would not see its rows)."""
    return chunks > 1 and WRITERS > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block


def _write_in_parallel(
    reading_import: ReadingImport, works: Iterable[_ChunkWork], installs: pl.DataFrame
) -> None:
    """Write chunks on ``WRITERS`` threads, each with its own database connection and one
    transaction per chunk, while this thread computes the next chunk.

    Chunks hold disjoint meter ranges, so concurrent writes never touch the same keys nor
    wait for each other's write locks (``_lock_chunk_meters``); at most
    ``WRITERS`` computed chunks wait in memory. The first failure is raised after the
    running writes finish (chunks already committed stay, as in the sequential path)."""
    from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

    def write(work: _ChunkWork) -> None:
        try:
            _write_chunk(reading_import, work, installs)
        finally:
            connection.close()  # this thread's connection

    pending: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="reading-writer") as pool:
        for work in works:
            pending.add(pool.submit(write, work))
            if len(pending) > WRITERS:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
        for future in pending:
            future.result()


def _load_meters(asset_nos: list[str]) -> _MeterInfo:
    """One query per 5,000 asset numbers for the meters, one for their open installations.

    The frames are built from flat columns (registers and initial readings as long rows):
    building list or struct columns row by row from Python objects cost more than the
    queries."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(asset_nos), IN_BATCH):
        batch = asset_nos[start : start + IN_BATCH]
        rows.extend(
            Meter.objects.filter(asset_no__in=batch)
            .values_list("asset_no", "id", "registers", "digits", "multiplier")
            .order_by()
        )
    meters = pl.DataFrame(
        {
            "asset_no": [r[0] for r in rows],
            "meter_id": [r[1] for r in rows],
            "digits": [r[3] for r in rows],
            "multiplier_x100": [int(r[4] * 100) for r in rows],
        },
        schema={"asset_no": pl.String, "meter_id": pl.Int64, "digits": pl.Int64, "multiplier_x100": pl.Int64},
    )
    register_rows = [(r[1], str(register)) for r in rows for register in r[2] or []]
    registers = (
        pl.DataFrame(register_rows, schema={"meter_id": pl.Int64, "register": pl.String}, orient="row")
        .group_by("meter_id")
        .agg(pl.col("register").alias("registers"))
    )
    parse = meters.select("asset_no", "meter_id").join(registers, on="meter_id", how="left")
    parse = parse.with_columns(pl.col("registers").fill_null(pl.lit([], dtype=pl.List(pl.String))))

    ids = meters.get_column("meter_id").to_list()
    install_rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IN_BATCH):
        install_rows.extend(
            Installation.objects.filter(meter_id__in=ids[start : start + IN_BATCH], removed_at__isnull=True)
            .values_list("meter_id", "account_id", "installed_at", "initial_readings", "account__status")
            .order_by()
        )
    installs = pl.DataFrame(
        {
            "meter_id": [r[0] for r in install_rows],
            "account_id": [r[1] for r in install_rows],
            "installed_at": [r[2] for r in install_rows],
            "active": [r[4] == AccountStatus.ACTIVE for r in install_rows],
        },
        schema={
            "meter_id": pl.Int64,
            "account_id": pl.Int64,
            "installed_at": pl.Datetime("us", "UTC"),
            "active": pl.Boolean,
        },
    )
    installs = installs.with_columns(
        pl.col("installed_at")
        .dt.convert_time_zone(str(timezone.get_current_timezone()))
        .dt.date()
        .alias("install_day")
    ).drop("installed_at")
    initial_rows = [(r[0], register, milli) for r in install_rows for register, milli in _initial_pairs(r[3])]
    initial = pl.DataFrame(
        initial_rows,
        schema={"meter_id": pl.Int64, "register": pl.String, "value_milli": pl.Int64},
        orient="row",
    ).join(installs.select("meter_id", "install_day"), on="meter_id", how="inner")
    vee = meters.select("meter_id", "digits", "multiplier_x100").join(
        installs.select("meter_id", "active"), on="meter_id", how="left"
    )
    vee = vee.with_columns(pl.col("active").fill_null(False))
    return _MeterInfo(parse=parse, vee=vee, installs=installs.drop("active"), initial=initial)


def _initial_pairs(initial: Any) -> list[tuple[str, int]]:
    """An installation's initial readings as (register, milli-units) pairs (bad values skipped)."""
    pairs = []
    for register, value in dict(initial or {}).items():
        try:
            milli = int(Decimal(str(value)) * 1000)
        except (InvalidOperation, ValueError):
            continue
        pairs.append((str(register), milli))
    return pairs


def vee_params_in_force(day: dt.date | None = None) -> VeeParams:
    """The VEE thresholds in force on ``day`` (the newest row not after it; the newest row
    of all when ``day`` is None; built-in defaults when the table is empty)."""
    rows = VeeParameters.objects.order_by("-effective_from")
    row = (rows.filter(effective_from__lte=day).first() if day else None) or rows.first()
    if row is None:
        return _DEFAULT_PARAMS
    return VeeParams(
        spike_factor_x100=int(row.spike_factor * 100),
        spike_window_days=int(row.spike_window_days),
        spike_min_wh=int(row.spike_min_kwh * 1000),
        zero_run_days=int(row.zero_run_days),
        tou_tolerance_milli=int(row.tou_tolerance_kwh * 1000),
        auto_estimate_max_days=int(row.auto_estimate_max_days),
    )


def _chunk_starts(total: int) -> list[int]:
    """Where each chunk starts, in rows: ``CHUNK_ROWS`` each, except that a file of more
    than four chunks starts and ends with half-size ones, so that the second writer starts
    sooner and neither waits long alone on the last chunk."""
    if total <= 4 * CHUNK_ROWS:
        return list(range(0, total, CHUNK_ROWS))
    half = CHUNK_ROWS // 2
    middle = list(range(2 * half, total - 2 * half, CHUNK_ROWS))
    tail = middle[-1] + CHUNK_ROWS
    return [0, half, *middle, *range(tail, total, half)]


def plan_chunks(valid: pl.DataFrame) -> Iterable[list[int]]:
    """Sorted meter ids grouped into chunks of about the sizes ``_chunk_starts`` plans
    (whole meters: a chunk starts at the first meter whose rows begin at or after its start)."""
    counts = valid.group_by("meter_id").len().sort("meter_id")
    starts = pl.Series(_chunk_starts(valid.height), dtype=pl.Int64)
    before = counts.get_column("len").cum_sum() - counts.get_column("len")
    counts = counts.with_columns(chunk=starts.search_sorted(before, side="right"))
    for group in counts.partition_by("chunk", maintain_order=True):
        yield group.get_column("meter_id").to_list()


@dataclass
class _ChunkWork:
    """What one chunk computed and must write (in one transaction)."""

    rows: int
    duplicates: int
    readings: pl.DataFrame | None = None
    estimates: pl.DataFrame | None = None
    exceptions: pl.DataFrame | None = None
    meters: pl.DataFrame | None = None  # the chunk's meters (meter_id, digits, …): re-estimation


def _compute_chunk(new: pl.DataFrame, info: _MeterInfo, params: VeeParams) -> _ChunkWork:
    """Context from the database, duplicates, VEE: everything but the writes."""
    lo = int(new.get_column("meter_id").min())  # type: ignore[arg-type]
    hi = int(new.get_column("meter_id").max())  # type: ignore[arg-type]
    first_new: dt.date = new.get_column("day").min()  # type: ignore[assignment]
    last_new: dt.date = new.get_column("day").max()  # type: ignore[assignment]
    window_start = first_new - dt.timedelta(days=params.spike_window_days + params.zero_run_days)
    window_end = last_new + dt.timedelta(days=1)

    context = _load_context(lo, hi, window_start, window_end)
    if context.height:
        meter_ids = new.select("meter_id").unique()
        context = context.join(meter_ids, on="meter_id", how="semi")
    # Readings already stored are duplicates: the stored value stays (idempotent re-import).
    # Except an estimate: a reading of a day GridCare estimated replaces the estimate (it
    # is then stored as read, so importing it again finds a duplicate).
    keys = _KEYS
    estimated = pl.col("quality") == ReadingQuality.ESTIMATED.value
    fresh = new.join(context.filter(~estimated).select(keys), on=keys, how="anti") if context.height else new
    fresh = fresh.join(
        context.filter(estimated).select(*keys, pl.col("value_milli").alias("estimate_milli")),
        on=keys,
        how="left",
        maintain_order="left",
    )
    work = _ChunkWork(rows=new.height, duplicates=new.height - fresh.height)
    if fresh.height == 0:
        return work
    stale = None
    if fresh.get_column("estimate_milli").is_not_null().any():
        context, stale = _without_stale_estimates(context, fresh)
    series = pl.concat(
        [
            context.select(
                *keys,
                "value_milli",
                is_new=pl.lit(False),
                suspect=pl.col("quality") == ReadingQuality.SUSPECT.value,
            ),
            fresh.select(*keys, "value_milli").with_columns(is_new=pl.lit(True), suspect=pl.lit(False)),
            _installation_rows(fresh, context, info.initial, window_start).with_columns(
                suspect=pl.lit(False)
            ),
        ],
        how="vertical_relaxed",
    )  # in any order: VEE sorts it on its own integer key
    chunk_meters = info.vee.filter(pl.col("meter_id").is_between(lo, hi))
    result = vee_validate(series, chunk_meters, params)
    work.readings = with_quality(
        fresh.select(*keys, "value_milli", "source", "estimate_milli"), result.quality
    )
    work.estimates = result.estimates
    work.exceptions = result.exceptions
    work.meters = chunk_meters
    if stale is not None:  # the stale estimates are estimated again, not missing days
        work.estimates = work.estimates.join(run_days(stale), on=keys, how="anti")
        work.exceptions = _without_gaps_in(work.exceptions, stale)
    return work


def _without_stale_estimates(context: pl.DataFrame, fresh: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The chunk's context for VEE when some of its readings replace estimates (a back-fill
    inside an estimated gap): the estimates still standing next to them (their runs,
    :func:`engine.estimate.estimate_runs`) are about to be estimated again from the new
    readings, so VEE judges the new readings against the reads around the gap instead (the
    reading after the gap is added when the context does not reach it). Returns the context
    and the runs."""
    replacing = fresh.filter(pl.col("estimate_milli").is_not_null()).select(_KEYS)
    overlay = fresh.select(*_KEYS, "value_milli", quality=pl.lit(ReadingQuality.VALID.value))
    around, runs = _estimate_runs_around(replacing, overlay=overlay)
    beyond = around.join(context.select(_KEYS), on=_KEYS, how="anti")
    context = pl.concat([context, beyond.select(context.columns)]).join(run_days(runs), on=_KEYS, how="anti")
    return context, runs


def _without_gaps_in(exceptions: pl.DataFrame, runs: pl.DataFrame) -> pl.DataFrame:
    """``exceptions`` less the missing-days ones lying within one of ``runs`` (days that hold
    estimates: they are estimated again, not missing)."""
    gaps = exceptions.filter(pl.col("rule") == VeeRule.MISSING.value).with_row_index("_gap")
    inside = (
        gaps.join(runs.select("meter_id", "register", "day_from", "day_to"), on=["meter_id", "register"])
        .filter(
            (pl.col("day_from_right") <= pl.col("day_from")) & (pl.col("day_to") <= pl.col("day_to_right"))
        )
        .get_column("_gap")
    )
    if inside.len() == 0:
        return exceptions
    kept = gaps.filter(~pl.col("_gap").is_in(inside.implode())).drop("_gap")
    return pl.concat([exceptions.filter(pl.col("rule") != VeeRule.MISSING.value), kept]).sort(
        "meter_id", "register", "rule", "day_from"
    )


def _estimate_runs_around(
    keys: pl.DataFrame, *, overlay: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored readings around ``keys`` (meter_id, register, day: days whose estimate a
    real reading replaces or replaced) and the runs of estimates next to those days
    (:func:`engine.estimate.estimate_runs`), with the reading on each side of each run.

    One ``_load_context`` over the keys' meters from ``_AROUND_DAYS`` before the first key
    day to as many after the last; the registers with a run reaching the edge of what was
    loaded are loaded again four times as wide (up to ``_AROUND_MAX_DAYS``). ``overlay``
    (meter_id, register, day, value_milli, quality): rows standing over the stored ones
    for finding the runs (the chunk's new readings, not yet written); the readings
    returned are the stored ones."""
    pending = keys.select(_KEYS).unique()
    width = _AROUND_DAYS
    loaded: list[pl.DataFrame] = []
    found: list[pl.DataFrame] = []
    while pending.height:
        pairs = pending.select("meter_id", "register").unique()
        meters = pending.get_column("meter_id")
        first: dt.date = pending.get_column("day").min()  # type: ignore[assignment]
        last: dt.date = pending.get_column("day").max()  # type: ignore[assignment]
        start, end = first - dt.timedelta(days=width), last + dt.timedelta(days=width)
        stored = _load_context(int(meters.min()), int(meters.max()), start, end)  # type: ignore[arg-type]
        stored = stored.join(pairs, on=["meter_id", "register"], how="semi")
        seen = stored
        if overlay is not None:
            over = overlay.join(pairs, on=["meter_id", "register"], how="semi").select(stored.columns)
            over = over.cast(dict(stored.schema))  # type: ignore[arg-type]
            seen = pl.concat([stored.join(over, on=_KEYS, how="anti"), over])
        runs = estimate_runs(seen, pending)
        at_edge = runs.filter(
            (pl.col("prev_day").is_null() & (pl.col("day_from") == start))
            | (pl.col("next_day").is_null() & (pl.col("day_to") == end))
        ).select("meter_id", "register")
        if width >= _AROUND_MAX_DAYS:
            at_edge = at_edge.clear()
        loaded.append(stored.join(at_edge, on=["meter_id", "register"], how="anti"))
        found.append(runs.join(at_edge, on=["meter_id", "register"], how="anti"))
        pending = pending.join(at_edge, on=["meter_id", "register"], how="semi")
        width *= 4
    return pl.concat(loaded), pl.concat(found)


def _write_chunk(reading_import: ReadingImport, work: _ChunkWork, installs: pl.DataFrame) -> None:
    """One transaction for the chunk's readings (new ones inserted, estimates replaced),
    estimates and exceptions; then the counters (so a progress bar polling the job sees
    them). A reading that replaced an estimate counts as stored.

    Where a reading replaced an estimate, the estimates still standing in its gap are
    estimated again (:func:`_reestimate`); chunks that replaced none skip that.

    Another import writing some of the same meters at the same time waits for this chunk
    to commit (or this one for it: :func:`_lock_chunk_meters`); its readings were checked
    against the stored ones before that, so a reading it stored meanwhile makes one of ours
    a duplicate, and an estimate it stored meanwhile is replaced by our real reading."""
    inserted = opened = 0
    if work.readings is not None:
        now = _db_now()
        replaces = pl.col("estimate_milli").is_not_null()
        with transaction.atomic():
            _lock_chunk_meters(work)
            new = work.readings.filter(~replaces)
            inserted = _insert_readings(reading_import, new)
            replacing = work.readings.filter(replaces)
            if inserted < new.height:  # someone stored some of these days since the chunk looked
                replacing = pl.concat([replacing, _estimated_meanwhile(new).select(replacing.columns)])
            replaced = _replace_estimates(reading_import, replacing)
            inserted += replaced.height
            if replaced.height:
                _reestimate(
                    replaced,
                    work.meters,
                    actor=_import_actor(reading_import),
                    obj=reading_import,
                    action="reading_import.reestimate",
                    reading_import=reading_import,
                )
            if work.estimates is not None:
                _insert_estimates(reading_import, work.estimates)
            if work.exceptions is not None:
                opened = _write_exceptions(reading_import, work.exceptions, installs, now)
    fresh = work.readings.height if work.readings is not None else 0
    ReadingImport.objects.filter(pk=reading_import.pk).update(
        processed_rows=F("processed_rows") + work.rows,
        inserted_rows=F("inserted_rows") + inserted,
        duplicate_rows=F("duplicate_rows") + work.duplicates + (fresh - inserted),
        exceptions_opened=F("exceptions_opened") + opened,
    )


def lock_meter_writes(meter_ids: Iterable[int] | pl.Series) -> None:
    """Take the write locks of ``meter_ids`` (``core.bulk.lock_ids``, one namespace and one
    global order; PostgreSQL) for the rest of the transaction. Every write of readings or
    reading exceptions — an import chunk, a clerk's edit, the exception queue's actions,
    the missing-days sweep, a meter's installation, removal or exchange
    (``services.assets``) — calls this first, before it locks or writes any row: two
    writers of the same meters then go one after the other instead of locking rows in
    opposite orders and deadlocking.

    Pass all the meters of the transaction in one call: one call takes its locks in the
    global order, a second call in the same transaction takes its own after them, which
    can break that order — unless it asks only for locks the first one holds, as when an
    exchange's removal and installation lock again the meters the exchange locked."""
    lock_ids(namespace=_WRITE_LOCKS, ids=meter_ids)


def _lock_chunk_meters(work: _ChunkWork) -> None:
    """Take the write locks of the chunk's meters (:func:`lock_meter_writes`): two imports
    writing the same meters, or an import and a clerk, then write one after the other,
    while the import's own chunks (disjoint meter ranges) still go side by side."""
    frames = [f for f in (work.readings, work.estimates, work.exceptions) if f is not None and f.height]
    lock_meter_writes(pl.concat([f.get_column("meter_id").cast(pl.Int64) for f in frames]))


def _estimated_meanwhile(readings: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``readings`` (expected new) whose day now holds an estimate: stored by a
    concurrent import after this chunk loaded its context. Each with the stored estimate
    as ``estimate_milli``, to be replaced like the ones the context showed."""
    meters = readings.get_column("meter_id")
    days = readings.get_column("day")
    stored = _load_context(
        int(meters.min()),  # type: ignore[arg-type]
        int(meters.max()),  # type: ignore[arg-type]
        days.min(),  # type: ignore[arg-type]
        days.max(),  # type: ignore[arg-type]
    ).filter(pl.col("quality") == ReadingQuality.ESTIMATED.value)
    return readings.drop("estimate_milli").join(
        stored.select(*_KEYS, pl.col("value_milli").alias("estimate_milli")), on=_KEYS, how="inner"
    )


def _import_actor(reading_import: ReadingImport) -> Any:
    """Who an import's own writes are audited as: the user who started it, else the job."""
    return reading_import.created_by if reading_import.created_by_id else _IMPORT_ACTOR


def _reading_key() -> pl.Expr:
    """A reading's audit name, ``meter id/register/day`` (``core.audit.object_key``)."""
    return pl.format("{}/{}/{}", "meter_id", "register", pl.col("day").cast(pl.String))


def _replace_estimates(reading_import: ReadingImport, readings: pl.DataFrame) -> pl.DataFrame:
    """Store read values over the estimates of their days (set-based; a reading changed
    from its estimate since the chunk loaded it, e.g. edited, is left alone). One audit
    row on the import lists every replaced reading with its value before and after.
    Returns the keys (meter_id, register, day) of the readings replaced."""
    if readings.height == 0:
        return pl.DataFrame(schema={k: _READING_SCHEMA[k] for k in _KEYS})
    frame = readings.select(
        *_KEYS,
        decimal_from_units("value_milli", scale=3, alias="value"),
        "source",
        "quality",
        reading_import_id=pl.lit(reading_import.pk, dtype=pl.Int64),
    )
    replaced = update_from_frame(
        table=Reading._meta.db_table,
        frame=frame,
        key_columns=_KEYS,
        only_if=f"t.quality = '{ReadingQuality.ESTIMATED.value}'",
    )
    if replaced.height == 0:
        return replaced
    done = readings.join(replaced, on=_KEYS, how="semi").select(
        _reading_key().alias("key"),
        decimal_text("estimate_milli", scale=3, alias="before"),
        decimal_text("value_milli", scale=3, alias="after"),
        "source",
        "quality",
    )
    audit_record(
        actor=_import_actor(reading_import),
        obj=reading_import,
        action="reading_import.replace_estimates",
        before={
            key: {
                "value": value,
                "source": ReadingSource.ESTIMATED.value,
                "quality": ReadingQuality.ESTIMATED.value,
            }
            for key, value in done.select("key", "before").iter_rows()
        },
        after={
            key: {"value": value, "source": source, "quality": quality}
            for key, value, source, quality in done.select("key", "after", "source", "quality").iter_rows()
        },
    )
    return replaced


def _reestimate(
    replaced: pl.DataFrame,
    meters: pl.DataFrame | None,
    *,
    actor: Any,
    obj: models.Model,
    action: str,
    reading_import: ReadingImport | None = None,
    reason: str = "",
) -> int:
    """Estimate again the estimates standing next to the ``replaced`` days (meter_id,
    register, day: a real reading just replaced their estimate, or a clerk edited them):
    each run of them lying between two good reads (valid or edited) gets the straight line
    between those (``engine.estimate.interpolate_runs``, the rule of the first estimation;
    a run next to a suspect reading or without a reading on one side stays as it was).
    An estimate a settled period used — on or before its meter's last day an issued bill or
    a prepaid daily charge used (``billing.selectors.settled``) — stays as it was, and the
    one on that day is the read the estimates after it are drawn from
    (``engine.estimate.runs_after_settled``): a back-fill on or before that day is stored,
    but only the estimates after that day are drawn again.
    ``meters`` (meter_id, digits) tells where a register rolls over. Set-based, in the
    caller's transaction after the replacement, under its write locks; the values stay
    source and quality ``estimated``; with ``reading_import`` they name that import as
    theirs (an import's back-fill), else they keep their import (a clerk's edit). One audit
    row — ``actor``, ``action`` on ``obj``, ``reason`` — lists each estimate changed with
    its value before and after. Returns how many changed."""
    around, runs = _estimate_runs_around(replaced)
    if runs.height:  # the estimates a settled period used stay (one query, only when there are runs)
        runs = runs_after_settled(runs, settled_reading_days(runs.get_column("meter_id").unique()), around)
    no_meters = pl.DataFrame(schema={"meter_id": pl.Int64, "digits": pl.Int64})  # no rollover known
    estimates = interpolate_runs(runs, meters if meters is not None else no_meters)
    changes = estimates.join(
        around.filter(pl.col("quality") == ReadingQuality.ESTIMATED.value).select(
            *_KEYS, pl.col("value_milli").alias("before_milli")
        ),
        on=_KEYS,
        how="inner",
    ).filter(pl.col("value_milli") != pl.col("before_milli"))
    if changes.height == 0:
        return 0
    frame = changes.select(*_KEYS, decimal_from_units("value_milli", scale=3, alias="value"))
    if reading_import is not None:
        frame = frame.with_columns(reading_import_id=pl.lit(reading_import.pk, dtype=pl.Int64))
    changed = update_from_frame(
        table=Reading._meta.db_table,
        frame=frame,
        key_columns=_KEYS,
        only_if=f"t.quality = '{ReadingQuality.ESTIMATED.value}'",
    )
    if changed.height == 0:
        return 0
    done = (
        changes.join(changed, on=_KEYS, how="semi")
        .sort(_KEYS)
        .select(
            _reading_key().alias("key"),
            decimal_text("before_milli", scale=3, alias="before"),
            decimal_text("value_milli", scale=3, alias="after"),
        )
    )
    audit_record(
        actor=actor,
        obj=obj,
        action=action,
        before={key: {"value": value} for key, value in done.select("key", "before").iter_rows()},
        after={key: {"value": value} for key, value in done.select("key", "after").iter_rows()},
        reason=reason,
    )
    return changed.height


def _installation_rows(
    fresh: pl.DataFrame, context: pl.DataFrame, initial: pl.DataFrame, window_start: dt.date
) -> pl.DataFrame:
    """The open installation's initial readings as stored-looking rows on the installation
    day, for each (meter, register) with no stored reading before its first new day (a new
    meter or one just exchanged: its series starts there, not at the old meter's values)."""
    empty = pl.DataFrame(schema={**_READING_SCHEMA, "is_new": pl.Boolean})
    initial = initial.filter(pl.col("install_day") >= window_start)
    if initial.height == 0:
        return empty
    firsts = fresh.group_by("meter_id", "register").agg(first_new=pl.col("day").min())
    if context.height:
        earliest = context.group_by("meter_id", "register").agg(first_stored=pl.col("day").min())
        firsts = firsts.join(earliest, on=["meter_id", "register"], how="left").filter(
            pl.col("first_stored").is_null() | (pl.col("first_stored") >= pl.col("first_new"))
        )
    rows = firsts.join(initial, on=["meter_id", "register"], how="inner").filter(
        pl.col("install_day") < pl.col("first_new")
    )
    if context.height:
        rows = rows.join(
            context.select("meter_id", "register", pl.col("day").alias("install_day")),
            on=["meter_id", "register", "install_day"],
            how="anti",
        )
    return rows.select(
        "meter_id", "register", pl.col("install_day").alias("day"), "value_milli", is_new=pl.lit(False)
    ).cast({"meter_id": pl.Int64, "value_milli": pl.Int64})


def _load_context(lo: int, hi: int, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Stored readings of meters ``lo``–``hi`` between ``start`` and ``end`` with their
    quality (one query, ``COPY … TO STDOUT`` on PostgreSQL, straight into a frame)."""
    table = Reading._meta.db_table
    if connection.vendor == "postgresql":
        sql = (
            f"COPY (SELECT meter_id, register, day, CAST(value * 1000 AS BIGINT), quality FROM {table} "  # noqa: S608
            f"WHERE meter_id BETWEEN {int(lo)} AND {int(hi)} "
            f"AND day BETWEEN '{start.isoformat()}' AND '{end.isoformat()}') TO STDOUT WITH (FORMAT csv)"
        )
        buffer = io.BytesIO()
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for data in copy:
                buffer.write(data)
        if buffer.tell() == 0:
            return pl.DataFrame(schema=_CONTEXT_SCHEMA)
        buffer.seek(0)
        return pl.read_csv(
            buffer, has_header=False, new_columns=list(_CONTEXT_SCHEMA), schema=_CONTEXT_SCHEMA
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT meter_id, register, CAST(day AS TEXT), CAST(ROUND(value * 1000) AS INTEGER), quality "  # noqa: S608
            f"FROM {table} WHERE"
            " meter_id BETWEEN %s AND %s AND day BETWEEN %s AND %s",
            [lo, hi, start.isoformat(), end.isoformat()],
        )
        rows = cursor.fetchall()
    frame = pl.DataFrame(
        rows,
        schema={**_CONTEXT_SCHEMA, "day": pl.String},
        orient="row",
    )
    return frame.with_columns(pl.col("day").str.to_date("%Y-%m-%d"))


def _db_now() -> str:
    """Now, as the database stores timestamps (for rows written in bulk)."""
    return str(connection.ops.adapt_datetimefield_value(timezone.now()))


def _insert_readings(reading_import: ReadingImport, readings: pl.DataFrame) -> int:
    frame = readings.select(
        "meter_id",
        "register",
        "day",
        decimal_from_units("value_milli", scale=3, alias="value"),
        "source",
        quality="quality",
        reading_import_id=pl.lit(reading_import.pk, dtype=pl.Int64),
    )
    # The chunk left out every reading already stored in its context window, so the rows
    # are expected to be new: COPY straight in (rows a concurrent import stored meanwhile
    # are skipped here; ``_write_chunk`` then replaces the estimates among them).
    return insert_ignoring_conflicts(
        table=Reading._meta.db_table,
        frame=frame,
        conflict_columns=["meter_id", "register", "day"],
        expect_new=True,
    )


def _insert_estimates(reading_import: ReadingImport | None, estimates: pl.DataFrame) -> int:
    if estimates.height == 0:
        return 0
    frame = estimates.select(
        pl.col("meter_id").cast(pl.Int64),
        "register",
        "day",
        decimal_from_units("value_milli", scale=3, alias="value"),
        source=pl.lit(ReadingSource.ESTIMATED.value),
        quality=pl.lit(ReadingQuality.ESTIMATED.value),
        reading_import_id=pl.lit(reading_import.pk if reading_import else None, dtype=pl.Int64),
    )
    return insert_ignoring_conflicts(
        table=Reading._meta.db_table, frame=frame, conflict_columns=["meter_id", "register", "day"]
    )


def _write_exceptions(
    reading_import: ReadingImport, exceptions: pl.DataFrame, installs: pl.DataFrame, now: str
) -> int:
    """Open the chunk's exceptions; a zero-use run that goes on from one on record (open or
    handled: an accepted vacancy is not reopened) extends that one instead
    (``engine.vee.continue_runs``), and so does a gap of missing days that starts where an
    open missing-days exception starts (a trailing gap the nightly sweep opened before the
    meter came back: the gap runs longer than the sweep could see). Returns the number
    opened."""
    runs = exceptions.filter(pl.col("rule") == VeeRule.ZERO_RUN.value)
    if runs.height:
        fresh, extended = continue_runs(runs, _stored_runs(runs))
        _extend_exceptions(reading_import, extended)
        exceptions = pl.concat([exceptions.filter(pl.col("rule") != VeeRule.ZERO_RUN.value), fresh])
    gaps = exceptions.filter(pl.col("rule") == VeeRule.MISSING.value)
    if gaps.height:
        _extend_exceptions(reading_import, _open_gaps_to_extend(gaps))
    return _insert_exceptions(reading_import, exceptions, installs, now)


def _stored_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """The zero-use exceptions on record that the chunk's runs may continue: same meters,
    ending no earlier than the day before the earliest run starts (one query per 5,000
    meters)."""
    since = runs.get_column("day_from").min() - dt.timedelta(days=1)  # type: ignore[operator]
    ids = runs.get_column("meter_id").unique().sort().to_list()
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IN_BATCH):
        rows.extend(
            ReadingException.objects.filter(
                meter_id__in=ids[start : start + IN_BATCH], rule=VeeRule.ZERO_RUN, day_to__gte=since
            )
            .values_list("id", "meter_id", "register", "day_from", "day_to")
            .order_by()
        )
    return pl.DataFrame(rows, schema=STORED_RUN_SCHEMA, orient="row")


def _open_gaps_to_extend(gaps: pl.DataFrame) -> pl.DataFrame:
    """The open (or sent for re-read) missing-days exceptions on record that start on the
    first day of a gap the chunk found and end before it (one query per 5,000 meters), as
    ``engine.vee.EXTENDED_RUN_SCHEMA`` rows: to extend to the gap's last day. The gap's own
    exception is then a conflict with it and opens nothing."""
    ids = gaps.get_column("meter_id").unique().sort().to_list()
    first: dt.date = gaps.get_column("day_from").min()  # type: ignore[assignment]
    last: dt.date = gaps.get_column("day_from").max()  # type: ignore[assignment]
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), IN_BATCH):
        rows.extend(
            ReadingException.objects.filter(
                meter_id__in=ids[start : start + IN_BATCH],
                rule=VeeRule.MISSING,
                status__in=OPEN_EXCEPTION_STATUSES,
                day_from__range=(first, last),
            )
            .values_list("id", "meter_id", "register", "day_from", "day_to")
            .order_by()
        )
    stored = pl.DataFrame(rows, schema=STORED_RUN_SCHEMA, orient="row")
    return (
        gaps.join(stored.rename({"day_to": "day_to_before"}), on=["meter_id", "register", "day_from"])
        .filter(pl.col("day_to") > pl.col("day_to_before"))
        .select("id", "day_to_before", "day_to", "detail")
        .sort("id")
        .cast(EXTENDED_RUN_SCHEMA)  # type: ignore[arg-type]
    )


def _extend_exceptions(reading_import: ReadingImport, extended: pl.DataFrame) -> None:
    """Move the last day of exceptions that go on (a zero-use run, a gap; set-based), with
    one audit row on the import listing each exception's last day before and after."""
    if extended.height == 0:
        return
    changed = update_from_frame(
        table=ReadingException._meta.db_table,
        frame=extended.select("id", "day_to", "detail"),
        key_columns=["id"],
        only_if="t.day_to < s.day_to",
    )
    if changed.height == 0:
        return
    done = extended.join(changed, on="id", how="semi")
    audit_record(
        actor=_import_actor(reading_import),
        obj=reading_import,
        action="reading_import.extend_exceptions",
        before={str(pk): {"day_to": day} for pk, day in done.select("id", "day_to_before").iter_rows()},
        after={str(pk): {"day_to": day} for pk, day in done.select("id", "day_to").iter_rows()},
    )


def _insert_exceptions(
    reading_import: ReadingImport, exceptions: pl.DataFrame, installs: pl.DataFrame, now: str
) -> int:
    if exceptions.height == 0:
        return 0
    frame = exceptions.join(installs.select("meter_id", "account_id"), on="meter_id", how="left").select(
        pl.col("meter_id").cast(pl.Int64),
        "account_id",
        "register",
        "rule",
        "day_from",
        "day_to",
        "detail",
        status=pl.lit(ExceptionStatus.OPEN.value),
        reading_import_id=pl.lit(reading_import.pk, dtype=pl.Int64),
        opened_at=pl.lit(now),
        resolution_note=pl.lit(""),
    )
    return insert_ignoring_conflicts(
        table=ReadingException._meta.db_table,
        frame=frame,
        conflict_columns=["meter_id", "register", "rule", "day_from"],
    )


def _write_rejections(reading_import: ReadingImport, rejected: pl.DataFrame) -> None:
    """Rejected rows into ``ImportRejection`` (bulk) and the downloadable CSV."""
    path = rejected_csv_path(reading_import)
    ordered = rejected.sort("line_no")
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", "detail", "raw"])
        writer.writerows(
            ordered.select(
                "line_no", "reason", text_cell_expr(pl.col("detail")), text_cell_expr(pl.col("raw"))
            ).iter_rows()
        )
    if ordered.height == 0:
        return
    frame = ordered.select(
        reading_import_id=pl.lit(reading_import.pk, dtype=pl.Int64),
        line_no=pl.col("line_no").cast(pl.Int64),
        raw=pl.col("raw").fill_null(""),
        reason=pl.col("reason").str.slice(0, 40),
        detail=pl.col("detail").fill_null("").str.slice(0, 300),
    )
    with transaction.atomic():
        insert_ignoring_conflicts(table=ImportRejection._meta.db_table, frame=frame, conflict_columns=["id"])


# --- corrections and exception handling ------------------------------------------------------


def reading_edit(
    *, actor: Any, meter_id: int, register: str, day: dt.date, value: Decimal, reason: str
) -> Reading:
    """人工修改示数: replace one stored reading (named by its key: meter, register, day)
    with a new value; the reason is required and audited with the value before and after.
    The reading becomes source and quality ``edited``. Takes the meter's write lock first
    (:func:`lock_meter_writes`): an import writing the meter finishes its chunk before.

    An edited reading is a read to estimate from: when an estimate lies next to it (the
    clerk typed a read over an estimate inside an estimated gap, or corrected the read at
    either end of one), the estimates on either side are drawn again through it, as after a
    back-fill at import (:func:`_reestimate`), in the same transaction; one more audit row
    (``reading.reestimate`` on the edited reading, the clerk and the reason) lists them
    before and after. An edit with no estimate next to it changes nothing else."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(MSG_REASON_REQUIRED, field="reason")
    try:
        value = Decimal(str(value)).quantize(Decimal("0.001"))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(MSG_BAD_VALUE, field="value") from exc
    if value < 0:
        raise ValidationFailed(MSG_NEGATIVE, field="value")
    fields = ["value", "source", "quality"]
    with transaction.atomic():
        lock_meter_writes([int(meter_id)])  # an import writing this meter first finishes its chunk
        try:
            reading = Reading.objects.select_for_update().get(meter_id=meter_id, register=register, day=day)
        except Reading.DoesNotExist as exc:
            raise NotFound() from exc
        before = snapshot(reading, fields)
        reading.value = value
        reading.source = ReadingSource.EDITED
        reading.quality = ReadingQuality.EDITED
        reading.save(update_fields=fields)
        audit_record(
            actor=actor,
            obj=reading,
            action="reading.edit",
            before=before,
            after=snapshot(reading, fields),
            reason=reason,
        )
        next_to_estimates = Reading.objects.filter(
            meter_id=reading.meter_id,
            register=reading.register,
            day__in=[reading.day - dt.timedelta(days=1), reading.day + dt.timedelta(days=1)],
            quality=ReadingQuality.ESTIMATED,
        ).exists()
        if next_to_estimates:
            edited = pl.DataFrame(
                {"meter_id": [reading.meter_id], "register": [reading.register], "day": [reading.day]},
                schema={k: _READING_SCHEMA[k] for k in _KEYS},
            )
            digits = pl.DataFrame(
                list(Meter.objects.filter(pk=reading.meter_id).values_list("pk", "digits")),
                schema={"meter_id": pl.Int64, "digits": pl.Int64},
                orient="row",
            )
            _reestimate(edited, digits, actor=actor, obj=reading, action="reading.reestimate", reason=reason)
    return reading


def reading_exceptions_resolve(
    *, actor: Any, exception_ids: Sequence[int], action: str, note: str = ""
) -> int:
    """处理抄表异常 in bulk: ``accept`` (the readings stand), ``estimate`` (fill a
    missing-days span with estimates), ``reread`` (send for re-reading: the account stays
    held from billing) or ``release`` (bill despite the exception). Each exception gets its
    resolution and one audit row; exceptions already resolved are refused (nothing changes).

    Accept and release also make the suspect readings the exception covers (its meter and
    register, ``day_from``–``day_to``) valid, so that billing and line loss count them —
    except a reading another exception still open (or sent for re-read) covers too. Each
    such reading gets its own audit row (``reading.quality``: suspect → valid).
    The write locks of the exceptions' meters are taken first (:func:`lock_meter_writes`, as an
    import chunk takes them), so an import writing those meters and the clerk go one after
    the other. Returns the number of exceptions handled."""
    status = RESOLVE_ACTIONS.get(action)
    if status is None:
        raise ValidationFailed(MSG_BAD_ACTION.format(action=action), field="action")
    ids = sorted({int(i) for i in exception_ids})
    if not ids:
        raise ValidationFailed(MSG_NO_EXCEPTIONS, field="ids")
    note = (note or "").strip()[:300]
    with transaction.atomic():
        # the write locks of the exceptions' meters first, as an import chunk takes them, and
        # only then the exception rows (an import holding the locks may extend those rows)
        lock_meter_writes(ReadingException.objects.filter(pk__in=ids).values_list("meter_id", flat=True))
        exceptions = list(ReadingException.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(exceptions) != len(ids):
            raise NotFound()
        done = [e.pk for e in exceptions if e.status not in (ExceptionStatus.OPEN, ExceptionStatus.REREAD)]
        if action == "reread":
            done += [e.pk for e in exceptions if e.status == ExceptionStatus.REREAD]
        if done:
            raise Conflict(MSG_ALREADY_RESOLVED.format(ids=", ".join(map(str, sorted(done)))), field="ids")
        if action == "estimate":
            if any(e.rule != VeeRule.MISSING for e in exceptions):
                raise ValidationFailed(MSG_ONLY_MISSING, field="action")
            for exc in exceptions:
                _estimate_exception(exc)
        now = timezone.now()
        user = actor if getattr(actor, "is_authenticated", False) else None
        fields = ["status", "resolved_at", "resolved_by_id", "resolution_note"]
        for exc in exceptions:
            before = snapshot(exc, fields)
            exc.status = status
            exc.resolved_at = now
            exc.resolved_by = user
            exc.resolution_note = note
            exc.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
            audit_record(
                actor=actor,
                obj=exc,
                action=f"reading_exception.{action}",
                before=before,
                after=snapshot(exc, fields),
                reason=note,
            )
        if action in ("accept", "release"):
            _validate_suspect_readings(actor, exceptions, action=action, note=note)
    return len(exceptions)


def _validate_suspect_readings(
    actor: Any, exceptions: Sequence[ReadingException], *, action: str, note: str
) -> None:
    """The suspect readings the accepted or released ``exceptions`` cover become valid
    (the clerk's decision stands for them); a reading an exception still open or sent for
    re-read also covers stays suspect until that one is handled too. One audit row per
    reading changed. Runs inside the caller's transaction."""
    for exc in exceptions:
        suspect = list(
            Reading.objects.select_for_update()
            .filter(
                meter_id=exc.meter_id,
                register=exc.register,
                day__range=(exc.day_from, exc.day_to),
                quality=ReadingQuality.SUSPECT,
            )
            .order_by("day")
        )
        if not suspect:
            continue
        still_open = list(
            ReadingException.objects.filter(
                meter_id=exc.meter_id,
                register=exc.register,
                status__in=OPEN_EXCEPTION_STATUSES,
                day_from__lte=suspect[-1].day,
                day_to__gte=suspect[0].day,
            ).values_list("day_from", "day_to")
        )
        readings = [r for r in suspect if not any(lo <= r.day <= hi for lo, hi in still_open)]
        if not readings:
            continue
        Reading.objects.filter(
            meter_id=exc.meter_id,
            register=exc.register,
            day__in=[r.day for r in readings],
            quality=ReadingQuality.SUSPECT,
        ).update(quality=ReadingQuality.VALID)
        for reading in readings:
            reading.quality = ReadingQuality.VALID
            audit_record(
                actor=actor,
                obj=reading,
                action="reading.quality",
                before={"quality": ReadingQuality.SUSPECT.value},
                after={"quality": ReadingQuality.VALID.value, "exception": exc.pk, "action": action},
                reason=note,
            )


def _estimate_exception(exc: ReadingException) -> int:
    """Insert estimated readings for the missing days of ``exc`` (interpolated between the
    valid reads around the gap — across a rollover of the meter's register too — or
    profile-based when one side is missing; a suspect reading is not one to estimate
    from). A day of the gap read meanwhile (a back-fill, 补召) keeps its reading, and the
    estimates next to it follow it as after a back-fill at import
    (``engine.estimate.estimate_runs`` / ``interpolate_runs``)."""
    start = exc.day_from - dt.timedelta(days=60)
    end = exc.day_to + dt.timedelta(days=60)
    rows = list(
        Reading.objects.filter(meter_id=exc.meter_id, register=exc.register, day__range=(start, end))
        .exclude(quality=ReadingQuality.SUSPECT)
        .order_by("day")
        .values_list("meter_id", "register", "day", "value", "quality")
    )
    series = pl.DataFrame(
        {
            "meter_id": [r[0] for r in rows],
            "register": [r[1] for r in rows],
            "day": [r[2] for r in rows],
            "value_milli": [int(Decimal(r[3]) * 1000) for r in rows],
            "quality": [r[4] for r in rows],
        },
        schema=_CONTEXT_SCHEMA,
    )
    digits = Meter.objects.values_list("digits", flat=True).get(pk=exc.meter_id)
    estimates = estimate_missing(series, exc.meter_id, exc.register, exc.day_from, exc.day_to, digits=digits)
    if estimates.height == 0:
        raise ValidationFailed(MSG_CANNOT_ESTIMATE.format(id=exc.pk), field="action")
    read_inside = series.filter(
        pl.col("day").is_between(exc.day_from, exc.day_to)
        & (pl.col("quality") != ReadingQuality.ESTIMATED.value)
    )
    if read_inside.height:
        missing = estimates.join(series, on=_KEYS, how="anti")
        runs = estimate_runs(
            pl.concat([series, missing.with_columns(quality=pl.lit(ReadingQuality.ESTIMATED.value))]),
            read_inside.select(_KEYS),
        )
        meter = pl.DataFrame(
            {"meter_id": [exc.meter_id], "digits": [digits]},
            schema={"meter_id": pl.Int64, "digits": pl.Int64},
        )
        estimates = missing.update(interpolate_runs(runs, meter), on=_KEYS, how="left")
    return _insert_estimates(exc.reading_import, estimates)


def reading_missing_sweep(*, as_of: dt.date | None = None) -> dict[str, int]:
    """缺数巡检: open a ``missing`` exception for every register of an installed meter on an
    active account whose last reading is more than ``auto_estimate_max_days`` before
    ``as_of`` (default: yesterday) — the trailing gaps an import cannot see, because a meter
    that stopped reporting sends nothing to validate.

    Idempotent: the exception of a gap is keyed by its first missing day; a later sweep
    extends the open exception's ``day_to`` instead of opening another. A meter never read
    since installation counts from its installation day. Returns ``{"opened", "extended"}``.

    The meters go ``SWEEP_BATCH_METERS`` at a time, in id order, one transaction per batch
    (:func:`_sweep_meters`) that first takes the batch's write locks
    (:func:`lock_meter_writes`): an import chunk writes the same exceptions (it opens the
    gaps it sees and extends the sweep's open ones when a meter comes back), so without
    them the two could each hold an exception row the other needs (a deadlock). An import
    then waits for the batch holding its meters only, never for the whole sweep; a batch
    committed before a failure stays, and the next run does the rest."""
    as_of = as_of or timezone.localdate() - dt.timedelta(days=1)
    limit = vee_params_in_force(as_of).auto_estimate_max_days
    meter_ids = sorted(
        set(
            Installation.objects.filter(
                removed_at__isnull=True, account__status=AccountStatus.ACTIVE
            ).values_list("meter_id", flat=True)
        )
    )
    opened = extended = 0
    for start in range(0, len(meter_ids), SWEEP_BATCH_METERS):
        batch_opened, batch_extended = _sweep_meters(
            meter_ids[start : start + SWEEP_BATCH_METERS], as_of=as_of, limit=limit
        )
        opened += batch_opened
        extended += batch_extended
    return {"opened": opened, "extended": extended}


def _sweep_last_days(
    pairs: set[tuple[int, str]], *, as_of: dt.date, limit: int
) -> dict[tuple[int, str], dt.date]:
    """The last reading day on or before ``as_of`` of each (meter, register) of ``pairs`` that
    has one, without reading the meters' whole history (13 months or more of daily readings
    a register, every night).

    Per register, first the meters that carry it read within the last ``limit`` days up to
    ``as_of`` (the ones the sweep leaves alone): one range scan of the readings' key with
    all three of its columns bounded (the meters, the register, the days), a few rows per
    meter. The register is one value, not a list: PostgreSQL may check a list on the key's
    second column as a filter instead, and then walk each meter's whole history. Then, for
    the meters with nothing in that window only (silent, or never read), their true last
    day: one backward probe of the key each (``ORDER BY day DESC LIMIT 1``)."""
    meters_of: dict[str, list[int]] = {}
    for meter_id, register in sorted(pairs):
        meters_of.setdefault(register, []).append(meter_id)
    recent_from = as_of - dt.timedelta(days=limit)
    last: dict[tuple[int, str], dt.date] = {}
    for register, meter_ids in sorted(meters_of.items()):
        readings = Reading.objects.filter(register=register, day__lte=as_of).order_by()
        days: dict[int, dt.date] = dict(
            readings.filter(meter_id__in=meter_ids, day__gte=recent_from)
            .values("meter_id")
            .annotate(last=Max("day"))
            .values_list("meter_id", "last")
        )
        silent = [m for m in meter_ids if m not in days]
        if silent:
            probe = readings.filter(meter_id=OuterRef("pk")).order_by("-day").values("day")[:1]
            days.update(
                (meter_id, day)
                for meter_id, day in Meter.objects.filter(pk__in=silent)
                .annotate(last=Subquery(probe))
                .values_list("pk", "last")
                .order_by()
                if day is not None
            )
        last.update(((meter_id, register), day) for meter_id, day in days.items())
    return last


def _sweep_meters(meter_ids: list[int], *, as_of: dt.date, limit: int) -> tuple[int, int]:
    """The sweep of one batch of meters (:func:`reading_missing_sweep`), in one transaction
    that takes their write locks first; what it reads (open installations, last readings,
    open exceptions) is read under those locks, so an import chunk of the same meters is
    either wholly before it or wholly after. Returns (opened, extended)."""
    with transaction.atomic():
        lock_meter_writes(meter_ids)
        installs = list(
            Installation.objects.filter(
                meter_id__in=meter_ids, removed_at__isnull=True, account__status=AccountStatus.ACTIVE
            ).values_list("meter_id", "account_id", "installed_at", "meter__registers")
        )
        last = _sweep_last_days(
            {
                (meter_id, register)
                for meter_id, _a, _i, registers in installs
                for register in registers or []
            },
            as_of=as_of,
            limit=limit,
        )
        rows = []
        for meter_id, account_id, installed_at, registers in installs:
            installed_on = timezone.localtime(installed_at).date()
            for register in registers or []:
                seen = last.get((meter_id, register), installed_on)
                if (as_of - seen).days > limit:
                    rows.append(
                        (meter_id, account_id, register, seen + dt.timedelta(days=1), (as_of - seen).days)
                    )
        if not rows:
            return 0, 0
        frame = pl.DataFrame(
            rows, schema=["meter_id", "account_id", "register", "day_from", "days"], orient="row"
        ).select(
            pl.col("meter_id").cast(pl.Int64),
            pl.col("account_id").cast(pl.Int64),
            "register",
            rule=pl.lit(VeeRule.MISSING.value),
            day_from="day_from",
            day_to=pl.lit(as_of),
            detail=pl.format('{{"days": {}, "trailing": true}}', pl.col("days")),
            status=pl.lit(ExceptionStatus.OPEN.value),
            opened_at=pl.lit(_db_now()),
            resolution_note=pl.lit(""),
        )
        opened = insert_ignoring_conflicts(
            table=ReadingException._meta.db_table,
            frame=frame,
            conflict_columns=["meter_id", "register", "rule", "day_from"],
        )
        gaps = {(meter_id, register, day_from) for meter_id, _a, register, day_from, _d in rows}
        stale = [
            exc
            for exc in ReadingException.objects.filter(
                meter_id__in={g[0] for g in gaps},
                rule=VeeRule.MISSING,
                status__in=OPEN_EXCEPTION_STATUSES,
                day_to__lt=as_of,
            )
            if (exc.meter_id, exc.register, exc.day_from) in gaps
        ]
        extended = (
            ReadingException.objects.filter(pk__in=[e.pk for e in stale]).update(day_to=as_of) if stale else 0
        )
        for exc in stale:  # the silence goes on: each extension on the exception's record
            audit_record(
                actor=_SWEEP_ACTOR,
                obj=exc,
                action="reading_exception.extend",
                before={"day_to": exc.day_to.isoformat()},
                after={"day_to": as_of.isoformat()},
            )
    return opened, extended
