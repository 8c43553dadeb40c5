"""Theft risk features (窃电风险特征) per customer from daily consumption.

Input is the long daily frame (customer_id, date, kwh), as written by
``gridcare theft benchmark-data`` or read from the metering data. Output is one row per
customer with ``FEATURE_NAMES`` in that order, every value finite.

Everything is computed on one customers × calendar-days matrix with NumPy (cumulative
sums for every segment mean, no per-customer Python loop). Two series are used:

- ``x``: the reported daily kWh (missing days are NaN);
- ``r``: ``x`` divided by the peers' median kWh of the same day. The peer curve comes
  from a ``PeerReference`` built on the *training* customers only and passed in, so that
  a customer's features depend only on its own readings and the training population.
  Dividing by the peers' day removes the season (London winters use more than summers),
  so a level break is not mistaken for spring.

Features (see docs/inspection.md, "Evaluation"):

- level: ``mean_kwh``, ``mean_to_peers`` (own mean / training median of the same),
  ``late_to_peers`` (mean ``r`` over the last 12 weeks of readings);
- ratio to own history: ``last4w_to_own``, ``last12w_to_own`` (mean ``r`` of the last 4 or
  12 weeks of readings / mean ``r`` before them);
- breaks: ``split_ratio`` (smallest after/before ratio of mean ``r`` over every split with
  ``MIN_SEGMENT`` readings on each side), ``cusum_score`` (largest standardised drop of the
  mean at a split, the CUSUM / binary-segmentation statistic), ``split_position`` (share of
  the own span after that split), ``max_drop_4w`` (largest relative drop between two
  consecutive 4-week windows), ``min_4w_to_own`` (lowest 4-week mean / own mean);
- zeros: ``zero_share``, ``zero_longest_run`` (days), ``zero_share_late`` (last 12 weeks);
- periodicity: ``acf7`` (autocorrelation of ``r`` at lag 7), ``acf1``, ``acf1_after_split``,
  ``acf1_change`` (after − before the split);
- volatility: ``std_ratio_split`` (std of ``x`` after / before the split),
  ``rough_ratio_split`` (mean |day-to-day change| relative to the level, after / before),
  ``cv_smooth`` (mean |x − 7-day centred mean| / mean x, the noise h3 and h4 add),
  ``cv_smooth_after_split``, ``cv_smooth_change`` (after / before);
- ``low_share_late``: share of the last 12 weeks' readings below half the earlier mean;
- ``missing_share``: missing days within the customer's own first-to-last span.

Pure NumPy/Polars, no Django.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl

FEATURE_NAMES: Final = (
    "mean_kwh",
    "mean_to_peers",
    "late_to_peers",
    "last4w_to_own",
    "last12w_to_own",
    "split_ratio",
    "cusum_score",
    "split_position",
    "max_drop_4w",
    "min_4w_to_own",
    "zero_share",
    "zero_longest_run",
    "zero_share_late",
    "acf7",
    "acf1",
    "acf1_after_split",
    "acf1_change",
    "std_ratio_split",
    "rough_ratio_split",
    "cv_smooth",
    "cv_smooth_after_split",
    "cv_smooth_change",
    "low_share_late",
    "missing_share",
)
"""The feature columns, in the order the model sees them."""

MIN_SEGMENT: Final = 28
"""Fewest readings on each side of a split considered by the break features."""

WINDOW: Final = 28
"""Length in days of the windows of ``max_drop_4w`` and ``min_4w_to_own``."""

LATE_SHORT: Final = 28
LATE_LONG: Final = 84
"""The last 4 and 12 weeks of readings."""

ZERO_KWH: Final = 1e-3
"""A reading at or below this many kWh counts as a zero day."""

_EPS: Final = 1e-6
_RATIO_CAP: Final = 100.0


@dataclass(frozen=True)
class PeerReference:
    """What the population looks like, learnt from the training customers only:
    the median kWh of each day and the median of the customers' mean kWh."""

    dates: np.ndarray  # int days since epoch, sorted
    daily_median: np.ndarray
    mean_kwh_median: float


def _clean(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("kwh").cast(pl.Float64),
    ).drop_nulls("kwh")


def peer_reference(frame: pl.DataFrame) -> PeerReference:
    """The peer reference of the customers in ``frame`` (pass the training part only)."""
    clean = _clean(frame)
    daily = clean.group_by("date").agg(pl.col("kwh").median()).sort("date")
    means = clean.group_by("customer_id").agg(pl.col("kwh").mean())
    overall = float(np.median(clean["kwh"].to_numpy())) if clean.height else 1.0
    median = daily["kwh"].to_numpy().astype(np.float64)
    median = np.where(median > _EPS, median, max(overall, _EPS))
    return PeerReference(
        dates=daily["date"].cast(pl.Int32).to_numpy().astype(np.int64),
        daily_median=median,
        mean_kwh_median=float(np.median(means["kwh"].to_numpy())) if means.height else 1.0,
    )


def daily_matrix(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers (sorted), calendar days (int days since epoch, first to last day in the
    frame) and the customers × days kWh matrix with NaN for missing days."""
    clean = _clean(frame)
    customers = clean["customer_id"].unique().sort().to_numpy()
    day = clean["date"].cast(pl.Int32).to_numpy().astype(np.int64)
    first = int(day.min()) if len(day) else 0
    days = np.arange(first, (int(day.max()) + 1) if len(day) else first, dtype=np.int64)
    matrix = np.full((len(customers), len(days)), np.nan)
    rows = (clean["customer_id"].rank("dense").cast(pl.Int64) - 1).to_numpy()
    matrix[rows, day - first] = clean["kwh"].to_numpy()
    return customers, days, matrix


def _prefix(values: np.ndarray) -> np.ndarray:
    """Cumulative sums along days with a leading zero column; NaN counts as 0."""
    out = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(np.nan_to_num(values, nan=0.0), axis=1, out=out[:, 1:])
    return out


def _at(prefix: np.ndarray, index: np.ndarray) -> np.ndarray:
    return prefix[np.arange(prefix.shape[0]), index]


def _ratio(num: np.ndarray, den: np.ndarray, default: float = 1.0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(np.abs(den) > _EPS, num / np.where(np.abs(den) > _EPS, den, 1.0), default)
    out = np.where(np.isfinite(out), out, default)
    return np.clip(out, -_RATIO_CAP, _RATIO_CAP)


def _segment_mean(prefix: np.ndarray, count: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _ratio(_at(prefix, b) - _at(prefix, a), _at(count, b) - _at(count, a), default=0.0)


def _last_readings_start(count: np.ndarray, k: int) -> np.ndarray:
    """Prefix index from which the last ``k`` readings of each row lie (0 if fewer)."""
    total = count[:, -1:]
    return np.argmax(count >= np.maximum(total - k, 0), axis=1)


def _peer_curve(days: np.ndarray, peers: PeerReference) -> np.ndarray:
    """The peers' median of each calendar day; days the training data lacks take the
    nearest known day."""
    if len(peers.dates) == 0:
        return np.ones(len(days))
    index = np.clip(np.searchsorted(peers.dates, days), 0, len(peers.dates) - 1)
    left = np.clip(index - 1, 0, len(peers.dates) - 1)
    nearer_left = np.abs(peers.dates[left] - days) < np.abs(peers.dates[index] - days)
    return peers.daily_median[np.where(nearer_left, left, index)]


def _longest_run_end(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of each row's longest run of 1s and the column of its last day (the first
    such run on ties; -1 when there is none)."""
    run = np.zeros(flags.shape[0])
    longest = np.zeros(flags.shape[0])
    end = np.full(flags.shape[0], -1, dtype=np.int64)
    for column in range(flags.shape[1]):  # loop over days, vectorised over customers
        run = (run + 1.0) * flags[:, column]
        longer = run > longest
        end[longer] = column
        np.maximum(longest, run, out=longest)
    return longest, end


def _centred_mean(x: np.ndarray, width: int = 7) -> np.ndarray:
    """Mean of the readings within ``width // 2`` days either side (NaN if none)."""
    half = width // 2
    padded = np.pad(x, ((0, 0), (half, half)), constant_values=np.nan)
    total, count = _prefix(padded), _prefix(np.isfinite(padded).astype(float))
    window_total = total[:, width:] - total[:, :-width]
    window_count = count[:, width:] - count[:, :-width]
    return np.where(window_count > 0, window_total / np.maximum(window_count, 1.0), np.nan)


def _acf1_segments(r: np.ndarray, split: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lag-1 autocorrelation of ``r`` before and after each row's split (prefix index),
    each segment centred on its own mean (pairs whose later day is in the segment)."""
    cur, prev = r[:, 1:], r[:, :-1]
    pair = np.isfinite(cur) & np.isfinite(prev)
    c0, p0 = np.where(pair, cur, 0.0), np.where(pair, prev, 0.0)
    # prefix over the later day's index: a pair ending on day j sits at column j
    pad = np.zeros((r.shape[0], 1))
    sums = {
        name: _prefix(np.hstack([pad, values]))
        for name, values in {
            "n": pair.astype(float),
            "xy": c0 * p0,
            "x": c0,
            "y": p0,
            "xx": c0 * c0,
            "yy": p0 * p0,
        }.items()
    }
    end = np.full(r.shape[0], r.shape[1])
    start = np.zeros(r.shape[0], dtype=np.int64)

    def acf(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        s = {name: _at(p, b) - _at(p, a) for name, p in sums.items()}
        n = np.maximum(s["n"], 1.0)
        cov = s["xy"] - s["x"] * s["y"] / n
        var_x = s["xx"] - s["x"] ** 2 / n
        var_y = s["yy"] - s["y"] ** 2 / n
        with np.errstate(invalid="ignore"):
            den = np.sqrt(np.maximum(var_x, 0.0) * np.maximum(var_y, 0.0))
        return _ratio(cov, den, default=0.0)

    return acf(start, split), acf(split, end)


def _acf(r: np.ndarray, lag: int) -> np.ndarray:
    mean = np.nanmean(np.where(np.isfinite(r), r, np.nan), axis=1, keepdims=True)
    c = r - mean
    cur, prev = c[:, lag:], c[:, :-lag]
    pair = np.isfinite(cur) & np.isfinite(prev)
    num = np.where(pair, cur * prev, 0.0).sum(axis=1)
    den = np.nansum(c * c, axis=1)
    return _ratio(num, den, default=0.0)


def customer_features(frame: pl.DataFrame, peers: PeerReference) -> pl.DataFrame:
    """One row per customer of ``frame``: ``customer_id`` then ``FEATURE_NAMES``.

    ``peers`` must come from the training customers only (``peer_reference``). A
    customer's row depends on its own readings and ``peers`` alone.
    """
    return customer_features_detail(frame, peers)[0]


DETAIL_SCHEMA: Final = {
    "customer_id": pl.String,
    "readings": pl.Int64,
    "first_date": pl.Date,
    "last_date": pl.Date,
    "split_date": pl.Date,
    "split_after_to_before": pl.Float64,
    "zero_run_start": pl.Date,
    "zero_run_end": pl.Date,
}
"""Where each customer's break and longest zero run lie (``customer_features_detail``)."""


def customer_features_detail(frame: pl.DataFrame, peers: PeerReference) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``customer_features`` and, in the same pass, one row per customer locating what the
    break and zero features measured (``DETAIL_SCHEMA``): the number of readings, the
    first and last reading day, ``split_date`` (the first day after the split of
    ``cusum_score`` / ``split_position``; null without ``MIN_SEGMENT`` readings on both
    sides), ``split_after_to_before`` (mean of ``r`` after / before that split) and the
    first and last day of the longest zero run (null without zero days)."""
    customers, days, x = daily_matrix(frame)
    feature_schema = {"customer_id": pl.String, **dict.fromkeys(FEATURE_NAMES, pl.Float64)}
    if len(customers) == 0:
        return pl.DataFrame(schema=feature_schema), pl.DataFrame(schema=DETAIL_SCHEMA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = _features(x, _peer_curve(days, peers), peers)
    data: dict[str, object] = {"customer_id": customers}
    for name in FEATURE_NAMES:
        data[name] = np.nan_to_num(values[name], nan=0.0, posinf=_RATIO_CAP, neginf=-_RATIO_CAP)
    features = pl.DataFrame(data, schema=feature_schema)

    n_days = len(days)

    def day(index: np.ndarray) -> np.ndarray:
        return days[np.clip(index, 0, n_days - 1)].astype(np.int32)

    zero_end = values["_zero_run_end"]
    raw = pl.DataFrame(
        {
            "customer_id": customers,
            "readings": values["_readings"].astype(np.int64),
            "first_date": day(values["_first"]),
            "last_date": day(values["_last"]),
            "split_date": day(values["_split_day"]),
            "split_after_to_before": values["_split_after_to_before"],
            "zero_run_start": day(zero_end - values["zero_longest_run"].astype(np.int64) + 1),
            "zero_run_end": day(zero_end),
            "has_split": values["_has_split"],
            "has_zero": zero_end >= 0,
        }
    )
    detail = raw.select(
        "customer_id",
        "readings",
        pl.col("first_date").cast(pl.Date),
        pl.col("last_date").cast(pl.Date),
        pl.when("has_split").then(pl.col("split_date").cast(pl.Date)).alias("split_date"),
        pl.when("has_split").then("split_after_to_before").alias("split_after_to_before"),
        pl.when("has_zero").then(pl.col("zero_run_start").cast(pl.Date)).alias("zero_run_start"),
        pl.when("has_zero").then(pl.col("zero_run_end").cast(pl.Date)).alias("zero_run_end"),
    ).cast(DETAIL_SCHEMA)  # type: ignore[arg-type]
    return features, detail


def _features(x: np.ndarray, curve: np.ndarray, peers: PeerReference) -> dict[str, np.ndarray]:
    n_rows, n_days = x.shape
    valid = np.isfinite(x)
    r = x / curve[None, :]
    count = _prefix(valid.astype(float))
    total = count[:, -1]
    cx, cr = _prefix(x), _prefix(r)
    rows = np.arange(n_rows)
    first = np.argmax(valid, axis=1)
    last = n_days - 1 - np.argmax(valid[:, ::-1], axis=1)
    out: dict[str, np.ndarray] = {}

    mean_x = _ratio(cx[:, -1], total, default=0.0)
    mean_r = _ratio(cr[:, -1], total, default=0.0)
    out["mean_kwh"] = mean_x
    out["mean_to_peers"] = _ratio(mean_x, np.full(n_rows, peers.mean_kwh_median))
    out["missing_share"] = 1.0 - _ratio(total, (last - first + 1).astype(float), default=1.0)

    end = np.full(n_rows, n_days)
    zero = np.zeros(n_rows, dtype=np.int64)
    late_short = _last_readings_start(count, LATE_SHORT)
    late_long = _last_readings_start(count, LATE_LONG)
    before_long = _segment_mean(cr, count, zero, late_long)
    late_mean = _segment_mean(cr, count, late_long, end)
    out["late_to_peers"] = late_mean
    out["last4w_to_own"] = _ratio(
        _segment_mean(cr, count, late_short, end), _segment_mean(cr, count, zero, late_short)
    )
    out["last12w_to_own"] = _ratio(late_mean, before_long)

    # splits: prefix index t splits the days into [0, t) and [t, n_days)
    nb = count[:, 1:-1]
    na = total[:, None] - nb
    ok = (nb >= MIN_SEGMENT) & (na >= MIN_SEGMENT)
    sum_b = cr[:, 1:-1]
    mean_b = sum_b / np.maximum(nb, 1.0)
    mean_a = (cr[:, -1:] - sum_b) / np.maximum(na, 1.0)
    ratio = np.where(ok & (mean_b > _EPS), mean_a / np.where(mean_b > _EPS, mean_b, 1.0), np.inf)
    out["split_ratio"] = np.where(ok.any(axis=1), np.min(ratio, axis=1), 1.0)
    std_r = np.nanstd(r, axis=1)
    score = (mean_b - mean_a) * np.sqrt(nb * na / np.maximum(total[:, None], 1.0))
    score = np.where(ok, score, -np.inf)
    best = np.argmax(score, axis=1)
    has_split = ok.any(axis=1)
    out["cusum_score"] = np.where(has_split, _ratio(score[rows, best], std_r, default=0.0), 0.0)
    split = np.where(has_split, best + 1, (first + last + 1) // 2)
    out["_has_split"] = has_split
    # the first reading day at or after the split (the split's prefix index is a calendar day)
    out["_split_day"] = np.minimum(np.argmax(count[:, 1:] > _at(count, split)[:, None], axis=1), last)
    out["_split_after_to_before"] = _ratio(mean_a[rows, best], mean_b[rows, best])
    out["_readings"] = total
    out["_first"] = first
    out["_last"] = last
    out["split_position"] = _ratio((last + 1 - split).astype(float), (last - first + 1).astype(float), 0.0)

    # 4-week windows [t - W, t) and [t, t + W)
    if n_days >= 2 * WINDOW:
        t = np.arange(WINDOW, n_days - WINDOW + 1)
        n_before = count[:, t] - count[:, t - WINDOW]
        n_after = count[:, t + WINDOW] - count[:, t]
        w_before = (cr[:, t] - cr[:, t - WINDOW]) / np.maximum(n_before, 1.0)
        w_after = (cr[:, t + WINDOW] - cr[:, t]) / np.maximum(n_after, 1.0)
        both = (n_before >= WINDOW // 2) & (n_after >= WINDOW // 2) & (w_before > _EPS)
        drop = np.where(both, 1.0 - w_after / np.where(w_before > _EPS, w_before, 1.0), -np.inf)
        out["max_drop_4w"] = np.where(both.any(axis=1), drop.max(axis=1), 0.0)
        windows = np.where(n_after >= WINDOW // 2, w_after, np.inf)
        lowest = np.where(np.isfinite(windows).any(axis=1), windows.min(axis=1), mean_r)
        out["min_4w_to_own"] = _ratio(lowest, mean_r)
    else:
        out["max_drop_4w"] = np.zeros(n_rows)
        out["min_4w_to_own"] = np.ones(n_rows)

    zeros = valid & (np.nan_to_num(x, nan=1.0) <= ZERO_KWH)
    cz = _prefix(zeros.astype(float))
    out["zero_share"] = _ratio(cz[:, -1], total, 0.0)
    out["zero_longest_run"], out["_zero_run_end"] = _longest_run_end(zeros.astype(float))
    out["zero_share_late"] = _segment_mean(cz, count, late_long, end)

    out["acf7"] = _acf(r, 7)
    out["acf1"] = _acf(r, 1)
    acf_before, acf_after = _acf1_segments(r, split)
    out["acf1_after_split"] = acf_after
    out["acf1_change"] = acf_after - acf_before

    cx2 = _prefix(x * x)
    m_b, m_a = _segment_mean(cx, count, zero, split), _segment_mean(cx, count, split, end)
    sd_b = np.sqrt(np.maximum(_segment_mean(cx2, count, zero, split) - m_b**2, 0.0))
    sd_a = np.sqrt(np.maximum(_segment_mean(cx2, count, split, end) - m_a**2, 0.0))
    out["std_ratio_split"] = _ratio(sd_a, sd_b)

    step = np.abs(np.diff(x, axis=1))
    step = np.hstack([np.full((n_rows, 1), np.nan), step])
    cstep, nstep = _prefix(step), _prefix(np.isfinite(step).astype(float))
    rough_b = _ratio(_segment_mean(cstep, nstep, zero, split), m_b, 0.0)
    rough_a = _ratio(_segment_mean(cstep, nstep, split, end), m_a, 0.0)
    out["rough_ratio_split"] = _ratio(rough_a, rough_b)

    residual = np.abs(x - _centred_mean(x))
    cres = _prefix(residual)
    out["cv_smooth"] = _ratio(_segment_mean(cres, count, zero, end), mean_x, 0.0)
    cv_b = _ratio(_segment_mean(cres, count, zero, split), m_b, 0.0)
    cv_a = _ratio(_segment_mean(cres, count, split, end), m_a, 0.0)
    out["cv_smooth_after_split"] = cv_a
    out["cv_smooth_change"] = _ratio(cv_a, cv_b)

    low = valid & (r < 0.5 * before_long[:, None])
    out["low_share_late"] = _segment_mean(_prefix(low.astype(float)), count, late_long, end)
    return out
