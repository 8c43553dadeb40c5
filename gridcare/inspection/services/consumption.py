"""Daily consumption for theft scoring and line loss, read set-based from the metering data.

* :func:`accounts_daily_kwh` — each account's daily kWh from its meters' total-register
  daily frozen readings (日冻结). A reading dated D is the register frozen at 00:00 of D (as
  the AMI head-end and the demo deliver it), so the use *of* day D is
  (reading of D+1 − reading of D) × multiplier (倍率), a rollover at ``10 ** digits``
  counted through (``metering.engine.estimate.is_rollover``, the rule VEE applies) and any
  other decrease — a bad read a clerk accepted — leaving the day missing; the 台区总表
  curve of day D (its 96 quarter hours) measures the same day. Only readings of quality valid, estimated or
  edited count (a suspect reading is waiting for a clerk). A day is counted only when both
  readings are 00:00 values of the same meter while it was installed for the account: the
  readings taken at an installation or removal during the day (stored dated that day,
  source "exchange") and the new meter's first day are not, so the day of a meter
  exchange — and a meter's installation day — is missing rather than wrong (counted with
  the energy of part of the day only).
* :func:`transformer_daily_input` — the daily input energy of each transformer's total
  meter (台区总表): the sum of its 96 quarter-hour values from the interval store; a day with
  fewer than 96 values is left out (incomplete, not zero).
* :func:`accounts_frame` — the accounts with what scoring and line loss group by (class,
  transformer area, area type), for active accounts.

Two to three queries whatever the number of accounts (``COPY`` on PostgreSQL); the maths is
Polars. No Django model instance is built per reading.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.utils import timezone

from gridcare.core.bulk import query_frame, sql_milli
from gridcare.customers.models import Account
from gridcare.metering.choices import ReadingQuality, ReadingSource, Register
from gridcare.metering.engine.estimate import is_rollover
from gridcare.metering.interval import SLOTS_PER_DAY, transformer_curves_read
from gridcare.metering.models import Installation

TZ = ZoneInfo("Asia/Shanghai")
COUNTED_QUALITIES = (ReadingQuality.VALID, ReadingQuality.ESTIMATED, ReadingQuality.EDITED)

DAILY_SCHEMA: dict[str, Any] = {"account_id": pl.Int64, "day": pl.Date, "kwh": pl.Float64}
INPUT_SCHEMA: dict[str, Any] = {"transformer_id": pl.Int64, "day": pl.Date, "kwh": pl.Float64}
ACCOUNTS_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "number": pl.String,
    "customer_class": pl.String,
    "transformer_id": pl.Int64,
    "area_type": pl.String,
    "is_dedicated": pl.Boolean,
}

__all__ = ["accounts_daily_kwh", "accounts_frame", "transformer_daily_input"]


def _midnight_days(installed_at: dt.datetime, removed_at: dt.datetime | None) -> tuple[Any, ...]:
    """The first and last day whose 00:00 reading an installation holds, and whether the
    installation or the removal itself was at 00:00 (its reading is then that 00:00 value)."""
    installed = timezone.localtime(installed_at)
    first_exact = installed.time() == dt.time(0)
    first_day = installed.date() if first_exact else installed.date() + dt.timedelta(days=1)
    if removed_at is None:
        return first_day, first_exact, None, False
    removed = timezone.localtime(removed_at)
    return first_day, first_exact, removed.date(), removed.time() == dt.time(0)


def _installations(start: dt.date, end: dt.date, account_ids: Sequence[int] | None) -> pl.DataFrame:
    """Installations overlapping [start, end + 1]: account, meter, the first and last day
    whose 00:00 reading the installation holds (``_midnight_days``) and whether the
    installation or removal was itself at 00:00, digits and multiplier (thousandths)."""
    first = dt.datetime.combine(start, dt.time(0), tzinfo=TZ)
    last = dt.datetime.combine(end + dt.timedelta(days=2), dt.time(0), tzinfo=TZ)
    rows = Installation.objects.filter(installed_at__lt=last).exclude(removed_at__lt=first)
    if account_ids is not None:
        rows = rows.filter(account_id__in=list(account_ids))
    data = list(
        rows.values_list(
            "account_id", "meter_id", "installed_at", "removed_at", "meter__digits", "meter__multiplier"
        )
    )
    return pl.DataFrame(
        [
            (a, m, *_midnight_days(i, r), int(d), int((Decimal(mult) * 1000).to_integral_value()))
            for a, m, i, r, d, mult in data
        ],
        schema={
            "account_id": pl.Int64,
            "meter_id": pl.Int64,
            "first_day": pl.Date,
            "first_exact": pl.Boolean,
            "last_day": pl.Date,
            "last_exact": pl.Boolean,
            "digits": pl.Int64,
            "multiplier_milli": pl.Int64,
        },
        orient="row",
    )


def accounts_daily_kwh(
    *, start: dt.date, end: dt.date, account_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """``account_id``, ``day``, ``kwh`` (float) for every day from ``start`` to ``end`` an
    account has counted 00:00 readings of the same installed meter on D and D+1 (the use of
    D is their difference); sorted by account and day. An installation's reading at a time
    other than 00:00 (source "exchange": a meter installed or removed during the day) is
    no 00:00 reading, so the day of a meter exchange is missing, not part of the day."""
    if end < start:
        return pl.DataFrame(schema=DAILY_SCHEMA)
    installs = _installations(start, end, account_ids)
    if installs.is_empty():
        return pl.DataFrame(schema=DAILY_SCHEMA)
    sql = (
        f"SELECT meter_id, day, {sql_milli('value')}, "  # noqa: S608 - literals
        "CASE WHEN source = %s THEN 1 ELSE 0 END FROM metering_reading "
        "WHERE register = %s AND day >= %s AND day <= %s AND quality IN (%s, %s, %s)"
    )
    params: list[Any] = [
        ReadingSource.EXCHANGE.value,
        Register.TOTAL.value,
        start.isoformat(),
        (end + dt.timedelta(days=1)).isoformat(),
        *[q.value for q in COUNTED_QUALITIES],
    ]
    if account_ids is not None:
        meters = installs["meter_id"].unique().to_list()
        sql += f" AND meter_id IN ({', '.join(['%s'] * len(meters))})"
        params += meters
    readings = query_frame(
        sql, params, {"meter_id": pl.Int64, "day": pl.Date, "value_milli": pl.Int64, "exchange": pl.Int64}
    )
    day = pl.col("day")
    at_midnight = (pl.col("exchange") == 0) | (
        ((day == pl.col("first_day")) & pl.col("first_exact"))
        | ((day == pl.col("last_day")) & pl.col("last_exact"))
    )
    joined = (
        readings.join(installs, on="meter_id", how="inner")
        .filter(
            (day >= pl.col("first_day"))
            & (pl.col("last_day").is_null() | (day <= pl.col("last_day")))
            & at_midnight.fill_null(False)
        )
        .sort("account_id", "meter_id", "day")
    )
    same = (pl.col("account_id") == pl.col("account_id").shift(-1)) & (
        pl.col("meter_id") == pl.col("meter_id").shift(-1)
    )
    consecutive = (pl.col("day").shift(-1) - pl.col("day")) == pl.duration(days=1)
    following = pl.col("value_milli").shift(-1)
    delta = following - pl.col("value_milli")
    modulus = pl.lit(10, dtype=pl.Int64).pow(pl.col("digits")) * 1000  # estimate.register_range
    return (
        joined.with_columns(
            ok=same & consecutive,
            delta=pl.when(delta >= 0)
            .then(delta)
            .when(is_rollover(pl.col("value_milli"), following, modulus))
            .then(delta + modulus),  # any other decrease: no figure for the day
        )
        .filter(pl.col("ok") & pl.col("delta").is_not_null() & (pl.col("day") <= end))
        .select(
            "account_id",
            "day",
            kwh=(pl.col("delta").cast(pl.Float64) * pl.col("multiplier_milli").cast(pl.Float64) / 1e6),
        )
        .sort("account_id", "day")
    )


def transformer_daily_input(
    *, start: dt.date, end: dt.date, transformer_ids: Sequence[int] | None = None
) -> pl.DataFrame:
    """``transformer_id``, ``day``, ``kwh``: the 台区总表's daily input energy (complete days
    only: all 96 quarter hours present)."""
    if transformer_ids is None:
        from gridcare.customers.models import Transformer

        transformer_ids = list(Transformer.objects.values_list("id", flat=True))
    curves = transformer_curves_read(keys=list(transformer_ids), start=start, end=end)
    if curves.is_empty():
        return pl.DataFrame(schema=INPUT_SCHEMA)
    return (
        curves.group_by("key", "day")
        .agg(pl.len().alias("slots"), pl.col("wh").sum().alias("wh"))
        .filter(pl.col("slots") == SLOTS_PER_DAY)
        .select(
            pl.col("key").alias("transformer_id"),
            "day",
            kwh=pl.col("wh").cast(pl.Float64) / 1000.0,
        )
        .sort("transformer_id", "day")
    )


def accounts_frame(*, account_ids: Sequence[int] | None = None, active_only: bool = True) -> pl.DataFrame:
    """Accounts with their class and transformer area (for peers and area grouping)."""
    rows = Account.objects.all()
    if active_only:
        rows = rows.filter(status="active")
    if account_ids is not None:
        rows = rows.filter(pk__in=list(account_ids))
    data = list(
        rows.values_list(
            "id",
            "number",
            "customer_class",
            "service_point__transformer_id",
            "service_point__transformer__area_type",
            "service_point__transformer__is_dedicated",
        )
    )
    return pl.DataFrame(data, schema=ACCOUNTS_SCHEMA, orient="row")
