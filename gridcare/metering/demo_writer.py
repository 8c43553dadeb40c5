"""Write the demo metering data of a freshly seeded county (called by ``gridcare seed``).

:func:`seed_metering` takes the county the seed just wrote (the pure rows and the ids they
got), draws the meters with :func:`gridcare.metering.demo.plan_metering` and writes:

1. one installed meter per active account (``bulk_create``), plus the new meters of a few
   meter exchanges;
2. the daily frozen register readings, a block of accounts at a time, with the bulk
   primitive (``COPY`` on PostgreSQL, ``INSERT OR IGNORE`` on SQLite), source ``ami``;
   each block is run through the VEE engine first, so the injected anomalies open reading
   exceptions, suspect rows are marked and short gaps are estimated, as an import would;
3. the installations (after the readings: an exchanged meter's final readings come from
   them);
4. 96-point curves of the last 30 days for a sample of accounts and for every
   transformer's total meter (台区总表) into the Parquet store.

The injected theft of the line-loss demo (``plan.theft``) is in the returned summary under
``"theft"``: account and transformer ids, first day and the recorded share.

Like the county seed this writes in bulk and bypasses the per-row services on purpose:
it only ever writes into an empty archive, inside the seed's transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from django.conf import settings
from django.db import connection
from django.utils import timezone

from gridcare.core.bulk import db_datetime, decimal_from_units, insert_ignoring_conflicts, insert_new_rows
from gridcare.customers.demo import County
from gridcare.metering import demo
from gridcare.metering.choices import (
    ExceptionStatus,
    MeterStatus,
    ReadingQuality,
    ReadingSource,
)
from gridcare.metering.engine.vee import VeeParams, vee_validate, with_quality
from gridcare.metering.interval import ACCOUNT, TRANSFORMER, curves_write
from gridcare.metering.models import Installation, Meter, Reading, ReadingException
from gridcare.metering.services.readings import vee_params_in_force

ProgressFn = Callable[..., None]
CURVE_DAYS = 30


def london_dir() -> Path:
    """Where the Low Carbon London shapes are looked for (``DEMO_SHAPES_DIR`` setting, else
    ``<project>/../shared/data/london_smart_meters``); read in place, never copied."""
    configured = getattr(settings, "DEMO_SHAPES_DIR", None)
    if configured:
        return Path(configured)
    return Path(settings.PROJECT_DIR).parent / "shared" / "data" / "london_smart_meters"


def seed_metering(
    *,
    county: County,
    account_ids: Sequence[int],
    service_point_ids: Sequence[int],
    transformer_ids: Sequence[int],
    seed: int,
    months: int = 13,
    curve_sample: int = 200,
    readings_all: bool = False,
    end: dt.date | None = None,
    data_dir: Path | str | None = None,
    shapes_dir: Path | str | None = None,
    run_vee: bool = True,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Write meters, installations, readings (ending ``end``, default yesterday in
    Asia/Shanghai), VEE exceptions and curves for ``county``; returns counts and seconds.

    Only the first :data:`demo.READINGS_CAP` active accounts get readings unless
    ``readings_all``. Call inside a transaction."""
    report: ProgressFn = progress or (lambda *a, **k: None)
    started = time.perf_counter()
    end = end or timezone.localdate() - dt.timedelta(days=1)
    plan = demo.plan_metering(
        county,
        seed=seed,
        end=end,
        months=months,
        readings_accounts=None if readings_all else demo.READINGS_CAP,
    )
    specs = plan.specs

    # 1. meters
    t0 = time.perf_counter()
    meters_frame = pl.DataFrame(
        {
            "asset_no": [m.asset_no for m in plan.meters],
            "barcode": [m.barcode for m in plan.meters],
            "meter_type": [m.meter_type for m in plan.meters],
            "is_smart": [True] * len(plan.meters),
            "remote_cutoff": [bool(m.remote_cutoff) for m in plan.meters],
            "registers": [json.dumps(list(m.registers)) for m in plan.meters],
            "digits": [m.digits for m in plan.meters],
            "multiplier": [str(Decimal(m.multiplier).quantize(Decimal("0.01"))) for m in plan.meters],
            "accuracy_class": [m.accuracy_class for m in plan.meters],
            "manufacturer": [m.manufacturer for m in plan.meters],
            "manufactured_on": [m.manufactured_on for m in plan.meters],
            "last_verified_on": [m.last_verified_on for m in plan.meters],
            "status": [
                MeterStatus.REMOVED.value if m.status == "removed" else MeterStatus.INSTALLED.value
                for m in plan.meters
            ],
        },
        schema_overrides={"manufactured_on": pl.Date, "last_verified_on": pl.Date},
    )
    # Plain rows straight into the table (ids reserved up front): the ORM's bulk_create
    # spends most of its time preparing each field of 200,000 objects.
    meter_ids = np.array(insert_new_rows(table=Meter._meta.db_table, frame=meters_frame), dtype=np.int64)
    meter_objs = plan.meters
    report("meters", len(meter_objs), len(meter_objs), final=True, seconds=time.perf_counter() - t0)

    acc_of_spec = np.array([account_ids[s.index] for s in specs], dtype=np.int64)
    meter_account = pl.DataFrame(
        {
            "meter_id": meter_ids,
            "account_id": acc_of_spec[np.array([m.account for m in plan.meters], dtype=np.int64)]
            if plan.meters
            else np.zeros(0, np.int64),
        }
    )
    vee_meters = pl.DataFrame(
        {
            "meter_id": meter_ids,
            "digits": [m.digits for m in plan.meters],
            "multiplier_x100": [m.multiplier * 100 for m in plan.meters],
            "active": [m.status != "removed" for m in plan.meters],
        },
        schema={"meter_id": pl.Int64, "digits": pl.Int64, "multiplier_x100": pl.Int64, "active": pl.Boolean},
    )
    # initial readings on the installation day, for meters installed inside the window
    initial_rows = _initial_context(plan, meter_ids)

    # 2. readings (+ VEE), curve material
    t0 = time.perf_counter()
    params = vee_params_in_force()
    opened_at = str(connection.ops.adapt_datetimefield_value(timezone.now()))
    sample = demo.sample_accounts(plan, curve_sample)
    london = demo.load_london_shapes(shapes_dir or london_dir()) if len(sample) else None
    counts = {"readings": 0, "estimates": 0, "exceptions": 0, "suspect": 0}
    curve_frames: list[pl.DataFrame] = []
    n_transformers = len(county.transformers)
    t_use = np.zeros((n_transformers, len(demo.CLASSES), min(CURVE_DAYS, plan.days)), dtype=np.int64)
    chunks = plan.chunks()  # blocks of 1024 accounts: the first insert starts soon
    expected_rows = plan.days * sum(
        len(plan.meters[int(plan.main_meter[p])].registers) for p in range(plan.readings_accounts)
    )

    def prepare() -> _Prepared | None:
        """Next block: generate, run VEE, format (pure: runs in the worker thread)."""
        chunk = next(chunks, None)
        if chunk is None:
            return None
        prepared = _Prepared()
        if chunk.readings is not None and chunk.readings.height:
            demo.final_readings(plan, chunk.readings, chunk.use_wh, chunk.start)
            _prepare_readings(
                prepared,
                chunk.readings,
                meter_ids,
                initial_rows,
                vee_meters,
                meter_account,
                params,
                opened_at,
                run_vee,
            )
        prepared.transformer_use = demo.transformer_use(
            plan, chunk.use_wh, chunk.start, n_transformers, t_use.shape[2]
        )
        in_chunk = sample[(sample >= chunk.start) & (sample < chunk.stop)]
        if len(in_chunk):
            prepared.curves = demo.account_curves(
                plan, in_chunk, chunk.use_wh[in_chunk - chunk.start], days=t_use.shape[2], london=london
            )
        return prepared

    if connection.vendor == "sqlite":
        # Keep the reading table's index B-trees in memory for the whole load (about 130
        # bytes a row), instead of spilling pages to the WAL and reading them back.
        cache_kib = min(max(262_144, expected_rows * 160 // 1024), 1_048_576)
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
    # The next block is prepared in a worker thread while this one is inserted (SQLite and
    # psycopg release the GIL while they write).
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(prepare)
        while (ready := future.result()) is not None:
            future = pool.submit(prepare)
            _insert_prepared(ready, counts)
            t_use += ready.transformer_use
            if ready.curves is not None:
                curve_frames.append(ready.curves)
            report("readings", counts["readings"], expected_rows)
    report("readings", counts["readings"], counts["readings"], final=True, seconds=time.perf_counter() - t0)

    # 3. installations
    t0 = time.perf_counter()
    installs = plan.installations
    installs_frame = pl.DataFrame(
        {
            "meter_id": [int(meter_ids[row.meter]) for row in installs],
            "service_point_id": [
                service_point_ids[county.accounts[specs[row.account].index].service_point] for row in installs
            ],
            "account_id": [int(acc_of_spec[row.account]) for row in installs],
            "installed_at": [db_datetime(row.installed_at) for row in installs],
            "removed_at": [db_datetime(row.removed_at) for row in installs],
            "initial_readings": [json.dumps(row.initial_readings) for row in installs],
            "final_readings": [
                None if row.final_readings is None else json.dumps(row.final_readings) for row in installs
            ],
            "reason": [row.reason for row in installs],
        },
        schema_overrides={"removed_at": pl.String, "final_readings": pl.String},
    )
    insert_new_rows(table=Installation._meta.db_table, frame=installs_frame)
    report("installations", len(installs), len(installs), final=True, seconds=time.perf_counter() - t0)

    # 4. curves
    t0 = time.perf_counter()
    curve_values = 0
    if curve_frames:
        frame = pl.concat(curve_frames)
        keys = pl.Series(acc_of_spec)[frame["key"]]
        curve_values += curves_write(frame.with_columns(key=keys, kind=pl.lit(ACCOUNT)), data_dir=data_dir)
    t_frame = demo.transformer_curves(plan, t_use, days=t_use.shape[2])
    if t_frame.height:
        keys = pl.Series(np.asarray(transformer_ids, dtype=np.int64))[t_frame["key"]]
        curve_values += curves_write(
            t_frame.with_columns(key=keys, kind=pl.lit(TRANSFORMER)), data_dir=data_dir
        )
    report("curve values", curve_values, curve_values, final=True, seconds=time.perf_counter() - t0)

    return {
        "meters": len(meter_objs),
        "installations": len(installs),
        "accounts_with_readings": plan.readings_accounts,
        "active_accounts": len(specs),
        "start": plan.start.isoformat(),
        "end": plan.end.isoformat(),
        **counts,
        "curve_accounts": len(sample),
        "curve_values": curve_values,
        "injected": {rule: len(v) for rule, v in plan.anomalies.items()},
        "exchanges": int((plan.exchange_day >= 0).sum()),
        # 窃电 injected for the line-loss demo: the account's meter records ``factor`` of its
        # use from ``start`` on; the 台区总表 still measures the true use
        "theft": [
            {
                "account_id": int(acc_of_spec[pos]),
                "transformer_id": int(transformer_ids[specs[pos].transformer]),
                "start": first.isoformat(),
                "factor": factor,
            }
            for pos, first, factor in plan.theft
        ],
        "vee": run_vee,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _initial_context(plan: demo.MeteringPlan, meter_ids: np.ndarray) -> pl.DataFrame:
    """Initial readings of meters installed inside the window, as context rows for VEE."""
    rows: dict[str, list[Any]] = {"meter_id": [], "register": [], "day": [], "value_milli": []}
    for inst in plan.installations:
        day = inst.installed_at.date()
        if day < plan.start:
            continue
        for reg in inst.initial_readings:
            rows["meter_id"].append(int(meter_ids[inst.meter]))
            rows["register"].append(reg)
            rows["day"].append(day)
            rows["value_milli"].append(0)
    return pl.DataFrame(
        rows, schema={"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "value_milli": pl.Int64}
    )


@dataclass
class _Prepared:
    """One block of accounts, ready for the database."""

    readings: pl.DataFrame | None = None
    estimates: pl.DataFrame | None = None
    exceptions: pl.DataFrame | None = None
    suspect: int = 0
    transformer_use: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    curves: pl.DataFrame | None = None


def _prepare_readings(
    prepared: _Prepared,
    readings: pl.DataFrame,
    meter_ids: np.ndarray,
    initial_rows: pl.DataFrame,
    vee_meters: pl.DataFrame,
    meter_account: pl.DataFrame,
    params: VeeParams,
    opened_at: str,
    run_vee: bool,
) -> None:
    new = readings.select(
        pl.Series("meter_id", meter_ids)[readings["meter"]],
        "register",
        "day",
        pl.col("value").alias("value_milli"),
    )
    quality = pl.lit(ReadingQuality.VALID.value)
    if run_vee:
        lo, hi = new["meter_id"].min(), new["meter_id"].max()
        context = initial_rows.filter(pl.col("meter_id").is_between(lo, hi)).join(
            new.select("meter_id").unique(), on="meter_id", how="semi"
        )
        series = pl.concat(  # in any order: VEE sorts it on its own integer key
            [new.with_columns(is_new=pl.lit(True)), context.with_columns(is_new=pl.lit(False))]
        )
        result = vee_validate(series, vee_meters.filter(pl.col("meter_id").is_between(lo, hi)), params)
        new = with_quality(new, result.quality)
        quality = pl.col("quality")
        prepared.suspect = int((new["quality"] == ReadingQuality.SUSPECT.value).sum())
        if result.estimates.height:
            prepared.estimates = result.estimates.select(
                pl.col("meter_id").cast(pl.Int64),
                "register",
                "day",
                decimal_from_units("value_milli", scale=3, alias="value"),
                source=pl.lit(ReadingSource.ESTIMATED.value),
                quality=pl.lit(ReadingQuality.ESTIMATED.value),
            )
        if result.exceptions.height:
            prepared.exceptions = result.exceptions.join(meter_account, on="meter_id", how="left").select(
                pl.col("meter_id").cast(pl.Int64),
                "account_id",
                "register",
                "rule",
                pl.col("day_from").dt.to_string("%Y-%m-%d"),
                pl.col("day_to").dt.to_string("%Y-%m-%d"),
                "detail",
                status=pl.lit(ExceptionStatus.OPEN.value),
                opened_at=pl.lit(opened_at),
                resolution_note=pl.lit(""),
            )
    prepared.readings = new.select(
        "meter_id",
        "register",
        "day",
        decimal_from_units("value_milli", scale=3, alias="value"),
        source=pl.lit(ReadingSource.AMI.value),
        quality=quality,
    )


def _insert_prepared(prepared: _Prepared, counts: dict[str, int]) -> None:
    reading_keys = ["meter_id", "register", "day"]
    counts["suspect"] += prepared.suspect
    if prepared.readings is not None:
        counts["readings"] += insert_ignoring_conflicts(
            table=Reading._meta.db_table, frame=prepared.readings, conflict_columns=reading_keys
        )
    if prepared.estimates is not None:
        counts["estimates"] += insert_ignoring_conflicts(
            table=Reading._meta.db_table, frame=prepared.estimates, conflict_columns=reading_keys
        )
    if prepared.exceptions is not None:
        counts["exceptions"] += insert_ignoring_conflicts(
            table=ReadingException._meta.db_table,
            frame=prepared.exceptions,
            conflict_columns=["meter_id", "register", "rule", "day_from"],
        )
