"""Transformer-area line loss (台区线损): daily energy balance, flags and suspects.

For every public transformer area and every day of a window:

- ``input_kwh`` — what the area's total meter (台区总表) measured that day;
- ``billed_kwh`` — the sum of the customers' consumption that day (售电量);
- ``loss_kwh = input − billed`` and ``rate_pct = loss / input × 100`` (台区线损率).

A day is **complete** (可算) when the total meter has the whole day (input > 0) and *every*
active account of the area has a consumption that day. Incomplete days stay in the series
(input and billed as far as known) but get no loss and no rate and are never used for a
rate, a flag or a ranking: one missing customer would otherwise look like theft.

Baseline and recent rate (the *change-point rule*)
-------------------------------------------------
Over the complete days of an area (in date order, ``n`` of them), the split ``k`` with at
least ``min_segment_days`` days on each side that maximises the mean-shift statistic
``k (n − k) / n × (mean(rate after) − mean(rate before))²`` (single change point, the
binary-segmentation / CUSUM statistic) separates the *baseline* (days before) from the
*recent* period (the split day and after). Both rates are energy-weighted
(Σ loss / Σ input of the period). With fewer than ``2 × min_segment_days`` complete days
there is no baseline: the recent rate is that of the last ``recent_days`` complete days and
``jump`` is not evaluated. Why a change point and not fixed halves: a theft that began 12
days before the end would be a third inside a "first 23 days" baseline and its jump
diluted by as much.

Flags (each needs ``min_complete_days`` complete days)
------------------------------------------------------
- ``rate_above`` — recent rate > ``rate_threshold_pct`` (default 10 %, 高损);
- ``jump`` — recent − baseline > ``jump_threshold_pct`` (default 3 points);
- ``negative`` — recent rate < ``negative_threshold_pct`` (default −1 %, 负损: a metering
  or archive error, e.g. a customer filed under the wrong area or a wrong multiplier).

Ranking the customers of a flagged area (``rate_above`` or ``jump``)
-------------------------------------------------------------------
Over the complete days, with the area's baseline/recent split: per customer
``drop = mean kWh (baseline) − mean kWh (recent)``; ``correlation`` = Pearson correlation of
the customer's deficit series (baseline mean − daily kWh) with the area's daily loss kWh;
``share = clip(drop / loss increase, 0, 1)`` with loss increase = mean daily loss kWh
(recent) − (baseline) (the mean recent daily loss when the loss did not increase);
``score = max(correlation, 0) × share`` — a thief's recorded use falls exactly when the
loss rises and by about as much. The ``top`` customers with a positive score are returned.
Everything is scale-free: multiplying every energy by a constant changes no rate, flag or
rank. An area flagged only ``negative`` gets no ranking (there is no missing energy).

Pure Polars (group-wise expressions, no per-area or per-row Python loop); no Django.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import polars as pl

TID: Final = "transformer_id"

SERIES_SCHEMA: Final = pl.Schema(
    {
        TID: pl.Int64,
        "day": pl.Date,
        "input_kwh": pl.Float64,
        "billed_kwh": pl.Float64,
        "loss_kwh": pl.Float64,
        "rate_pct": pl.Float64,
        "complete": pl.Boolean,
    }
)
AREA_SCHEMA: Final = pl.Schema(
    {
        TID: pl.Int64,
        "input_kwh": pl.Float64,
        "billed_kwh": pl.Float64,
        "loss_rate_pct": pl.Float64,
        "baseline_rate_pct": pl.Float64,
        "recent_rate_pct": pl.Float64,
        "change_day": pl.Date,
        "complete_days": pl.Int64,
        "flagged": pl.Boolean,
    }
)
FLAG_SCHEMA: Final = pl.Schema(
    {
        TID: pl.Int64,
        "code": pl.String,
        "value": pl.Float64,
        "threshold": pl.Float64,
    }
)
SUSPECT_SCHEMA: Final = pl.Schema(
    {
        TID: pl.Int64,
        "rank": pl.Int64,
        "account_id": pl.Int64,
        "score": pl.Float64,
        "drop_kwh_per_day": pl.Float64,
        "correlation": pl.Float64,
        "baseline_kwh_per_day": pl.Float64,
        "recent_kwh_per_day": pl.Float64,
    }
)
FLAG_CODES: Final = ("rate_above", "jump", "negative")

__all__ = [
    "AREA_SCHEMA",
    "FLAG_CODES",
    "FLAG_SCHEMA",
    "SERIES_SCHEMA",
    "SUSPECT_SCHEMA",
    "LineLossParams",
    "LineLossResult",
    "line_loss",
]


@dataclass(frozen=True, slots=True)
class LineLossParams:
    """Thresholds and window rules (defaults: docs/inspection-lineloss.md)."""

    rate_threshold_pct: float = 10.0
    jump_threshold_pct: float = 3.0
    negative_threshold_pct: float = -1.0
    min_segment_days: int = 5
    min_complete_days: int = 7
    recent_days: int = 7
    top: int = 10


@dataclass(frozen=True, slots=True)
class LineLossResult:
    """``series``: one row per area and window day; ``areas``: one row per area;
    ``flags``: one row per raised flag; ``suspects``: ranked customers of flagged areas."""

    series: pl.DataFrame
    areas: pl.DataFrame
    flags: pl.DataFrame
    suspects: pl.DataFrame


def _daily_series(
    inputs: pl.DataFrame,
    consumption: pl.DataFrame,
    active: pl.DataFrame,
    start: dt.date,
    end: dt.date,
) -> pl.DataFrame:
    in_window = pl.col("day").is_between(start, end)
    inp = inputs.filter(in_window).group_by(TID, "day").agg(input_kwh=pl.col("kwh").sum())
    cons = consumption.filter(in_window)
    billed = cons.group_by(TID, "day").agg(billed_kwh=pl.col("kwh").sum())
    counted = (
        cons.join(active.select(TID, "account_id"), on=[TID, "account_id"], how="semi")
        .group_by(TID, "day")
        .agg(counted=pl.col("account_id").n_unique())
    )
    n_active = active.group_by(TID).agg(n_active=pl.col("account_id").n_unique())
    areas = pl.concat([inp.select(TID), cons.select(TID), active.select(TID)]).unique()
    days = pl.DataFrame({"day": pl.date_range(start, end, interval="1d", eager=True)})
    grid = areas.join(days, how="cross")
    frame = (
        grid.join(inp, on=[TID, "day"], how="left")
        .join(billed, on=[TID, "day"], how="left")
        .join(counted, on=[TID, "day"], how="left")
        .join(n_active, on=TID, how="left")
        .with_columns(
            pl.col("billed_kwh").fill_null(0.0),
            pl.col("counted").fill_null(0),
            pl.col("n_active").fill_null(0),
        )
    )
    complete = (
        pl.col("input_kwh").is_not_null()
        & (pl.col("input_kwh") > 0)
        & (pl.col("n_active") > 0)
        & (pl.col("counted") == pl.col("n_active"))
    )
    loss = pl.col("input_kwh") - pl.col("billed_kwh")
    return (
        frame.with_columns(complete=complete)
        .with_columns(
            loss_kwh=pl.when(pl.col("complete")).then(loss),
            rate_pct=pl.when(pl.col("complete")).then(loss / pl.col("input_kwh") * 100.0),
        )
        .select(list(SERIES_SCHEMA))
        .cast(SERIES_SCHEMA)
        .sort(TID, "day")
    )


def _segments(series: pl.DataFrame, params: LineLossParams) -> pl.DataFrame:
    """Complete days with ``recent`` (bool) per the change-point rule (module docstring)."""
    m = params.min_segment_days
    done = series.filter(pl.col("complete")).sort(TID, "day")
    pos = done.with_columns(
        i=pl.col("day").cum_count().over(TID).cast(pl.Int64),  # 1-based position
        n=pl.len().over(TID).cast(pl.Int64),
        s=pl.col("rate_pct").cum_sum().over(TID),
        t=pl.col("rate_pct").sum().over(TID),
    )
    k, n = pl.col("i").cast(pl.Float64), pl.col("n").cast(pl.Float64)
    diff = (pl.col("t") - pl.col("s")) / (n - k) - pl.col("s") / k
    candidates = pos.filter((pl.col("i") >= m) & (pl.col("i") <= pl.col("n") - m)).with_columns(
        stat=k * (n - k) / n * diff * diff
    )
    best = (
        candidates.sort(TID, "stat", "i", descending=[False, True, False])
        .group_by(TID, maintain_order=True)
        .first()
        .select(TID, split=pl.col("i"))
    )
    return (
        pos.join(best, on=TID, how="left")
        .with_columns(
            has_baseline=pl.col("split").is_not_null(),
            recent=pl.when(pl.col("split").is_not_null())
            .then(pl.col("i") > pl.col("split"))
            .otherwise(pl.col("i") > pl.col("n") - params.recent_days),
        )
        .select(TID, "day", "input_kwh", "billed_kwh", "loss_kwh", "rate_pct", "recent", "has_baseline")
    )


def _rate(where: pl.Expr) -> pl.Expr:
    loss = pl.col("loss_kwh").filter(where).sum()
    energy = pl.col("input_kwh").filter(where).sum()
    return pl.when(energy > 0).then(loss / energy * 100.0)


def _areas(
    series: pl.DataFrame, seg: pl.DataFrame, params: LineLossParams
) -> tuple[pl.DataFrame, pl.DataFrame]:
    totals = seg.group_by(TID).agg(
        input_kwh=pl.col("input_kwh").sum(),
        billed_kwh=pl.col("billed_kwh").sum(),
        complete_days=pl.len(),
        loss_rate_pct=_rate(pl.lit(True)),
        baseline_rate_pct=pl.when(pl.col("has_baseline").first()).then(_rate(~pl.col("recent"))),
        recent_rate_pct=_rate(pl.col("recent")),
        change_day=pl.when(pl.col("has_baseline").first()).then(pl.col("day").filter(pl.col("recent")).min()),
    )
    areas = (
        series.select(TID)
        .unique()
        .join(totals, on=TID, how="left")
        .with_columns(
            pl.col("input_kwh").fill_null(0.0),
            pl.col("billed_kwh").fill_null(0.0),
            pl.col("complete_days").fill_null(0),
        )
    )
    enough = pl.col("complete_days") >= params.min_complete_days
    recent, baseline = pl.col("recent_rate_pct"), pl.col("baseline_rate_pct")
    checks = {
        "rate_above": (recent, params.rate_threshold_pct, recent > params.rate_threshold_pct),
        "jump": (
            recent - baseline,
            params.jump_threshold_pct,
            (recent - baseline) > params.jump_threshold_pct,
        ),
        "negative": (recent, params.negative_threshold_pct, recent < params.negative_threshold_pct),
    }
    flags = pl.concat(
        [
            areas.filter(enough & cond.fill_null(False)).select(
                TID, code=pl.lit(code), value=value, threshold=pl.lit(threshold, dtype=pl.Float64)
            )
            for code, (value, threshold, cond) in checks.items()
        ]
    ).cast(FLAG_SCHEMA)
    flagged = flags.select(TID).unique().with_columns(flagged=pl.lit(True))
    areas = (
        areas.join(flagged, on=TID, how="left")
        .with_columns(pl.col("flagged").fill_null(False))
        .select(list(AREA_SCHEMA))
        .cast(AREA_SCHEMA)
        .sort(TID)
    )
    order = {code: i for i, code in enumerate(FLAG_CODES)}
    flags = flags.sort(TID, pl.col("code").replace_strict(order, return_dtype=pl.Int64))
    return areas, flags


def _suspects(
    seg: pl.DataFrame, consumption: pl.DataFrame, flags: pl.DataFrame, params: LineLossParams
) -> pl.DataFrame:
    loss_areas = flags.filter(pl.col("code").is_in(["rate_above", "jump"])).select(TID).unique()
    days = seg.filter(pl.col("has_baseline")).join(loss_areas, on=TID, how="semi")
    if days.is_empty():
        return pl.DataFrame(schema=SUSPECT_SCHEMA)
    area = days.group_by(TID).agg(
        base_loss=pl.col("loss_kwh").filter(~pl.col("recent")).mean(),
        recent_loss=pl.col("loss_kwh").filter(pl.col("recent")).mean(),
    )
    increase = pl.col("recent_loss") - pl.col("base_loss")
    area = area.with_columns(
        denominator=pl.when(increase > 0)
        .then(increase)
        .when(pl.col("recent_loss") > 0)
        .then(pl.col("recent_loss"))
    )
    per = (
        consumption.join(days.select(TID, "day", "loss_kwh", "recent"), on=[TID, "day"], how="inner")
        .group_by(TID, "account_id")
        .agg(
            baseline_kwh_per_day=pl.col("kwh").filter(~pl.col("recent")).mean(),
            recent_kwh_per_day=pl.col("kwh").filter(pl.col("recent")).mean(),
            # deficit = baseline mean − kWh, so its correlation with the loss is −corr(kWh, loss)
            correlation=-pl.corr("kwh", "loss_kwh"),
        )
        .join(area, on=TID, how="inner")
        .drop_nulls(["baseline_kwh_per_day", "recent_kwh_per_day"])
        .with_columns(
            pl.col("correlation").fill_nan(0.0).fill_null(0.0),
            drop_kwh_per_day=pl.col("baseline_kwh_per_day") - pl.col("recent_kwh_per_day"),
        )
        .with_columns(
            share=(pl.col("drop_kwh_per_day") / pl.col("denominator")).clip(0.0, 1.0).fill_null(0.0),
        )
        .with_columns(score=pl.col("correlation").clip(lower_bound=0.0) * pl.col("share"))
        .filter(pl.col("score") > 0)
        .sort(TID, "score", "account_id", descending=[False, True, False])
        .with_columns(rank=pl.col("account_id").cum_count().over(TID))
        .filter(pl.col("rank") <= params.top)
    )
    return per.select(list(SUSPECT_SCHEMA)).cast(SUSPECT_SCHEMA)


def line_loss(
    *,
    inputs: pl.DataFrame,
    consumption: pl.DataFrame,
    active: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    params: LineLossParams | None = None,
) -> LineLossResult:
    """Line loss of every area over ``start``..``end``.

    ``inputs``: (transformer_id, day, kwh) — the total meter's daily energy;
    ``consumption``: (transformer_id, account_id, day, kwh) — each customer's energy of
    that same day; ``active``: (transformer_id, account_id) — the accounts every complete
    day needs. Areas are those present in any of the three.
    """
    params = params or LineLossParams()
    if end < start:
        raise ValueError("end before start")
    inputs = inputs.select(
        pl.col(TID).cast(pl.Int64), pl.col("day").cast(pl.Date), pl.col("kwh").cast(pl.Float64)
    )
    consumption = consumption.select(
        pl.col(TID).cast(pl.Int64),
        pl.col("account_id").cast(pl.Int64),
        pl.col("day").cast(pl.Date),
        pl.col("kwh").cast(pl.Float64),
    ).filter(pl.col("day").is_between(start, end))
    active = active.select(pl.col(TID).cast(pl.Int64), pl.col("account_id").cast(pl.Int64)).unique()
    series = _daily_series(inputs, consumption, active, start, end)
    seg = _segments(series, params)
    areas, flags = _areas(series, seg, params)
    suspects = _suspects(seg, consumption, flags, params)
    return LineLossResult(series=series, areas=areas, flags=flags, suspects=suspects)
