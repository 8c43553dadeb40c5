"""Validation and estimation of daily register readings (VEE, 抄表数据校核). Pure Polars, no Django.

The caller hands in every reading of the affected meter registers over a window: the new
rows (``is_new``) and context rows before them (already judged; for a meter without an
earlier reading, its installation's initial reading on the installation day). Per meter and
register, ordered by day, the consumption of a row is ``value − previous value`` in milli
units, and energy in Wh is ``consumption × multiplier_x100 // 100``.

Rules (``choices.VeeRule``):

- ``decreasing``: the value is below the previous one and is not a rollover (previous at or
  above 90 % of the register's range ``10**digits`` and value at or below 10 %,
  ``estimate.is_rollover``; a rollover's consumption is ``value + range − previous``).
  Exception on that day, row suspect. When the row below is a stored one (not stored as
  suspect) and the row before it is new (a back-fill above the next stored reading), the
  new row broke the series: the exception is on the new row's day, the new row suspect.
- ``tou_mismatch``: on a day with the total and the meter's TOU registers (every TOU register
  that appears for the meter in the window), the TOU values differ from the total by more
  than the tolerance (compared modulo the register range, so a register that has rolled
  over does not count as a mismatch). Exception on the total, the total row suspect.
- ``spike``: on the total, the day's energy is above ``factor × median`` of the daily
  energies of the ``spike_window_days`` days before it (at least 7 of them present) and at
  least ``spike_min_wh``. A reading after a gap covers several days; its daily energy is
  the interval's energy divided by the days it covers. Row suspect.
- ``zero_run``: on the total of an active meter, ``zero_run_days`` or more consecutive days
  without consumption: one exception over the run; rows stay valid.
- ``missing``: days without a reading between two readings, one of them new: gaps up to
  ``auto_estimate_max_days`` are estimated by interpolation (``estimate.interpolate_gaps``,
  across a rollover too); longer gaps, and gaps next to a suspect reading — a new row
  found suspect by the rules above (decreasing, TOU mismatch, spike), a decreasing
  context row, or a context row stored as suspect (optional ``suspect`` column): no valid
  read to interpolate from — become one exception over the missing days.

Only exceptions touching a new row are reported: problems among context rows alone were
reported when those rows were new.

A zero-use run longer than the context is seen from the context's start on every import;
:func:`continue_runs` matches the runs found against the ones already on record, so that
one run keeps one exception.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gridcare.metering.engine.estimate import ESTIMATE_SCHEMA, interpolate_gaps, is_rollover, register_ranges
from gridcare.metering.engine.parse import REGISTER_CODES, reading_key

TOTAL = "total"
TOU_REGISTERS = ("sharp", "peak", "flat", "valley")
MIN_SPIKE_HISTORY = 7
KEYS = ("meter_id", "register")

QUALITY_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "day": pl.Date(),
    "quality": pl.String(),
}
EXCEPTION_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "rule": pl.String(),
    "day_from": pl.Date(),
    "day_to": pl.Date(),
    "detail": pl.String(),
}


@dataclass(frozen=True)
class VeeParams:
    """VEE thresholds in engine units (from ``models.VeeParameters``): factor in hundredths,
    energies in Wh, tolerances in milli register units."""

    spike_factor_x100: int
    spike_window_days: int
    spike_min_wh: int
    zero_run_days: int
    tou_tolerance_milli: int
    auto_estimate_max_days: int


@dataclass(frozen=True)
class VeeResult:
    """Quality of every new row, the exceptions to open and the auto-estimated readings."""

    quality: pl.DataFrame
    exceptions: pl.DataFrame
    estimates: pl.DataFrame


def _decimal3(expr: pl.Expr) -> pl.Expr:
    """Integer thousandths as text with three decimals: 1234567 → "1234.567"."""
    magnitude = expr.abs()
    return pl.concat_str(
        [
            pl.when(expr < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            (magnitude // 1000).cast(pl.String),
            pl.lit("."),
            (magnitude % 1000).cast(pl.String).str.zfill(3),
        ]
    )


def _json(**fields: pl.Expr) -> pl.Expr:
    """Compact JSON object from already-formatted parts (strings are quoted by the caller)."""
    parts: list[pl.Expr] = [pl.lit("{")]
    for i, (name, value) in enumerate(fields.items()):
        parts += [pl.lit(("," if i else "") + f'"{name}":'), value]
    parts.append(pl.lit("}"))
    return pl.concat_str(parts)


def _text(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit('"'), expr, pl.lit('"')])


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def median_of_days_before(frame: pl.DataFrame, days: int) -> pl.Series:
    """For every row of ``frame`` (``_key`` from ``reading_key``, sorted, unique, and
    ``daily_wh``), the median ``daily_wh`` of its register's rows in the ``days`` days
    before it (null when there are none).

    A row whose ``days`` predecessors are exactly the ``days`` previous days — the usual
    case: a meter read every day — takes the median of a fixed window of rows, which is
    several times cheaper; only the other rows (a series' first days, after a gap) need
    the window in days, computed on just them and their own predecessors."""
    key = pl.col("_key")
    fixed = pl.col("daily_wh").rolling_median(window_size=days).shift(1)
    full = (key.shift(days) == key - days).fill_null(False)
    marked = frame.select("_key", "daily_wh", fixed.alias("median"), (~full).alias("by_days"))
    # the rows that need the window in days, and every row inside such a window
    next_key = pl.when(pl.col("by_days")).then(key).backward_fill()
    needed = marked.filter((next_key - key).is_between(0, days))
    by_days = needed.select(
        "_key",
        pl.col("daily_wh").rolling_median_by("_key", f"{days}i", closed="left").alias("median_by_days"),
        "by_days",
    ).filter(pl.col("by_days"))
    return (
        marked.join(by_days.drop("by_days"), on="_key", how="left", maintain_order="left")
        .select(pl.when(pl.col("by_days")).then(pl.col("median_by_days")).otherwise(pl.col("median")))
        .to_series()
        .alias("median")
    )


def vee_validate(series: pl.DataFrame, meters: pl.DataFrame, params: VeeParams) -> VeeResult:
    """Validate the new rows of ``series`` against their context (see the module docstring).

    ``series``: meter_id, register, day, value_milli, is_new and optionally ``suspect``
    (a context row stored with quality suspect; ignored on new rows). ``meters``:
    meter_id, digits, multiplier_x100, active. A meter missing from ``meters`` is judged
    without rollover, with multiplier 1 and as inactive.
    """
    stored_suspect = pl.col("suspect") if "suspect" in series.columns else pl.lit(False)
    s = series.select(
        pl.col("meter_id").cast(pl.Int64),
        pl.col("register").cast(pl.String),
        pl.col("day").cast(pl.Date),
        pl.col("value_milli").cast(pl.Int64),
        pl.col("is_new").cast(pl.Boolean).fill_null(False),
        stored_suspect.cast(pl.Boolean).fill_null(False).alias("stored_suspect"),
    )
    s = s.with_columns(
        pl.col("register").replace_strict(REGISTER_CODES, default=None, return_dtype=pl.Int64).alias("reg")
    )
    unknown = s.filter(pl.col("reg").is_null())["register"].unique().sort().to_list()
    if unknown:
        raise ValueError(f"unknown register(s) in the series: {', '.join(map(str, unknown))}")
    # Sorting on one integer key (meter, register, day, new rows first) is several times
    # faster than a multi-column sort with a text column.
    s = s.with_columns(reading_key().alias("_key"))
    s = s.sort(pl.col("_key") * 2 + (~pl.col("is_new")).cast(pl.Int64))
    # One row per meter, register and day; a new row wins over a stored one.
    s = s.filter((pl.col("_key") != pl.col("_key").shift(1)).fill_null(True))
    m = meters.select(
        pl.col("meter_id").cast(pl.Int64),
        register_ranges(pl.col("digits").cast(pl.Int64)).alias("range"),
        pl.col("multiplier_x100").cast(pl.Int64),
        pl.col("active").cast(pl.Boolean),
    ).unique("meter_id", keep="first")
    s = s.join(m, on="meter_id", how="left", maintain_order="left").with_columns(
        pl.col("multiplier_x100").fill_null(100),
        pl.col("active").fill_null(False),
    )

    same = (
        (pl.col("meter_id") == pl.col("meter_id").shift(1)) & (pl.col("reg") == pl.col("reg").shift(1))
    ).fill_null(False)
    s = s.with_columns(
        same.alias("same"),
        pl.when(same).then(pl.col("value_milli").shift(1)).alias("prev"),
        pl.when(same).then(pl.col("day").shift(1)).alias("prev_day"),
        pl.when(same).then(pl.col("is_new").shift(1)).alias("prev_new"),
    )
    value, prev, rng = pl.col("value_milli"), pl.col("prev"), pl.col("range")
    rollover = is_rollover(prev, value, rng)
    s = s.with_columns(
        (pl.col("day") - pl.col("prev_day")).dt.total_days().alias("step"),
        rollover.fill_null(False).alias("rollover"),
        ((value < prev) & ~rollover.fill_null(False)).fill_null(False).alias("decreasing"),
    )
    s = s.with_columns(
        pl.when(value >= prev)
        .then(value - prev)
        .when(pl.col("rollover"))
        .then(value + rng - prev)
        .alias("consumption")
    )
    s = s.with_columns(
        (pl.col("consumption") * pl.col("multiplier_x100") // 100 // pl.col("step")).alias("daily_wh")
    )

    exceptions: list[pl.DataFrame] = []
    suspect: list[pl.DataFrame] = []

    # decreasing ------------------------------------------------------------------------
    # A new row below the row before it is suspect. A stored row below a new row before it
    # (a back-fill above the next stored reading) makes the new row the suspect one: it is
    # the row that broke the series (``_key − step`` is the previous row's key) — unless
    # the stored row is suspect itself, a bad read already on record.
    backfill = pl.col("prev_new").fill_null(False) & ~pl.col("stored_suspect")
    decreasing = s.filter(pl.col("decreasing") & (pl.col("is_new") | backfill))
    new_row = pl.col("is_new")
    exceptions.append(
        decreasing.select(
            *KEYS,
            pl.lit("decreasing").alias("rule"),
            pl.when(new_row).then(pl.col("day")).otherwise(pl.col("prev_day")).alias("day_from"),
            pl.when(new_row).then(pl.col("day")).otherwise(pl.col("prev_day")).alias("day_to"),
            pl.when(new_row)
            .then(_json(previous=_text(_decimal3(prev)), value=_text(_decimal3(value))))
            .otherwise(_json(value=_text(_decimal3(prev)), next=_text(_decimal3(value))))
            .alias("detail"),
        )
        # a new row both below the day before and above the day after: one exception
        .unique([*KEYS, "day_from"], keep="first", maintain_order=True)
    )
    suspect.append(
        decreasing.select(
            pl.when(new_row).then(pl.col("_key")).otherwise(pl.col("_key") - pl.col("step")).alias("_key")
        )
    )

    # tou_mismatch ----------------------------------------------------------------------
    # Compared only on days where every TOU register the meter shows in the window is
    # present: a missing TOU reading is the missing rule's business, not a mismatch.
    tou_rows = s.filter(pl.col("register").is_in(list(TOU_REGISTERS)))
    tou = (
        tou_rows.group_by("meter_id", "day")
        .agg(
            pl.col("value_milli").sum().alias("tou_sum"),
            pl.col("is_new").any().alias("tou_new"),
            pl.len().alias("tou_count"),
        )
        .join(
            tou_rows.group_by("meter_id").agg(pl.col("reg").n_unique().alias("tou_registers")),
            on="meter_id",
        )
        .filter(pl.col("tou_count") == pl.col("tou_registers"))
    )
    totals = s.filter(pl.col("register") == TOTAL).join(tou, on=["meter_id", "day"], how="inner")
    diff = pl.col("tou_sum") - value
    wrapped = diff.mod(rng)
    distance = pl.when(rng.is_null()).then(diff.abs()).otherwise(pl.min_horizontal(wrapped, rng - wrapped))
    mismatch = totals.filter((distance > params.tou_tolerance_milli) & (pl.col("is_new") | pl.col("tou_new")))
    exceptions.append(
        mismatch.select(
            *KEYS,
            pl.lit("tou_mismatch").alias("rule"),
            pl.col("day").alias("day_from"),
            pl.col("day").alias("day_to"),
            _json(total=_text(_decimal3(value)), tou_sum=_text(_decimal3(pl.col("tou_sum")))).alias("detail"),
        )
    )
    suspect.append(mismatch.filter(pl.col("is_new")).select("_key"))

    # spike -----------------------------------------------------------------------------
    daily = s.filter((pl.col("register") == TOTAL) & pl.col("daily_wh").is_not_null()).select(
        "meter_id", "register", "day", "_key", "daily_wh", "is_new"
    )
    days = params.spike_window_days
    daily = daily.with_columns(
        (median_of_days_before(daily, days) * 2).round().cast(pl.Int64).alias("median_x2"),
        # rows in the window: the key's days are consecutive within a meter's register and
        # far apart between meters, so one rolling pass gives every meter its own window
        pl.col("daily_wh")
        .is_not_null()
        .cast(pl.Int64)
        .rolling_sum_by("_key", f"{days}i", closed="left")
        .alias("history"),
    )
    spikes = daily.filter(
        pl.col("is_new")
        & (pl.col("history") >= MIN_SPIKE_HISTORY)
        & (pl.col("daily_wh") >= params.spike_min_wh)
        & (pl.col("daily_wh") * 200 > pl.col("median_x2") * params.spike_factor_x100)
    )
    factor = f"{params.spike_factor_x100 // 100}.{params.spike_factor_x100 % 100:02d}"
    exceptions.append(
        spikes.select(
            *KEYS,
            pl.lit("spike").alias("rule"),
            pl.col("day").alias("day_from"),
            pl.col("day").alias("day_to"),
            _json(
                energy_kwh=_text(_decimal3(pl.col("daily_wh"))),
                median_kwh=_text(_decimal3(pl.col("median_x2") // 2)),
                factor=_text(pl.lit(factor)),
            ).alias("detail"),
        )
    )
    suspect.append(spikes.select("_key"))

    # zero_run --------------------------------------------------------------------------
    totals_all = s.filter((pl.col("register") == TOTAL) & pl.col("active"))
    zero = (pl.col("consumption") == 0).fill_null(False)
    runs = (
        totals_all.with_columns(zero.alias("zero"), (~zero | ~pl.col("same")).cum_sum().alias("run"))
        .filter(pl.col("zero"))
        .group_by("run")
        .agg(
            pl.col("meter_id").first(),
            pl.col("register").first(),
            (pl.col("prev_day").first() + pl.duration(days=1)).alias("day_from"),
            pl.col("day").last().alias("day_to"),
            pl.col("step").sum().alias("days"),
            pl.col("is_new").any().alias("touches_new"),
        )
        .filter((pl.col("days") >= params.zero_run_days) & pl.col("touches_new"))
    )
    exceptions.append(
        runs.select(
            *KEYS,
            pl.lit("zero_run").alias("rule"),
            "day_from",
            "day_to",
            _json(days=pl.col("days").cast(pl.String)).alias("detail"),
        )
    )

    # missing ---------------------------------------------------------------------------
    # A gap is interpolated only between two good reads: not from a suspect one (a new row
    # a rule flagged, a decreasing row, a context row stored as suspect).
    flagged = pl.concat(suspect).unique()
    s = s.with_columns(
        (
            pl.col("_key").is_in(flagged.get_column("_key").implode())
            | pl.col("decreasing")
            | (pl.col("stored_suspect") & ~pl.col("is_new"))
        ).alias("bad_read")
    )
    s = s.with_columns((pl.col("same") & pl.col("bad_read").shift(1).fill_null(False)).alias("prev_bad_read"))
    gaps = s.filter((pl.col("step") > 1) & (pl.col("is_new") | pl.col("prev_new").fill_null(False)))
    estimable = (
        (pl.col("step") - 1 <= params.auto_estimate_max_days) & ~pl.col("bad_read") & ~pl.col("prev_bad_read")
    )
    long_gaps = gaps.filter(~estimable)
    exceptions.append(
        long_gaps.select(
            *KEYS,
            pl.lit("missing").alias("rule"),
            (pl.col("prev_day") + pl.duration(days=1)).alias("day_from"),
            (pl.col("day") - pl.duration(days=1)).alias("day_to"),
            _json(days=(pl.col("step") - 1).cast(pl.String)).alias("detail"),
        )
    )
    short_gaps = gaps.filter(estimable).select(
        *KEYS,
        "prev_day",
        pl.col("prev").alias("prev_milli"),
        pl.col("day").alias("next_day"),
        # across a rollover: interpolate on the unwrapped register, then wrap back
        pl.when(pl.col("rollover")).then(value + rng).otherwise(value).alias("next_milli"),
        pl.when(pl.col("rollover")).then(rng).alias("modulus"),
    )
    estimates = interpolate_gaps(short_gaps)

    # results ---------------------------------------------------------------------------
    flagged = flagged.with_columns(pl.lit(True).alias("suspect"))
    quality = (
        s.filter(pl.col("is_new"))
        .select(*KEYS, "day", "_key")
        .join(flagged, on="_key", how="left", maintain_order="left")
        .select(
            *KEYS,
            "day",
            pl.when(pl.col("suspect")).then(pl.lit("suspect")).otherwise(pl.lit("valid")).alias("quality"),
        )
        .cast(QUALITY_SCHEMA)  # type: ignore[arg-type]
    )
    exception_frame = pl.concat([e.cast(EXCEPTION_SCHEMA) for e in exceptions]).sort(  # type: ignore[arg-type]
        "meter_id", "register", "rule", "day_from"
    )
    return VeeResult(
        quality=quality,
        exceptions=exception_frame,
        estimates=estimates.sort("meter_id", "register", "day").cast(ESTIMATE_SCHEMA),  # type: ignore[arg-type]
    )


STORED_RUN_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "day_from": pl.Date(),
    "day_to": pl.Date(),
}
EXTENDED_RUN_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "day_to_before": pl.Date(),
    "day_to": pl.Date(),
    "detail": pl.String(),
}


def continue_runs(runs: pl.DataFrame, stored: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Zero-use runs VEE found (``zero_run`` rows of ``VeeResult.exceptions``) against the
    zero-use exceptions on record (``stored``: id, meter_id, register, day_from, day_to,
    whatever their status).

    VEE sees a run only inside the context it is given, so a run longer than the context
    seems to start later on every import. A run found now that overlaps a stored one of
    the same register, or starts the day after it ends, is that run going on: it opens
    nothing, and the stored run (the earliest, if several) is extended to its last day.

    Returns ``(runs to open, stored runs to extend)``: the first in ``EXCEPTION_SCHEMA``, the
    second ``EXTENDED_RUN_SCHEMA`` (id, day_to_before, day_to and the detail with the
    days of the whole run)."""
    found = runs.cast(EXCEPTION_SCHEMA).with_row_index("_run")  # type: ignore[arg-type]
    on_record = stored.select(
        pl.col("id").cast(pl.Int64),
        pl.col("meter_id").cast(pl.Int64),
        pl.col("register").cast(pl.String),
        pl.col("day_from").cast(pl.Date).alias("stored_from"),
        pl.col("day_to").cast(pl.Date).alias("stored_to"),
    )
    matched = (
        found.join(on_record, on=list(KEYS), how="inner")
        .filter(
            (pl.col("stored_from") <= pl.col("day_to"))
            & (pl.col("stored_to") + pl.duration(days=1) >= pl.col("day_from"))
        )
        .sort("_run", "stored_from", "id")
        .unique("_run", keep="first", maintain_order=True)
    )
    fresh = found.join(matched.select("_run"), on="_run", how="anti").drop("_run")
    extended = (
        matched.filter(pl.col("day_to") > pl.col("stored_to"))
        .group_by("id")
        .agg(pl.col("stored_from").first(), pl.col("stored_to").first(), pl.col("day_to").max())
        .sort("id")
        .select(
            "id",
            pl.col("stored_to").alias("day_to_before"),
            "day_to",
            _json(
                days=((pl.col("day_to") - pl.col("stored_from")).dt.total_days() + 1).cast(pl.String)
            ).alias("detail"),
        )
    )
    return fresh.cast(EXCEPTION_SCHEMA), extended.cast(EXTENDED_RUN_SCHEMA)  # type: ignore[arg-type]


def with_quality(rows: pl.DataFrame, quality: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (``meter_id``, ``register``, ``day`` and any other columns, in their order)
    with the ``quality`` VEE gave each of them (``VeeResult.quality``); a row VEE did not
    list is ``valid``. Joined on the integer ``reading_key``, not on the three columns."""
    flags = quality.select(reading_key().alias("_key"), "quality")
    return (
        rows.with_columns(reading_key().alias("_key"))
        .join(flags, on="_key", how="left", maintain_order="left")
        .drop("_key")
        .with_columns(pl.col("quality").fill_null(pl.lit("valid")))
    )
