"""Period data for a billing run: the PERIOD frame the rating engine takes
(``gridcare.billing.engine`` contract), read from the daily frozen readings with set-based
SQL — a handful of queries per partition of accounts, ``COPY … TO STDOUT`` on PostgreSQL,
never a query per account.

Rules (docs/billing-runs.md):

* Billable: a tariff code, a meter installed at some time in the period, and at least one
  day of the period on which the account was supplied AND postpaid (``_accounts_sql``,
  ``_billed_days``): from the latest of the period's first day, ``opened_on`` and — an
  account that left prepaid (费控) — ``billing_mode_since``, to the earliest of the period's
  last day, ``closed_on``, ``suspended_on`` and — an account that became prepaid — the day
  before ``billing_mode_since``. Its prepaid days are charged daily by the prepaid module
  (``prepaid_days_q``, the same rule for the other mode), so each day is settled once; a
  day charged daily is never billed again even where the account's record would call it
  postpaid (the span starts after such a charge).
* Consumption per register = the reading on the first day after the period − the reading
  on its first day (a reading dated D is frozen at 00:00 of D: ``reading_days``; quality
  valid / estimated / edited). A meter installed inside
  the period starts at its installation's initial readings; a meter removed inside the
  period ends at its final readings (the exchange readings), so an exchange sums both
  meters' parts. A decrease is a rollover at ``10 ** digits``; the meter's multiplier
  (倍率) is applied. An account billed for part of the month (opened, closed, suspended or
  switched between prepaid and postpaid within it) is measured from the reading of the
  first day billed to the reading of the day after the last, whatever its meter's
  installation says beyond those days.
* Two-part basic charge (``_contract_parts``): the contracts in force on the account's own
  days; a contract changed inside them gives ``basic_parts`` (each contract for its days),
  and a demand is the highest of those days only.
* Power factor (力调电费): ``pf_standard`` from the account's class and voltage and the
  capacity of the contract in force at the end of its days (``rating.pf_standard_expr``),
  on single-part (general I&C) and two-part tariffs alike; the reactive register is read
  only for such an account (a small account's unused reactive register holds nothing).
* Held (not rated): an open reading exception (open or sent for re-read) touching the
  period (unless a clerk released the account's hold), or a reading the account needs
  is missing.
* A bill rebuilt for a correction (退补, :func:`bill_period_data`): the same rules for one
  account over the bill's own days, without the selection and the holds above; its
  registers are summed again from the readings the bill records
  (:func:`recorded_register_sums`, the run's exchange rule).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.db import connection
from django.db.models import Q

from gridcare.billing.engine.rating import BASIC_PARTS, PF_STANDARD_COLUMN, pf_standard_expr
from gridcare.billing.reasons import MISSING_READING, OPEN_EXCEPTION
from gridcare.core.bulk import db_datetime, query_frame, sql_milli
from gridcare.metering.choices import OPEN_EXCEPTION_STATUSES, ReadingQuality
from gridcare.metering.interval import curves_read

TZ = ZoneInfo("Asia/Shanghai")

#: The PERIOD frame of the engine contract.
PERIOD_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "tariff_code": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "total_wh": pl.Int64,
    "sharp_wh": pl.Int64,
    "peak_wh": pl.Int64,
    "flat_wh": pl.Int64,
    "valley_wh": pl.Int64,
    "deep_valley_wh": pl.Int64,
    "reactive_varh": pl.Int64,
    "max_demand_w": pl.Int64,
    "capacity_va": pl.Int64,
    "basic_charge_by": pl.String,
    "ytd_wh_before": pl.Int64,
    "service_days": pl.Int64,
}
#: The frame a run rates: the contract's columns, the optional ``basic_parts`` (the
#: contracts of an account whose contract changed in its days billed) and ``pf_standard``
#: (the account's power-factor standard; null: not adjusted).
RUN_PERIOD_SCHEMA: dict[str, Any] = PERIOD_SCHEMA | {
    "basic_parts": BASIC_PARTS,
    PF_STANDARD_COLUMN: pl.String,
}
HOLD_SCHEMA: dict[str, Any] = {"account_id": pl.Int64, "reason": pl.String}

BILLABLE_QUALITIES = (ReadingQuality.VALID, ReadingQuality.ESTIMATED, ReadingQuality.EDITED)
REGISTERS = ("total", "sharp", "peak", "flat", "valley", "reactive")
TOU_REGISTERS = ("sharp", "peak", "flat", "valley")
#: Tariff kinds that price the TOU registers, and those with a power-factor adjustment (the
#: reactive register is read for their accounts that have a standard).
TOU_KINDS = ("res_tou", "gic_tou", "two_part")
REACTIVE_KINDS = ("gic_tou", "two_part")
_READINGS_STRUCT = pl.Struct(dict.fromkeys(REGISTERS, pl.String))


@dataclass
class PeriodData:
    """What a partition's accounts need for rating and for writing their bills."""

    periods: pl.DataFrame  # RUN_PERIOD_SCHEMA, accounts to rate
    holds: pl.DataFrame  # HOLD_SCHEMA, accounts not rated and why
    accounts: pl.DataFrame  # account_id, status (every selected account)
    readings: pl.DataFrame  # account_id, readings_json (the bill's readings, as JSON text)


def month_bounds(period: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month of ``period``: (first day, last day)."""
    first = period.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def reading_days(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The days of the opening and closing readings of the period ``start``–``end``.

    A daily frozen reading dated D is the register frozen at 00:00 of D (as the AMI head-end
    and the demo deliver it, docs/inspection-lineloss.md), so the period's energy runs from
    the reading of its first day to the reading of the day after its last: October is the
    1 November reading − the 1 October reading (the 月冻结 at 00:00 of the 1st)."""
    return start, end + dt.timedelta(days=1)


def _midnight(day: dt.date) -> Any:
    return db_datetime(dt.datetime.combine(day, dt.time(0), tzinfo=TZ))


def billable_account_ids(period: dt.date, *, lo: int | None = None, hi: int | None = None) -> list[int]:
    """Ids of the accounts a run for ``period`` selects (sorted), for partitioning; only
    ids ``lo``–``hi`` when both are given."""
    start, end = month_bounds(period)
    sql, params = _accounts_sql(start, end, lo, hi, columns="a.id")
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY a.id", params)
        return [int(row[0]) for row in cursor.fetchall()]


def _accounts_sql(
    start: dt.date, end: dt.date, lo: int | None, hi: int | None, *, columns: str
) -> tuple[str, list[Any]]:
    """The accounts with a day in ``start``–``end`` billed by the run: supplied (opened,
    not closed nor suspended before it) and postpaid on that day. The SQL form of
    :func:`_billed_days` (its span non-empty), so that a partition reads only them."""
    params: list[Any] = [
        end.isoformat(),
        start.isoformat(),
        start.isoformat(),
        start.isoformat(),
        end.isoformat(),
        _midnight(end + dt.timedelta(days=1)),
        _midnight(start),
    ]
    where = ""
    if lo is not None and hi is not None:
        where = " AND a.id BETWEEN %s AND %s"
        params += [lo, hi]
    sql = (
        f"SELECT {columns} FROM customers_account a "  # noqa: S608 - columns are literals
        "LEFT JOIN billing_tariff t ON t.code = a.tariff_code "
        "WHERE a.tariff_code <> '' AND a.opened_on <= %s "
        "AND (a.closed_on IS NULL OR a.closed_on >= %s) "
        "AND (a.suspended_on IS NULL OR a.suspended_on >= %s) "
        # prepaid now: postpaid before billing_mode_since (after opened_on: a constraint);
        # postpaid now: since billing_mode_since, which must fall in the supplied days.
        "AND (CASE WHEN a.is_prepaid THEN a.billing_mode_since > %s "
        "ELSE a.billing_mode_since IS NULL OR (a.billing_mode_since <= %s "
        "AND (a.closed_on IS NULL OR a.billing_mode_since <= a.closed_on) "
        "AND (a.suspended_on IS NULL OR a.billing_mode_since <= a.suspended_on)) END) "
        "AND EXISTS (SELECT 1 FROM metering_installation i WHERE i.account_id = a.id "
        "AND i.installed_at < %s AND (i.removed_at IS NULL OR i.removed_at >= %s))" + where
    )
    return sql, params


def _billed_days(start: dt.date, end: dt.date) -> list[pl.Expr]:
    """The first and last day the run bills an account for (columns ``first_day``,
    ``last_day``; empty when first > last): its supplied, postpaid days of ``start``–``end``.

    From the latest of ``start``, ``opened_on``, ``billing_mode_since`` of an account that
    is postpaid now, and the day after ``charged_to`` (its latest daily prepaid charge on a
    day its record calls postpaid: the history of an earlier switch); to the earliest of
    ``end``, ``closed_on``, ``suspended_on`` and, for an account that is prepaid now, the
    day before ``billing_mode_since``."""
    prepaid = pl.col("is_prepaid")
    since = pl.col("billing_mode_since")
    return [
        pl.max_horizontal(
            pl.lit(start),
            pl.col("opened_on"),
            pl.when(~prepaid).then(since),
            pl.col("charged_to") + dt.timedelta(days=1),
        ).alias("first_day"),
        pl.min_horizontal(
            pl.lit(end),
            pl.col("closed_on"),
            pl.col("suspended_on"),
            pl.when(prepaid).then(since - dt.timedelta(days=1)),
        ).alias("last_day"),
    ]


def prepaid_days_q(day: dt.date, prefix: str = "") -> Q:
    """Accounts the prepaid daily charge charges for ``day`` (``prefix``: the lookup path to
    the account, e.g. ``"account__"``): supplied on ``day`` (opened; not closed or suspended
    before it) and prepaid on it (prepaid since ``billing_mode_since`` or always, or
    postpaid only from a later day). The other side of :func:`_billed_days`: a day of
    supply is in exactly one of the two."""

    def q(**lookups: Any) -> Q:
        return Q(**{prefix + name: value for name, value in lookups.items()})

    supplied = (
        q(opened_on__lte=day)
        & (q(closed_on__isnull=True) | q(closed_on__gte=day))
        & (q(suspended_on__isnull=True) | q(suspended_on__gte=day))
    )
    prepaid = (q(is_prepaid=True) & (q(billing_mode_since__isnull=True) | q(billing_mode_since__lte=day))) | (
        q(is_prepaid=False) & q(billing_mode_since__gt=day)
    )
    return supplied & prepaid


#: What a period reads of an account (``_accounts_sql``'s ``a``, its tariff ``t``).
_ACCOUNT_COLUMNS = (
    "a.id, a.tariff_code, COALESCE(t.kind, ''), a.status, a.opened_on, a.closed_on, "
    "a.suspended_on, CASE WHEN a.is_prepaid THEN 1 ELSE 0 END, a.billing_mode_since, "
    "a.customer_class, a.voltage_level"
)
_ACCOUNT_SCHEMA: dict[str, Any] = {
    "account_id": pl.Int64,
    "tariff_code": pl.String,
    "kind": pl.String,
    "status": pl.String,
    "opened_on": pl.Date,
    "closed_on": pl.Date,
    "suspended_on": pl.Date,
    "is_prepaid": pl.Int64,
    "billing_mode_since": pl.Date,
    "customer_class": pl.String,
    "voltage_level": pl.String,
}
_READINGS_SCHEMA: dict[str, Any] = {
    "meter_id": pl.Int64,
    "register": pl.String,
    "day": pl.Date,
    "value_milli": pl.Int64,
}


def _own_days() -> list[pl.Expr]:
    """An account's opening and closing reading days (columns ``open_day``, ``close_day``):
    the reading of its first day billed and of the day after its last (``_billed_days``)."""
    return [
        pl.col("first_day").alias("open_day"),
        (pl.col("last_day") + dt.timedelta(days=1)).alias("close_day"),
    ]


def _part_month(part: pl.DataFrame, installs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The installations and readings of accounts billed for part of the month (opened,
    closed, suspended or switched between prepaid and postpaid within it).

    Such an account is billed for its own days only: energy from the reading of its first
    day billed (or its meter's initial readings, when the meter was installed on or after
    that day) to the reading of the day after its last (or the meter's final readings,
    when it was removed before that). A meter still recorded as installed after the account
    was closed does not bill the energy used after closing, and an installation wholly
    outside the account's days bills nothing."""
    from gridcare.metering.models import Installation, Reading

    days = part.with_columns(_own_days())
    own = {
        row["account_id"]: (_midnight_aware(row["open_day"]), _midnight_aware(row["close_day"]))
        for row in days.iter_rows(named=True)
    }
    ids = list(own)
    spans = Installation.objects.filter(
        pk__in=installs.filter(pl.col("account_id").is_in(ids)).get_column("install_id").to_list()
    ).values_list("pk", "account_id", "installed_at", "removed_at", "initial_readings", "final_readings")
    kept: list[tuple[int, str | None, str | None]] = []
    for pk, account_id, installed_at, removed_at, initial, final in spans:
        opens, closes = own[account_id]
        if installed_at >= closes or (removed_at is not None and removed_at < opens):
            continue  # not in the account's days
        kept.append(
            (
                pk,
                json.dumps(initial or {}) if installed_at >= opens else None,
                json.dumps(final or {}) if removed_at is not None and removed_at < closes else None,
            )
        )
    spans_frame = pl.DataFrame(
        kept,
        schema={"install_id": pl.Int64, "initial_json": pl.String, "final_json": pl.String},
        orient="row",
    )
    is_part = pl.col("account_id").is_in(ids)
    installs = pl.concat(
        [
            installs.filter(~is_part),
            installs.filter(is_part)
            .drop("initial_json", "final_json")
            .join(spans_frame, on="install_id", how="inner")
            .select(installs.columns),
        ]
    )
    wanted = sorted({*days.get_column("open_day").to_list(), *days.get_column("close_day").to_list()})
    meters = installs.filter(is_part).get_column("meter_id").unique().to_list()
    rows = Reading.objects.filter(
        meter_id__in=meters, day__in=wanted, quality__in=[q.value for q in BILLABLE_QUALITIES]
    ).values_list("meter_id", "register", "day", "value")
    readings = pl.DataFrame(
        [(m, r, d, int(v * 1000)) for m, r, d, v in rows], schema=_READINGS_SCHEMA, orient="row"
    )
    return installs, readings


def _midnight_aware(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=TZ)


def _text_milli(column: str) -> pl.Expr:
    """Decimal text ('123.45') → integer thousandths (123450), exactly."""
    parts = pl.col(column).str.split_exact(".", 1)
    whole = parts.struct.field("field_0").cast(pl.Int64)
    frac = parts.struct.field("field_1").fill_null("").str.pad_end(3, "0").str.slice(0, 3)
    return whole * 1000 + pl.when(frac == "").then(pl.lit("0")).otherwise(frac).cast(pl.Int64)


def _decimal_text(expr: pl.Expr, scale: int) -> pl.Expr:
    unit = 10**scale
    whole = (expr // unit).cast(pl.String)
    frac = (expr % unit).cast(pl.String).str.zfill(scale)
    return pl.concat_str([whole, pl.lit("."), frac])


def period_data(
    *,
    period: dt.date,
    account_lo: int,
    account_hi: int,
    released: Iterable[int] = (),
    skip: Iterable[int] = (),
) -> PeriodData:
    """The PERIOD frame of the billable accounts with ids ``account_lo``–``account_hi``.

    ``released``: accounts whose hold a clerk released (an open exception no longer holds
    them; a missing reading still does). ``skip``: accounts left out (already billed)."""
    start, end = month_bounds(period)
    sql, params = _accounts_sql(start, end, account_lo, account_hi, columns=_ACCOUNT_COLUMNS)
    accounts = query_frame(sql, params, _ACCOUNT_SCHEMA).with_columns(
        pl.col("is_prepaid").cast(pl.Boolean)  # selected as 0/1 (query_frame)
    )
    skip_ids = pl.Series("account_id", list(skip), dtype=pl.Int64)
    if skip_ids.len():
        accounts = accounts.filter(~pl.col("account_id").is_in(skip_ids.implode()))
    # Daily prepaid charges on days the account's record calls postpaid (it switched more
    # than once): those days are settled already, the bill starts after them.
    charged = query_frame(
        "SELECT c.account_id, MAX(c.day) FROM billing_prepaidcharge c "
        "JOIN customers_account a ON a.id = c.account_id "
        "WHERE c.account_id BETWEEN %s AND %s AND c.day >= %s AND c.day <= %s "
        "AND (CASE WHEN a.is_prepaid THEN c.day < a.billing_mode_since "
        "ELSE a.billing_mode_since IS NULL OR c.day >= a.billing_mode_since END) "
        "GROUP BY c.account_id",
        [account_lo, account_hi, start.isoformat(), end.isoformat()],
        {"account_id": pl.Int64, "charged_to": pl.Date},
    )
    accounts = (
        accounts.join(charged, on="account_id", how="left")
        .with_columns(_billed_days(start, end))
        .filter(pl.col("first_day") <= pl.col("last_day"))
    )
    return _period_frames(
        start=start,
        end=end,
        account_lo=account_lo,
        account_hi=account_hi,
        accounts=accounts,
        ytd=_ytd_before(start=start, end=end, account_lo=account_lo, account_hi=account_hi),
        released=released,
    )


def bill_period_data(
    *, account_id: int, tariff_code: str, period: dt.date, first_day: dt.date, last_day: dt.date
) -> PeriodData:
    """The PERIOD frame of one account's bill rebuilt as the run built it, whatever the
    account is today: what a correction (退补, ``services.adjustments``) re-rates.

    Without the run's selection: the days are the bill's own (``first_day``–``last_day``,
    the days the run picked by :func:`_billed_days`) and its tariff the bill's
    ``tariff_code``, so an account closed, suspended or switched between prepaid and
    postpaid since is rebuilt all the same. Without its holds: an open reading exception
    does not hold the account, and an account whose consumption cannot be measured now (a
    reading missing or no longer valid, no meter) keeps its row with null registers, the
    reason in ``holds``. Everything else is the run's own rule: the registers read by the
    same frame arithmetic (:func:`build_period_data`), the contracts in force on the days
    (:func:`_contract_parts`: capacity, demand, ``basic_parts``), the power-factor standard
    and the year-to-date kWh (:func:`_ytd_before`, counted before ``first_day``)."""
    start, end = month_bounds(period)
    accounts = query_frame(
        f"SELECT {_ACCOUNT_COLUMNS} FROM customers_account a "  # noqa: S608 - columns are literals
        "LEFT JOIN billing_tariff t ON t.code = %s WHERE a.id = %s",
        [tariff_code, account_id],
        _ACCOUNT_SCHEMA,
    ).with_columns(
        pl.col("is_prepaid").cast(pl.Boolean),
        pl.lit(tariff_code, dtype=pl.String).alias("tariff_code"),
        pl.lit(first_day, dtype=pl.Date).alias("first_day"),
        pl.lit(last_day, dtype=pl.Date).alias("last_day"),
    )
    return _period_frames(
        start=start,
        end=end,
        account_lo=account_id,
        account_hi=account_id,
        accounts=accounts,
        ytd=_ytd_before(
            start=start, end=end, account_lo=account_id, account_hi=account_id, first_day=first_day
        ),
        hold=False,
    )


def _period_frames(
    *,
    start: dt.date,
    end: dt.date,
    account_lo: int,
    account_hi: int,
    accounts: pl.DataFrame,
    ytd: pl.DataFrame,
    released: Iterable[int] = (),
    hold: bool = True,
) -> PeriodData:
    """Read the installations, readings, exceptions and contracts of ``accounts`` (ids
    ``account_lo``–``account_hi``, each with its ``first_day`` and ``last_day`` billed) and
    build their PERIOD frame (:func:`build_period_data`)."""
    opening, closing = reading_days(start, end)
    start_ts, end_ts = _midnight(start), _midnight(end + dt.timedelta(days=1))
    overlap = (
        "i.account_id BETWEEN %s AND %s AND i.installed_at < %s "
        "AND (i.removed_at IS NULL OR i.removed_at >= %s)"
    )
    overlap_params = [account_lo, account_hi, end_ts, start_ts]
    installs = query_frame(
        "SELECT i.id, i.account_id, i.meter_id, m.asset_no, m.digits, "  # noqa: S608
        f"CAST(ROUND(m.multiplier * 100) AS BIGINT), CAST(m.registers AS TEXT), "
        "CASE WHEN i.installed_at >= %s THEN CAST(i.initial_readings AS TEXT) END, "
        "CASE WHEN i.removed_at IS NOT NULL AND i.removed_at < %s "
        "THEN COALESCE(CAST(i.final_readings AS TEXT), '{}') END "
        f"FROM metering_installation i JOIN metering_meter m ON m.id = i.meter_id WHERE {overlap}",
        [start_ts, end_ts, *overlap_params],
        {
            "install_id": pl.Int64,
            "account_id": pl.Int64,
            "meter_id": pl.Int64,
            "asset_no": pl.String,
            "digits": pl.Int64,
            "mult_centi": pl.Int64,
            "registers_json": pl.String,
            "initial_json": pl.String,
            "final_json": pl.String,
        },
    ).join(accounts.select("account_id", "kind"), on="account_id", how="inner")

    qualities = ", ".join(f"'{q.value}'" for q in BILLABLE_QUALITIES)
    readings = query_frame(
        f"SELECT r.meter_id, r.register, r.day, {sql_milli('r.value')} "  # noqa: S608
        "FROM metering_reading r JOIN metering_installation i ON i.meter_id = r.meter_id "
        f"WHERE {overlap} AND r.day IN (%s, %s) AND r.quality IN ({qualities})",
        [*overlap_params, opening.isoformat(), closing.isoformat()],
        _READINGS_SCHEMA,
    )
    # Accounts billed for part of the month have their own first and last reading days.
    part = accounts.filter((pl.col("first_day") > start) | (pl.col("last_day") < end)).select(
        "account_id", "first_day", "last_day"
    )
    if part.height:
        installs, part_readings = _part_month(part, installs)
        readings = pl.concat([readings, part_readings])
    readings = readings.unique(["meter_id", "register", "day"])
    statuses = ", ".join(f"'{s.value}'" for s in OPEN_EXCEPTION_STATUSES)
    exceptions = query_frame(
        "SELECT e.account_id, MIN(e.rule) FROM metering_readingexception e "  # noqa: S608
        f"WHERE e.account_id BETWEEN %s AND %s AND e.status IN ({statuses}) "
        "AND e.day_from <= %s AND e.day_to >= %s GROUP BY e.account_id",
        [account_lo, account_hi, closing.isoformat(), opening.isoformat()],
        {"account_id": pl.Int64, "rule": pl.String},
    )
    # The active contracts that may be in force in the month: those overlapping it, and the
    # last to end before it (its terms carry on until a new contract, _contract_parts).
    contracts = query_frame(
        f"SELECT c.account_id, {sql_milli('c.capacity_kva')}, c.basic_charge_by, "  # noqa: S608
        f"{sql_milli('c.contracted_demand_kw')}, c.start_date, c.end_date, c.id "
        "FROM customers_contract c "
        "WHERE c.account_id BETWEEN %s AND %s AND c.status = 'active' AND c.start_date <= %s "
        "AND (c.end_date IS NULL OR c.end_date >= %s OR NOT EXISTS (SELECT 1 FROM "
        "customers_contract d WHERE d.account_id = c.account_id AND d.status = 'active' "
        "AND d.end_date > c.end_date AND d.end_date < %s))",
        [account_lo, account_hi, end.isoformat(), start.isoformat(), start.isoformat()],
        {
            "account_id": pl.Int64,
            "capacity_va": pl.Int64,
            "basic_charge_by": pl.String,
            "contracted_demand_w": pl.Int64,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "contract_id": pl.Int64,
        },
    )
    return build_period_data(
        start=start,
        end=end,
        accounts=accounts,
        installs=installs,
        readings=readings,
        exceptions=exceptions,
        contracts=contracts,
        ytd=ytd,
        released=released,
        hold=hold,
    )


def _ytd_before(
    *, start: dt.date, end: dt.date, account_lo: int, account_hi: int, first_day: dt.date | None = None
) -> pl.DataFrame:
    """This year's kWh settled before the period (``account_id``, ``ytd_wh_before``), the
    one rule of the year's tier position (年阶梯): the bills' kWh with their approved
    corrections of the consumption (a refund of 100 kWh in March moves the later months'
    tier position), and the daily prepaid charges of the days before the account's first
    postpaid day billed (each day is settled by one path, so an account that switched mode
    keeps its position in the year).

    That day is the period's first, or for an account that left prepaid within it the day
    it did: a run reads it from the account's record (``billing_mode_since``); a bill
    rebuilt later (:func:`bill_period_data`) gives it as ``first_day``, the first day the
    run billed, as the account's mode may have changed since."""
    year_bills = "b.account_id BETWEEN %s AND %s AND b.period >= %s AND b.period < %s AND b.status <> 'void'"
    year_params = [account_lo, account_hi, start.replace(month=1).isoformat(), start.isoformat()]
    if first_day is None:
        charges = (
            "(c.day < %s OR (c.day >= %s AND ac.is_prepaid = %s AND ac.billing_mode_since > %s "
            "AND ac.billing_mode_since <= %s AND c.day < ac.billing_mode_since))"
        )
        charges_params: list[Any] = [
            start.isoformat(),
            start.isoformat(),
            False,
            start.isoformat(),
            end.isoformat(),
        ]
    else:
        charges = "c.day < %s"
        charges_params = [first_day.isoformat()]
    return query_frame(
        f"SELECT account_id, CAST(SUM(wh) AS BIGINT) FROM ("  # noqa: S608 - literals only
        f"SELECT b.account_id, {sql_milli('b.kwh')} AS wh FROM billing_bill b WHERE {year_bills} "
        f"UNION ALL SELECT b.account_id, {sql_milli('a.kwh')} AS wh FROM billing_billadjustment a "
        f"JOIN billing_bill b ON b.id = a.bill_id WHERE {year_bills} AND a.status = 'approved' "
        "AND a.corrects_consumption "  # not a theft case's charge the bill only carries
        f"UNION ALL SELECT c.account_id, {sql_milli('c.kwh')} AS wh FROM billing_prepaidcharge c "
        "JOIN customers_account ac ON ac.id = c.account_id "
        f"WHERE c.account_id BETWEEN %s AND %s AND c.day >= %s AND {charges}"
        ") t GROUP BY account_id",
        [
            *year_params,
            *year_params,
            account_lo,
            account_hi,
            start.replace(month=1).isoformat(),
            *charges_params,
        ],
        {"account_id": pl.Int64, "ytd_wh_before": pl.Int64},
    )


def build_period_data(
    *,
    start: dt.date,
    end: dt.date,
    accounts: pl.DataFrame,
    installs: pl.DataFrame,
    readings: pl.DataFrame,
    exceptions: pl.DataFrame,
    contracts: pl.DataFrame,
    ytd: pl.DataFrame,
    released: Iterable[int] = (),
    hold: bool = True,
) -> PeriodData:
    """The frame arithmetic of :func:`period_data` (no database). ``accounts`` carries each
    account's ``first_day`` and ``last_day`` billed (:func:`_billed_days`), tariff ``kind``,
    ``customer_class`` and ``voltage_level``.

    ``hold=False`` (a bill rebuilt, :func:`bill_period_data`): no account is held. Open
    exceptions are ignored, and an account with a reading missing keeps its row with null
    registers (its consumption is not measured), the missing reading in ``holds``."""
    # The contracts in force on each account's days: the basic charge, and the capacity that
    # decides the power-factor standard (whose accounts' reactive register is read).
    basis = _contract_parts(contracts, accounts, start, end)
    standards = (
        accounts.select("account_id", "kind", "customer_class", "voltage_level")
        .join(basis.select("account_id", "capacity_va"), on="account_id", how="left")
        .select(
            "account_id",
            pl.when(pl.col("kind").is_in(REACTIVE_KINDS))
            .then(pf_standard_expr())
            .otherwise(None)
            .alias(PF_STANDARD_COLUMN),
        )
    )
    adjusted = standards.filter(pl.col(PF_STANDARD_COLUMN).is_not_null()).get_column("account_id")
    segments = (
        installs.with_columns(
            pl.col("registers_json").str.json_decode(pl.List(pl.String)).alias("register"),
            pl.col("initial_json").str.json_decode(_READINGS_STRUCT).alias("initial"),
            pl.col("final_json").str.json_decode(_READINGS_STRUCT).alias("final"),
        )
        .explode("register")
        .filter(
            (pl.col("register") == "total")
            | (pl.col("register").is_in(TOU_REGISTERS) & pl.col("kind").is_in(TOU_KINDS))
            | ((pl.col("register") == "reactive") & pl.col("account_id").is_in(adjusted.implode()))
        )
    )
    pick_initial = pl.lit(None, dtype=pl.String)
    pick_final = pl.lit(None, dtype=pl.String)
    for name in REGISTERS:
        pick_initial = (
            pl.when(pl.col("register") == name)
            .then(pl.col("initial").struct.field(name))
            .otherwise(pick_initial)
        )
        pick_final = (
            pl.when(pl.col("register") == name).then(pl.col("final").struct.field(name)).otherwise(pick_final)
        )
    segments = segments.with_columns(
        pick_initial.alias("initial_text"), pick_final.alias("final_text")
    ).with_columns(
        _text_milli("initial_text").alias("initial_milli"), _text_milli("final_text").alias("final_milli")
    )
    start_reads = readings.select(
        "meter_id", "register", pl.col("day").alias("open_day"), pl.col("value_milli").alias("read_start")
    )
    end_reads = readings.select(
        "meter_id", "register", pl.col("day").alias("close_day"), pl.col("value_milli").alias("read_end")
    )
    own_days = accounts.select("account_id", *_own_days())
    segments = (
        segments.join(own_days, on="account_id", how="inner")
        .join(start_reads, on=["meter_id", "register", "open_day"], how="left")
        .join(end_reads, on=["meter_id", "register", "close_day"], how="left")
        .with_columns(
            pl.when(pl.col("initial_json").is_not_null())
            .then(pl.col("initial_milli"))
            .otherwise(pl.col("read_start"))
            .alias("start_milli"),
            pl.when(pl.col("final_json").is_not_null())
            .then(pl.col("final_milli"))
            .otherwise(pl.col("read_end"))
            .alias("end_milli"),
        )
        .with_columns((pl.col("end_milli") - pl.col("start_milli")).alias("delta"))
        .with_columns(
            pl.when(pl.col("delta") < 0)
            .then(pl.col("delta") + pl.lit(10, dtype=pl.Int64).pow(pl.col("digits")) * 1000)
            .otherwise(pl.col("delta"))
            .alias("delta")
        )
        .with_columns(((pl.col("delta") * pl.col("mult_centi") + 50) // 100).alias("wh"))
    )
    # Missing readings: the first gap of each account is the hold's reason.
    missing = (
        segments.filter(pl.col("start_milli").is_null() | pl.col("end_milli").is_null())
        .with_columns(
            MISSING_READING.expr(
                meter=pl.col("asset_no"),
                register=pl.col("register"),
                day=pl.when(pl.col("start_milli").is_null())
                .then(pl.col("open_day"))
                .otherwise(pl.col("close_day")),
            ).alias("reason")
        )
        .group_by("account_id")
        .agg(pl.col("reason").sort().first())
    )
    released_ids = pl.Series("account_id", list(released), dtype=pl.Int64)
    if not hold:
        exceptions = exceptions.clear()
    open_exc = exceptions.filter(~pl.col("account_id").is_in(released_ids.implode())).select(
        "account_id",
        OPEN_EXCEPTION.expr(rule=pl.col("rule")).alias("reason"),
    )
    holds = (
        pl.concat([open_exc, missing.select("account_id", "reason")], how="vertical_relaxed")
        .unique("account_id", keep="first", maintain_order=True)
        .join(accounts.select("account_id"), on="account_id", how="semi")
        .sort("account_id")
    )
    held = holds.select("account_id")

    usage = segments.join(held, on="account_id", how="anti")
    per_register = _register_sums(usage)
    wide = per_register.pivot(on="register", index="account_id", values="wh") if per_register.height else None
    columns = {"total": "total_wh", "sharp": "sharp_wh", "peak": "peak_wh", "flat": "flat_wh"}
    columns |= {"valley": "valley_wh", "reactive": "reactive_varh"}
    if wide is None:
        wide = pl.DataFrame(schema={"account_id": pl.Int64})
    wide = wide.with_columns(
        pl.col(reg).cast(pl.Int64).alias(name)
        if reg in wide.columns
        else pl.lit(None, dtype=pl.Int64).alias(name)
        for reg, name in columns.items()
    ).select("account_id", *columns.values())

    first, last = pl.lit(start), pl.lit(end)
    if hold:
        measured = accounts.join(held, on="account_id", how="anti").join(wide, on="account_id", how="inner")
    else:  # the held accounts are not in ``wide``: their registers are null
        measured = accounts.join(wide, on="account_id", how="left")
    periods = (
        measured.join(basis, on="account_id", how="left")
        .join(standards, on="account_id", how="left")
        .join(ytd, on="account_id", how="left")
        .with_columns(
            # An account billed for part of the month is billed for its own days: the engine
            # then pro-rates monthly tier bounds and the basic charge by the days.
            pl.col("first_day").alias("period_start"),
            pl.col("last_day").alias("period_end"),
            pl.lit(None, dtype=pl.Int64).alias("deep_valley_wh"),
            pl.col("ytd_wh_before").fill_null(0),
            pl.when((pl.col("first_day") > first) | (pl.col("last_day") < last))
            .then((pl.col("last_day") - pl.col("first_day")).dt.total_days() + 1)
            .otherwise(None)
            .cast(pl.Int64)
            .alias("service_days"),
        )
        .select([pl.col(k).cast(v) for k, v in RUN_PERIOD_SCHEMA.items()])
        .sort("account_id")
    )
    json_rows = usage.join(periods.select("account_id"), on="account_id", how="semi")
    multi = json_rows.group_by("account_id", "register").agg(pl.len().alias("n"))
    json_rows = (
        json_rows.join(multi, on=["account_id", "register"])
        .with_columns(
            pl.when(pl.col("n") > 1)
            .then(pl.concat_str([pl.col("register"), pl.lit(":"), pl.col("asset_no")]))
            .otherwise(pl.col("register"))
            .alias("key")
        )
        .sort("account_id", "key")
        .with_columns(
            pl.concat_str(
                [
                    pl.lit('"'),
                    pl.col("key"),
                    pl.lit('": {"meter": "'),
                    pl.col("asset_no"),
                    pl.lit('", "start": "'),
                    _decimal_text(pl.col("start_milli"), 3),
                    pl.lit('", "end": "'),
                    _decimal_text(pl.col("end_milli"), 3),
                    pl.lit('", "multiplier": "'),
                    _decimal_text(pl.col("mult_centi"), 2),
                    pl.lit('", "kwh": "'),
                    _decimal_text(pl.col("wh"), 3),
                    pl.lit('"}'),
                ]
            ).alias("item")
        )
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("item").str.join(", "))
        .select(
            "account_id", pl.concat_str([pl.lit("{"), pl.col("item"), pl.lit("}")]).alias("readings_json")
        )
    )
    return PeriodData(
        periods=periods,
        holds=holds.select([pl.col(k).cast(v) for k, v in HOLD_SCHEMA.items()]),
        accounts=accounts.select("account_id", "status"),
        readings=json_rows,
    )


def _register_sums(usage: pl.DataFrame) -> pl.DataFrame:
    """Each account's energy per register (``account_id``, ``register``, ``wh``): the sum of
    its meters' parts, by :func:`_mixed_register_sums` for the few accounts with more than
    one installation in the period (an exchange); the others — nearly every account of a
    run — by one group-by."""
    plain = usage.group_by("account_id", "register").agg(pl.col("wh").sum())
    if usage.get_column("install_id").n_unique() == usage.get_column("account_id").n_unique():
        return plain  # one installation per account (an installation has one account)
    several = (
        usage.group_by("account_id")
        .agg(pl.col("install_id").n_unique().alias("parts"))
        .filter(pl.col("parts") > 1)
        .select("account_id")
    )
    mixed = _mixed_register_sums(usage.join(several, on="account_id", how="semi"))
    return pl.concat([plain.join(several, on="account_id", how="anti"), mixed.cast(plain.schema)])


def recorded_register_sums(readings: Mapping[str, Any], *, kind: str | None) -> dict[str, int]:
    """The energy per register (``register`` → Wh) of the readings a bill records
    (``Bill.readings``, written by :func:`build_period_data`: each meter's part of each
    register with its ``meter`` and ``kwh``, keyed ``register:meter`` after an exchange),
    summed by the run's own rule (:func:`_register_sums`, so an exchange between a
    total-only and a TOU meter is split as the run split it) for a tariff of ``kind``. The
    parts are the run's own (it recorded only the registers it read), so this is the
    bill's registers exactly as rated; a correction (退补) re-rates from them. Entries
    without a known register or ``kwh`` are left out; none left gives ``{}``."""
    meters: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    for key, value in readings.items():
        register, _, suffix = str(key).partition(":")
        if register not in REGISTERS or not isinstance(value, dict) or value.get("kwh") in (None, ""):
            continue
        meter = str(value.get("meter") or suffix)
        wh = int((Decimal(str(value["kwh"])) * 1000).to_integral_value(ROUND_HALF_UP))
        install = meters.setdefault(meter, len(meters))
        rows.append({"account_id": 0, "install_id": install, "register": register, "kind": kind, "wh": wh})
    if not rows:
        return {}
    usage = pl.DataFrame(
        rows,
        schema={
            "account_id": pl.Int64,
            "install_id": pl.Int64,
            "register": pl.String,
            "kind": pl.String,
            "wh": pl.Int64,
        },
    )
    return {row["register"]: int(row["wh"]) for row in _register_sums(usage).to_dicts()}


def _mixed_register_sums(usage: pl.DataFrame) -> pl.DataFrame:
    """Each account's energy per register (``account_id``, ``register``, ``wh``): the sum of
    its meters' parts (an exchange adds them), with two rules for an exchange between meters
    with different registers (docs/billing-runs.md, "Meter exchange"):

    * A part measured by the total register only, on an account another part of which has
      time-of-use registers, is billed by period like the rest: its energy counts as flat
      (平段) for the general I&C and two-part tariffs (the price of a total-only meter), and
      for the residential peak/valley tariff is split between peak and valley in the
      proportion of the TOU parts (all valley when they recorded none). So the TOU registers
      add up to the total of all parts, which the engine rates.
    * Power factor: where only some parts have the reactive register, the power factor is
      that of the parts that have it. ``reactive_varh`` then carries their reactive energy
      scaled to the account's whole active energy (the engine's power factor is the ratio
      of the two); it is absent, so no adjustment, when those parts used no active energy."""
    parts = usage.group_by("account_id", "install_id", "register").agg(
        pl.col("kind").first(), pl.col("wh").sum()
    )
    is_tou = pl.col("register").is_in(TOU_REGISTERS)
    part = parts.group_by("account_id", "install_id").agg(
        pl.col("kind").first(),
        is_tou.any().alias("has_tou"),
        (pl.col("register") == "reactive").any().alias("has_reactive"),
        pl.col("wh").filter(pl.col("register") == "total").sum().alias("total"),
        pl.col("wh").filter(is_tou).sum().alias("tou"),
        pl.col("wh").filter(pl.col("register") == "peak").sum().alias("peak"),
        pl.col("wh").filter(pl.col("register") == "valley").sum().alias("valley"),
    )
    part = part.with_columns(
        pl.when(pl.col("has_tou")).then(pl.col("tou")).otherwise(pl.col("total")).alias("active"),
        pl.col("has_tou").any().over("account_id").alias("account_tou"),
        pl.col("has_reactive").any().over("account_id").alias("account_reactive"),
        pl.col("has_reactive").all().over("account_id").alias("all_reactive"),
    )
    sums = parts.group_by("account_id", "register").agg(pl.col("wh").sum())
    # Total-only parts of accounts billed by period.
    fill = (
        part.filter(pl.col("account_tou"))
        .group_by("account_id")
        .agg(
            pl.col("kind").first(),
            pl.col("total").filter(~pl.col("has_tou")).sum().alias("fill"),
            pl.col("peak").filter(pl.col("has_tou")).sum().alias("peak"),
            pl.col("valley").filter(pl.col("has_tou")).sum().alias("valley"),
        )
        .filter(pl.col("fill") != 0)
    )
    pv = pl.col("peak") + pl.col("valley")
    to_peak = (
        pl.when((pl.col("kind") == "res_tou") & (pv > 0))
        .then((pl.col("fill") * pl.col("peak") * 2 + pv) // (pv * 2))  # half up
        .otherwise(0)
    )
    fill = fill.with_columns(to_peak.alias("to_peak")).select(
        "account_id",
        pl.when(pl.col("kind") == "res_tou").then(pl.lit("peak")).otherwise(pl.lit("flat")).alias("a"),
        pl.when(pl.col("kind") == "res_tou").then(pl.col("to_peak")).otherwise(pl.col("fill")).alias("a_wh"),
        pl.when(pl.col("kind") == "res_tou").then(pl.lit("valley")).otherwise(None).alias("b"),
        (pl.col("fill") - pl.col("to_peak")).alias("b_wh"),
    )
    extra = pl.concat(
        [
            fill.select("account_id", pl.col("a").alias("register"), pl.col("a_wh").alias("wh")),
            fill.filter(pl.col("b").is_not_null()).select(
                "account_id", pl.col("b").alias("register"), pl.col("b_wh").alias("wh")
            ),
        ]
    )
    sums = (
        pl.concat([sums, extra.cast(sums.schema)]).group_by("account_id", "register").agg(pl.col("wh").sum())
    )
    # Reactive energy of accounts where only some parts have the register.
    mixed = (
        part.filter(pl.col("account_reactive") & ~pl.col("all_reactive"))
        .group_by("account_id")
        .agg(
            pl.col("active").sum().alias("active_all"),
            pl.col("active").filter(pl.col("has_reactive")).sum().alias("active_with"),
        )
    )
    scaled = (
        sums.filter(pl.col("register") == "reactive")
        .join(mixed, on="account_id", how="inner")
        .filter(pl.col("active_with") > 0)
        .select(
            "account_id",
            "register",
            # in floating point: the product of two large energies overflows 64 bits
            (pl.col("wh") * (pl.col("active_all") / pl.col("active_with")))
            .round(0)
            .cast(pl.Int64)
            .alias("wh"),
        )
    )
    return pl.concat(
        [
            sums.join(mixed.select("account_id"), on="account_id", how="anti"),
            sums.join(mixed.select("account_id"), on="account_id", how="semi").filter(
                pl.col("register") != "reactive"
            ),
            scaled,
        ]
    )


def _contract_parts(
    contracts: pl.DataFrame, accounts: pl.DataFrame, start: dt.date, end: dt.date
) -> pl.DataFrame:
    """Each account's basic-charge basis (``account_id``, ``basic_charge_by``,
    ``capacity_va``, ``max_demand_w``, ``basic_parts``) from its contracts in force on its
    own days billed (``first_day``–``last_day``).

    On each day the contract in force is the latest-starting active contract whose dates
    cover the day (end date included; the later created of two starting the same day): a
    减容 or a new contract supersedes the old one from its start, and a temporary one
    (临时增容 from the 10th to the 20th) gives the days after it back to the contract still
    in force. A day no contract covers keeps the contract in force before it (合同到期未续签:
    the terms carry on until a new contract); days before any contract started are the first
    one's. Consecutive days under the same basis, capacity and contracted demand are one
    part (a renewal on the same terms bills like a full month). One part: its basis fills
    the row. Several: ``basic_parts`` lists them (the engine bills each for its days) and
    the row carries the last. A part billed by demand bills the highest demand of its own
    days (:func:`_max_demand`)."""
    terms = ["basic_charge_by", "capacity_va", "contracted_demand_w"]
    account = pl.col("account_id")
    # on a frame sorted by account: the row before (after) is the same account's
    prev_same = (account == account.shift(1)).fill_null(False)
    next_same = (account == account.shift(-1)).fill_null(False)
    rows = (
        contracts.join(accounts.select("account_id", "first_day", "last_day"), on="account_id", how="inner")
        .sort("account_id", "start_date", "contract_id")
        .with_columns(
            pl.when(pl.col("basic_charge_by").is_in(["capacity", "demand"]))
            .then(pl.col("basic_charge_by"))
            .otherwise(None)
            .alias("basic_charge_by"),
            (prev_same | next_same).alias("multi"),
        )
    )
    # Nearly every account has one contract: it is in force on all the account's days.
    single = rows.filter(~pl.col("multi")).with_columns(
        pl.col("first_day").alias("part_from"), pl.col("last_day").alias("part_to")
    )
    changing = rows.filter(pl.col("multi"))
    # The others: the contract in force can change only on a contract's start or the day
    # after its end, and a day no contract covers keeps the contract of the last covered
    # day (an end date): the account's first day billed and those days are enough.
    day = pl.col("day")
    days = (
        changing.select(
            "account_id",
            "first_day",
            "last_day",
            pl.concat_list(
                "first_day", "start_date", pl.col("end_date") + dt.timedelta(days=1), "end_date"
            ).alias("day"),
        )
        .explode("day")
        .drop_nulls("day")
        .unique(["account_id", "day"])
    )
    covering = (
        days.join(changing.select("account_id", "contract_id", "start_date", "end_date"), on="account_id")
        .filter((pl.col("start_date") <= day) & (pl.col("end_date").is_null() | (pl.col("end_date") >= day)))
        .sort("account_id", "day", "start_date", "contract_id")
        .unique(["account_id", "day"], keep="last", maintain_order=True)
        .select("account_id", "day", "contract_id")
    )
    timeline = (
        days.join(covering, on=["account_id", "day"], how="left")
        .sort("account_id", "day")
        .with_columns(
            pl.col("contract_id").forward_fill().backward_fill().over("account_id"),
        )
        .filter(day.is_between(pl.col("first_day"), pl.col("last_day")))
        .join(changing.select("contract_id", *terms), on="contract_id", how="left")
        .sort("account_id", "day")
    )
    new_part = ~prev_same | pl.any_horizontal(pl.col(t).ne_missing(pl.col(t).shift(1)) for t in terms)
    timeline = timeline.with_columns(new_part.alias("new_part")).filter("new_part")
    timeline = timeline.with_columns(
        day.alias("part_from"),
        pl.when(next_same)
        .then(day.shift(-1) - dt.timedelta(days=1))
        .otherwise(pl.col("last_day"))
        .alias("part_to"),
        pl.lit(True).alias("multi"),
    )
    columns = ["account_id", "part_from", "part_to", "multi", *terms]
    parts = pl.concat([single.select(columns), timeline.select(columns)]).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("part")
    )
    demand = _max_demand(parts.filter(pl.col("basic_charge_by") == "demand"), start, end)
    demand_w = pl.col("contracted_demand_w")
    if demand.height:
        parts = parts.join(demand, on=["account_id", "part"], how="left")
        demand_w = pl.coalesce("curve_demand_w", "contracted_demand_w")
    basis = ["account_id", "basic_charge_by", "capacity_va", "max_demand_w"]
    parts = parts.with_columns(
        pl.when(pl.col("basic_charge_by") == "demand")
        .then(demand_w)
        .otherwise(None)
        .cast(pl.Int64)
        .alias("max_demand_w")
    )
    several = parts.filter(pl.col("multi")).sort("account_id", "part_from")
    listed = (
        several.group_by("account_id", maintain_order=True)
        .agg(
            pl.struct(pl.col("part_from").alias("from"), *basis[1:]).alias("basic_parts"),
            *(pl.col(c).last() for c in basis[1:]),  # the row carries the part in force at the end
        )
        .with_columns(
            pl.when(pl.col("basic_parts").list.len() > 1).then(pl.col("basic_parts")).cast(BASIC_PARTS)
        )
    )
    return pl.concat(
        [
            parts.filter(~pl.col("multi")).select(
                *basis, pl.lit(None, dtype=BASIC_PARTS).alias("basic_parts")
            ),
            listed.select(*basis, "basic_parts"),
        ]
    )


def _max_demand(parts: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """最大需量 of the demand-billed ``parts`` (``account_id``, ``part``, ``part_from``,
    ``part_to``: an account's own days billed under one contract): the largest 15-minute
    average power on those days from the interval curves (Wh in a quarter hour × 4 = W),
    not on the month's other days (before an account opened, after it closed, while it
    was prepaid); absent when there is no curve on them (the contracted demand is billed
    then)."""
    empty = pl.DataFrame(schema={"account_id": pl.Int64, "part": pl.Int64, "curve_demand_w": pl.Int64})
    if parts.height == 0:
        return empty
    curves = curves_read(keys=parts["account_id"].unique().to_list(), start=start, end=end)
    if curves.height == 0:
        return empty
    return (
        curves.rename({"key": "account_id"})
        .join(parts.select("account_id", "part", "part_from", "part_to"), on="account_id", how="inner")
        .filter(pl.col("day").is_between(pl.col("part_from"), pl.col("part_to")))
        .group_by("account_id", "part")
        .agg((pl.col("wh").max() * 4).alias("curve_demand_w"))
    )
