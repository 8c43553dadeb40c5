"""Estimating register readings for days without a good one (估算). Pure Polars, no Django.

All values are cumulative register values in integer thousandths ("milli").

- ``interpolate`` / ``interpolate_gaps``: days between two known readings get the straight
  line between them, rounded down to a whole milli. Rounding down keeps the estimates
  non-decreasing and never above the next reading; when the two neighbours differ by more
  than the number of steps, every estimate lies strictly between them.
- ``estimate_missing``: the exception queue's "estimate" action for a span of days:
  interpolation when there are readings on both sides (across a rollover too), otherwise
  the last (or next) reading extended by the average daily consumption of the
  ``profile_days`` days next to the span.
- ``estimate_runs`` / ``interpolate_runs``: after a real reading replaced the estimate of
  one day of an estimated gap (a back-fill, 补召), the estimates still standing on either
  side of it are estimated again from the readings now around them — the same straight
  line, between good reads only. ``runs_after_settled`` keeps the estimates a settled
  period used (an issued bill, a prepaid charge) out of that.
- ``register_range`` / ``is_rollover``: a register of ``digits`` integer digits counts
  modulo ``10**digits``; a decrease is a rollover when the previous value is at or above
  90 % of that range and the new one at or below 10 % (the one rule VEE, the estimate
  action and the meter chart apply).
"""

from __future__ import annotations

import datetime as dt
from typing import overload

import polars as pl

ESTIMATE_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "day": pl.Date(),
    "value_milli": pl.Int64(),
}
RUN_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "day_from": pl.Date(),
    "day_to": pl.Date(),
    "prev_day": pl.Date(),
    "prev_milli": pl.Int64(),
    "prev_good": pl.Boolean(),
    "next_day": pl.Date(),
    "next_milli": pl.Int64(),
    "next_good": pl.Boolean(),
}
ESTIMATED = "estimated"
"""The quality of an estimated reading (``choices.ReadingQuality.ESTIMATED``)."""
NOT_TO_ESTIMATE_FROM = frozenset({ESTIMATED, "suspect"})
"""Qualities of a stored reading that is no read to estimate from: an estimate, a suspect read."""


def register_range(digits: int) -> int:
    """A register's range in milli units: it reads 0 again after ``10**digits − 0.001``."""
    return 10**digits * 1000


def register_ranges(digits: pl.Expr) -> pl.Expr:
    """:func:`register_range` of a column of digits (null where the digits are unknown)."""
    mapping = {d: register_range(d) for d in range(1, 16)}
    return digits.replace_strict(mapping, default=None, return_dtype=pl.Int64)


@overload
def is_rollover(previous: int, value: int, modulus: int) -> bool: ...
@overload
def is_rollover(previous: pl.Expr, value: pl.Expr, modulus: pl.Expr) -> pl.Expr: ...
def is_rollover(previous: int | pl.Expr, value: int | pl.Expr, modulus: int | pl.Expr) -> bool | pl.Expr:
    """Whether the register went from ``previous`` to ``value`` by rolling over (both in
    milli units, ``modulus`` from :func:`register_range`): it went down, from at or above
    90 % of the range to at or below 10 %. Works on integers and on Polars expressions
    (null where an operand is null); the consumption across it is ``value + modulus −
    previous``."""
    return (value < previous) & (previous * 10 >= modulus * 9) & (value * 10 <= modulus)


def interpolate(
    prev_day: dt.date, prev_milli: int, next_day: dt.date, next_milli: int, days: list[dt.date]
) -> list[int]:
    """Linear interpolation of a cumulative register between two readings, rounded down.

    Every day must lie strictly between ``prev_day`` and ``next_day``, and the register must
    not go backwards (``next_milli >= prev_milli``; unwrap a rollover before calling).
    """
    span = (next_day - prev_day).days
    if span <= 0:
        raise ValueError(f"next reading day {next_day} is not after {prev_day}")
    if next_milli < prev_milli:
        raise ValueError(f"register goes backwards ({prev_milli} → {next_milli}): cannot interpolate")
    delta = next_milli - prev_milli
    out = []
    for day in days:
        step = (day - prev_day).days
        if not 0 < step < span:
            raise ValueError(f"{day} is not between {prev_day} and {next_day}")
        out.append(prev_milli + delta * step // span)
    return out


def interpolate_gaps(gaps: pl.DataFrame) -> pl.DataFrame:
    """Vectorised ``interpolate`` for many gaps at once.

    ``gaps``: meter_id, register, prev_day, prev_milli, next_day, next_milli (one row per
    gap, ``next_milli >= prev_milli``) and optionally ``modulus``: where it is set, the
    estimates are taken modulo it (a rollover interpolated on the unwrapped register).
    Returns meter_id, register, day, value_milli for every day strictly between
    ``prev_day`` and ``next_day``.
    """
    if gaps.is_empty():
        return pl.DataFrame(schema=ESTIMATE_SCHEMA)
    span = (pl.col("next_day") - pl.col("prev_day")).dt.total_days()
    modulus = pl.col("modulus").cast(pl.Int64) if "modulus" in gaps.columns else pl.lit(None, pl.Int64)
    exploded = gaps.select(
        pl.col("meter_id").cast(pl.Int64),
        pl.col("register").cast(pl.String),
        pl.col("prev_day"),
        pl.col("prev_milli").cast(pl.Int64),
        (pl.col("next_milli").cast(pl.Int64) - pl.col("prev_milli").cast(pl.Int64)).alias("_delta"),
        span.alias("_span"),
        modulus.alias("_modulus"),
        pl.date_ranges(
            pl.col("prev_day") + pl.duration(days=1), pl.col("next_day") - pl.duration(days=1)
        ).alias("day"),
    ).explode("day")
    exploded = exploded.filter(pl.col("day").is_not_null())
    step = (pl.col("day") - pl.col("prev_day")).dt.total_days()
    estimate = pl.col("prev_milli") + pl.col("_delta") * step // pl.col("_span")
    return exploded.select(
        "meter_id",
        "register",
        "day",
        pl.when(pl.col("_modulus").is_not_null())
        .then(estimate.mod(pl.col("_modulus")))
        .otherwise(estimate)
        .alias("value_milli"),
    ).cast(ESTIMATE_SCHEMA)  # type: ignore[arg-type]


def estimate_runs(readings: pl.DataFrame, days: pl.DataFrame) -> pl.DataFrame:
    """The runs of estimates next to ``days``: after a real reading replaced the estimate of
    each of those days (a back-fill inside an estimated gap), the estimates still standing
    on either side of it.

    ``readings``: meter_id, register, day, value_milli, quality (one row per meter, register
    and day; ``"estimated"`` marks an estimate). ``days``: meter_id, register, day. A run is
    a stretch of consecutive estimated days of one register; it ends at a day with another
    reading or with none. Returns the runs whose day before or day after is one of
    ``days``, in ``RUN_SCHEMA``: the run's first and last day and the readings on the day
    before and the day after it (null when there is none that day), ``*_good`` telling
    whether that reading is one to estimate from (not an estimate, not suspect)."""
    if readings.is_empty() or days.is_empty():
        return pl.DataFrame(schema=RUN_SCHEMA)
    r = readings.select(
        pl.col("meter_id").cast(pl.Int64),
        pl.col("register").cast(pl.String),
        pl.col("day").cast(pl.Date),
        pl.col("value_milli").cast(pl.Int64),
        (pl.col("quality") == ESTIMATED).alias("estimated"),
        (~pl.col("quality").is_in(list(NOT_TO_ESTIMATE_FROM))).alias("good"),
    ).sort("meter_id", "register", "day")
    # the row before is the day before, on the same register
    follows = (
        (pl.col("meter_id") == pl.col("meter_id").shift(1))
        & (pl.col("register") == pl.col("register").shift(1))
        & ((pl.col("day") - pl.col("day").shift(1)).dt.total_days() == 1)
    ).fill_null(False)
    r = r.with_columns(follows.alias("follows"))
    r = r.with_columns(
        pl.when(pl.col("follows")).then(pl.col("day").shift(1)).alias("prev_day"),
        pl.when(pl.col("follows")).then(pl.col("value_milli").shift(1)).alias("prev_milli"),
        pl.when(pl.col("follows")).then(pl.col("good").shift(1)).alias("prev_good"),
        pl.when(pl.col("follows").shift(-1)).then(pl.col("day").shift(-1)).alias("next_day"),
        pl.when(pl.col("follows").shift(-1)).then(pl.col("value_milli").shift(-1)).alias("next_milli"),
        pl.when(pl.col("follows").shift(-1)).then(pl.col("good").shift(-1)).alias("next_good"),
        (pl.col("estimated") & ~(pl.col("follows") & pl.col("estimated").shift(1).fill_null(False)))
        .cum_sum()
        .alias("run"),
    )
    runs = (
        r.filter(pl.col("estimated"))
        .group_by("run")
        .agg(
            pl.col("meter_id").first(),
            pl.col("register").first(),
            pl.col("day").first().alias("day_from"),
            pl.col("day").last().alias("day_to"),
            pl.col("prev_day", "prev_milli", "prev_good").first(),
            pl.col("next_day", "next_milli", "next_good").last(),
        )
        .with_columns(pl.col("prev_good", "next_good").fill_null(False))
    )
    anchors = days.select(pl.col("meter_id").cast(pl.Int64), pl.col("register").cast(pl.String), "day")
    keys = ["meter_id", "register"]
    after = runs.join(anchors.rename({"day": "prev_day"}), on=[*keys, "prev_day"], how="semi")
    before = runs.join(anchors.rename({"day": "next_day"}), on=[*keys, "next_day"], how="semi")
    return (
        pl.concat([after, before])
        .unique("run")
        .sort("meter_id", "register", "day_from")
        .select(list(RUN_SCHEMA))
        .cast(RUN_SCHEMA)  # type: ignore[arg-type]
    )


def run_days(runs: pl.DataFrame) -> pl.DataFrame:
    """Every day of ``runs`` (``RUN_SCHEMA``): meter_id, register, day."""
    return (
        runs.select("meter_id", "register", pl.date_ranges("day_from", "day_to").alias("day"))
        .explode("day")
        .cast({"meter_id": pl.Int64, "register": pl.String, "day": pl.Date})
    )


def runs_after_settled(runs: pl.DataFrame, settled: pl.DataFrame, readings: pl.DataFrame) -> pl.DataFrame:
    """``runs`` (``RUN_SCHEMA``) less the days a settled period used: an estimate on or
    before its meter's ``settled_to`` day (the last day whose reading an issued bill or a
    prepaid charge used) stays as it is, and the one on ``settled_to`` is the read the rest
    of its run is drawn from. A run ending on or before that day is left out; one going
    past it starts the day after, with that day's estimate (from ``readings``: meter_id,
    register, day, value_milli) as its reading before (a good one).

    ``settled``: meter_id, settled_to (one row per meter; a meter without is not settled)."""
    if runs.is_empty() or settled.is_empty():
        return runs
    keys = ["meter_id", "register"]
    marked = runs.join(
        settled.select(pl.col("meter_id").cast(pl.Int64), pl.col("settled_to").cast(pl.Date)),
        on="meter_id",
        how="left",
    )
    untouched = pl.col("settled_to").is_null() | (pl.col("settled_to") < pl.col("day_from"))
    free = marked.filter(untouched)
    cut = marked.filter(~untouched & (pl.col("settled_to") < pl.col("day_to")))
    if cut.height:
        anchor = readings.select(
            pl.col("meter_id").cast(pl.Int64),
            pl.col("register").cast(pl.String),
            pl.col("day").cast(pl.Date).alias("settled_to"),
            pl.col("value_milli").cast(pl.Int64).alias("_anchor_milli"),
        )
        cut = cut.join(anchor, on=[*keys, "settled_to"], how="left").with_columns(
            (pl.col("settled_to") + pl.duration(days=1)).alias("day_from"),
            pl.col("settled_to").alias("prev_day"),
            pl.col("_anchor_milli").alias("prev_milli"),
            pl.col("_anchor_milli").is_not_null().alias("prev_good"),
        )
    return (
        pl.concat([free.select(list(RUN_SCHEMA)), cut.select(list(RUN_SCHEMA))])
        .sort("meter_id", "register", "day_from")
        .cast(RUN_SCHEMA)  # type: ignore[arg-type]
    )


def interpolate_runs(runs: pl.DataFrame, meters: pl.DataFrame) -> pl.DataFrame:
    """The days of ``runs`` (``RUN_SCHEMA``) estimated again: for a run with a good reading
    on both sides, the straight line between them (:func:`interpolate_gaps`, the rule of
    the first estimation; across a rollover of a register of the meter's ``digits``, on the
    unwrapped register). A run without a good reading on one side, or whose register went
    backwards across it without a rollover, is left out (its estimates stay). ``meters``:
    meter_id, digits. Returns ``ESTIMATE_SCHEMA`` rows."""
    both = runs.filter(pl.col("prev_good") & pl.col("next_good"))
    if both.is_empty():
        return pl.DataFrame(schema=ESTIMATE_SCHEMA)
    ranges = meters.select(
        pl.col("meter_id").cast(pl.Int64), register_ranges(pl.col("digits").cast(pl.Int64)).alias("range")
    ).unique("meter_id")
    both = both.join(ranges, on="meter_id", how="left")
    rollover = is_rollover(pl.col("prev_milli"), pl.col("next_milli"), pl.col("range")).fill_null(False)
    gaps = both.with_columns(rollover.alias("rollover")).filter(
        (pl.col("next_milli") >= pl.col("prev_milli")) | pl.col("rollover")
    )
    return interpolate_gaps(
        gaps.select(
            "meter_id",
            "register",
            "prev_day",
            "prev_milli",
            "next_day",
            pl.when(pl.col("rollover"))
            .then(pl.col("next_milli") + pl.col("range"))
            .otherwise(pl.col("next_milli"))
            .alias("next_milli"),
            pl.when(pl.col("rollover")).then(pl.col("range")).alias("modulus"),
        )
    ).sort("meter_id", "register", "day")


def _average_daily_milli(history: pl.DataFrame) -> int:
    """Average consumption per day over consecutive readings, ignoring backward steps
    (rollovers, exchanges, bad reads): sum of forward differences ÷ days they cover."""
    if history.height < 2:
        return 0
    steps = history.sort("day").select(
        pl.col("value_milli").diff().alias("delta"),
        pl.col("day").diff().dt.total_days().alias("days"),
    )
    steps = steps.filter(pl.col("delta").is_not_null() & (pl.col("delta") >= 0))
    days = int(steps["days"].sum() or 0)
    if days == 0:
        return 0
    return int(steps["delta"].sum() or 0) // days


def _extend_forward(
    before: pl.DataFrame,
    prev_day: dt.date,
    prev_milli: int,
    days: list[dt.date],
    profile_days: int,
    modulus: int | None,
) -> list[int]:
    """``prev_milli`` extended over ``days`` by the average daily consumption of the
    ``profile_days`` days up to ``prev_day``, wrapping at ``modulus`` when it is known."""
    rate = _average_daily_milli(before.filter(pl.col("day") >= prev_day - dt.timedelta(profile_days)))
    values = [prev_milli + rate * (d - prev_day).days for d in days]
    return values if modulus is None else [v % modulus for v in values]


def estimate_missing(
    series: pl.DataFrame,
    meter_id: int,
    register: str,
    day_from: dt.date,
    day_to: dt.date,
    *,
    profile_days: int = 28,
    digits: int | None = None,
) -> pl.DataFrame:
    """Estimated readings of one meter register for every day ``day_from``..``day_to``.

    ``series`` holds readings (meter_id, register, day, value_milli; other columns ignored).
    Readings inside the span are the ones being replaced and are not used. With a reading
    before and after the span: interpolation; when the reading after is lower and the pair
    is a rollover of a register of ``digits`` digits (:func:`is_rollover`), interpolation
    on the unwrapped register, taken modulo its range. With only one side, or a reading
    after that is lower without a rollover: the reading before (or after) extended by the
    average daily consumption of up to ``profile_days`` days next to it (forward never below
    the last reading and wrapping at the register's range, backward never below zero).
    ``digits`` None: a register without a known range (no rollover, no wrapping). Raises
    ``ValueError`` when the register has no reading outside the span.
    """
    if day_to < day_from:
        raise ValueError(f"day_to {day_to} is before day_from {day_from}")
    modulus = register_range(digits) if digits is not None else None
    own = series.filter((pl.col("meter_id") == meter_id) & (pl.col("register") == register)).select(
        "day", pl.col("value_milli").cast(pl.Int64)
    )
    before = own.filter(pl.col("day") < day_from).sort("day")
    after = own.filter(pl.col("day") > day_to).sort("day")
    days = [day_from + dt.timedelta(days=i) for i in range((day_to - day_from).days + 1)]

    if before.is_empty() and after.is_empty():
        raise ValueError(f"meter {meter_id} register {register}: no readings to estimate from")
    values: list[int]
    if not before.is_empty() and not after.is_empty():
        prev_day, prev_milli = before.row(-1)
        next_day, next_milli = after.row(0)
        if next_milli >= prev_milli:
            values = interpolate(prev_day, prev_milli, next_day, next_milli, days)
        elif modulus is not None and is_rollover(prev_milli, next_milli, modulus):
            # on the unwrapped register, then back into the range
            unwrapped = interpolate(prev_day, prev_milli, next_day, next_milli + modulus, days)
            values = [v % modulus for v in unwrapped]
        else:  # the register went backwards across the span (a bad read, an exchange): extend
            values = _extend_forward(before, prev_day, prev_milli, days, profile_days, modulus)
    elif not before.is_empty():
        prev_day, prev_milli = before.row(-1)
        values = _extend_forward(before, prev_day, prev_milli, days, profile_days, modulus)
    else:
        next_day, next_milli = after.row(0)
        rate = _average_daily_milli(after.filter(pl.col("day") <= next_day + dt.timedelta(profile_days)))
        values = [max(0, next_milli - rate * (next_day - d).days) for d in days]
    return pl.DataFrame(
        {
            "meter_id": [meter_id] * len(days),
            "register": [register] * len(days),
            "day": days,
            "value_milli": values,
        },
        schema=ESTIMATE_SCHEMA,
    )
