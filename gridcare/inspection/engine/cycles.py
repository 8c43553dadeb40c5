"""Periodic inspection cycles (周期检查): which accounts are due in a period and when.

Pure (no Django): accounts come in as a Polars frame, the ``InspectionCycle`` rows as plain
tuples, and the work is vectorised (joins and NumPy month arithmetic), so a county's tens of
thousands of accounts cost one pass.

Rules (docs/inspection-tasks.md):

- the rules *in force* on a day are, for each (importance, voltage level) key, the row with
  the latest ``effective_from`` on or before that day;
- a rule with an importance level (voltage level empty) matches accounts of that importance;
  a rule with a voltage level (importance empty) matches accounts supplied at that voltage;
  an account matched by both takes the shorter interval;
- due date = last completed inspection + interval months, the day clamped to the month's
  end (2024-08-31 + 6 months = 2025-02-28); never inspected → due on the period start, or on
  the day it opened if that is later; an account that opens after the period is not due;
- an account is due in a period when its due date is on or before the period's end (one
  overdue from before the period is due too, at the period start: ``due_on``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

ACCOUNT_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "importance": pl.String(),
    "voltage_level": pl.String(),
    "last_inspected": pl.Date(),
    "opened_on": pl.Date(),
}
DUE_SCHEMA: dict[str, pl.DataType] = {
    "account_id": pl.Int64(),
    "interval_months": pl.Int64(),
    "basis": pl.String(),
    "due": pl.Date(),
    "due_on": pl.Date(),
    "overdue": pl.Boolean(),
}


@dataclass(frozen=True)
class Cycle:
    """One ``InspectionCycle`` row."""

    importance: str
    voltage_level: str
    interval_months: int
    effective_from: dt.date


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, the day clamped to the target month's end."""
    out = add_months_array(np.array([day], dtype="datetime64[D]"), np.array([months]))
    return dt.date.fromisoformat(str(out[0]))


def add_months_array(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Vectorised ``add_months``: ``days`` as ``datetime64[D]``, ``months`` integers."""
    month_start = days.astype("datetime64[M]")
    day_index = (days - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + months.astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(np.int64)
    return target.astype("datetime64[D]") + np.minimum(day_index, length - 1).astype("timedelta64[D]")


def rules_in_force(cycles: Iterable[Cycle], on: dt.date) -> list[Cycle]:
    """For each (importance, voltage level), the rule with the latest ``effective_from`` ≤ ``on``."""
    latest: dict[tuple[str, str], Cycle] = {}
    for cycle in cycles:
        if cycle.effective_from > on:
            continue
        key = (cycle.importance, cycle.voltage_level)
        if key not in latest or cycle.effective_from > latest[key].effective_from:
            latest[key] = cycle
    return sorted(latest.values(), key=lambda c: (c.importance, c.voltage_level))


def _rule_frame(rules: list[Cycle], column: str) -> pl.DataFrame:
    keyed = [
        (getattr(c, column), c.interval_months)
        for c in rules
        if getattr(c, column) and not getattr(c, "voltage_level" if column == "importance" else "importance")
    ]
    return pl.DataFrame(
        {column: [k for k, _ in keyed], f"months_{column}": [m for _, m in keyed]},
        schema={column: pl.String, f"months_{column}": pl.Int64},
    )


def due_accounts(
    accounts: pl.DataFrame, cycles: Iterable[Cycle], *, period_start: dt.date, period_end: dt.date
) -> pl.DataFrame:
    """The accounts due for a periodic inspection in ``[period_start, period_end]``.

    ``accounts``: ``account_id``, ``importance`` ("" for none), ``voltage_level``,
    ``last_inspected`` (Date or null), ``opened_on``. ``cycles``: every ``InspectionCycle``
    row; those in force on ``period_start`` apply. Returns ``account_id``,
    ``interval_months``, ``basis`` ("importance" or "voltage": the rule that set the
    interval), ``due`` (the computed due date), ``due_on`` (``due`` moved to the period start
    when earlier) and ``overdue`` (``due`` before the period start), ordered by ``due`` then
    ``account_id``.
    """
    if period_end < period_start:
        raise ValueError("period_end is before period_start")
    rules = rules_in_force(cycles, period_start)
    frame = accounts.select(list(ACCOUNT_SCHEMA)).cast(ACCOUNT_SCHEMA)  # type: ignore[arg-type]
    frame = frame.with_columns(pl.col("importance").fill_null(""), pl.col("voltage_level").fill_null(""))
    frame = frame.join(_rule_frame(rules, "importance"), on="importance", how="left").join(
        _rule_frame(rules, "voltage_level"), on="voltage_level", how="left"
    )
    frame = frame.with_columns(
        pl.min_horizontal("months_importance", "months_voltage_level").alias("interval_months")
    ).filter(pl.col("interval_months").is_not_null() & (pl.col("opened_on") <= period_end))
    if frame.is_empty():
        return pl.DataFrame(schema=DUE_SCHEMA)
    basis = (
        pl.when(pl.col("months_importance") == pl.col("interval_months"))
        .then(pl.lit("importance"))
        .otherwise(pl.lit("voltage"))
    )
    last = frame["last_inspected"]
    known = last.is_not_null().to_numpy()
    base = last.fill_null(period_start).to_numpy().astype("datetime64[D]")
    shifted = add_months_array(base, frame["interval_months"].to_numpy())
    start64 = np.datetime64(period_start, "D")
    opened = frame["opened_on"].to_numpy().astype("datetime64[D]")
    never = np.maximum(start64, opened)
    due = np.where(known, shifted, never)
    frame = frame.with_columns(pl.Series("due", due).cast(pl.Date), basis.alias("basis"))
    return (
        frame.filter(pl.col("due") <= period_end)
        .with_columns(
            pl.max_horizontal("due", pl.lit(period_start)).alias("due_on"),
            (pl.col("due") < period_start).alias("overdue"),
        )
        .select(list(DUE_SCHEMA))
        .cast(DUE_SCHEMA)  # type: ignore[arg-type]
        .sort("due", "account_id")
    )
