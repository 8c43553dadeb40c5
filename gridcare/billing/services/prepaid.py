"""Prepaid (费控) accounts: the daily estimated charge, balance reminders, and remote
disconnect/reconnect orders (远程停复电) — docs/billing-prepaid.md.

The daily cycle (``gridcare worker`` runs it; ``gridcare billing prepaid …`` by hand):

1. :func:`prepaid_daily_charges` — for day D, every account prepaid and supplied on D
   (``period_data.prepaid_days_q``: a closed or suspended account up to its last day of
   supply, an account that switched mode only for its prepaid days) with a meter installed
   during D: the energy used on D from the daily frozen readings (frozen at 00:00: reading(D+1)
   − reading(D), or − an earlier reading after a gap or a skipped run; a meter exchanged on
   D, or on an earlier day the charge covers, adds its final readings' part), rated with
   the rating engine on the days it covers,
   deducted from the balance. One ``PrepaidCharge`` per account and day of
   use; re-running a day charges nothing twice.
2. :func:`prepaid_check_balances` — first the balances pay the bills of postpaid days they
   cover (payments ``balances_apply``, all prepaid accounts at once), then reminders at the
   thresholds of the ``BillingPolicy`` in force (low → zero + disconnection notice → after
   the notice days a disconnect order), and cancel/reconnect when the balance is back at or
   above zero. An important customer's (重要用户) disconnect is never automatic: it is
   created ``NEEDS_PERSON``.
3. :func:`remote_orders_dispatch` — pending orders go to the AMI head-end through the
   adapter (:class:`FileOutboxHeadEnd` by default: there is no real head-end here).

A reconnect does not wait for the cycle: the check that creates it — the daily one, or
:func:`prepaid_after_payment` as soon as a payment commits — sends it once its own
transaction commits (a failed send leaves it pending for the next dispatch). A disconnect
goes only to an account that is still active and prepaid: one made before the account was
switched to postpaid, suspended or closed is cancelled, not sent.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from gridcare.billing.choices import (
    BillStatus,
    DocumentStatus,
    PrepaidNoticeLevel,
    RemoteOrderKind,
    RemoteOrderStatus,
)
from gridcare.billing.models import (
    AccountBalance,
    Bill,
    BillAdjustment,
    BillingPolicy,
    PrepaidCharge,
    PrepaidNotice,
    RemoteOrder,
    TariffVersion,
)
from gridcare.billing.notifications import sms_send
from gridcare.billing.reasons import engine_reason_text
from gridcare.billing.selectors.policy import billing_policy_at
from gridcare.billing.services.payments import balances_apply
from gridcare.billing.services.period_data import month_bounds, prepaid_days_q, reading_days
from gridcare.core.audit import actor_label, audit_record, person_name, snapshot
from gridcare.core.bulk import db_datetime, decimal_text, insert_ignoring_conflicts
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.roles import staff_has_perm
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account
from gridcare.metering.choices import TOU_REGISTERS, Register
from gridcare.metering.models import Installation, Reading

__all__ = [
    "FileOutboxHeadEnd",
    "HeadEnd",
    "policy_in_force",
    "prepaid_after_payment",
    "prepaid_check_balances",
    "prepaid_daily_charges",
    "remote_order_confirm",
    "remote_order_decide",
    "remote_order_send",
    "remote_orders_dispatch",
]

BATCH_ACCOUNTS = 2000
REPORT_ROWS = 100  # account numbers listed per reason in a run's summary
# How far back the previous reading is looked for when D−1 is missing (a gap in the AMI
# data): the charge on the next day with a reading then covers the whole gap, so no
# consumption is lost. Older gaps are left to the monthly settlement (reported as missing).
LOOKBACK_DAYS = 62
ENERGY_REGISTERS = (Register.TOTAL, *TOU_REGISTERS)
OPEN_STATUSES = (RemoteOrderStatus.PENDING, RemoteOrderStatus.SENT, RemoteOrderStatus.NEEDS_PERSON)
PERM_ACT = "billing.change_remoteorder"

logger = logging.getLogger(__name__)


# --- policy ------------------------------------------------------------------------------------


def policy_in_force(day: dt.date) -> BillingPolicy:
    """The ``BillingPolicy`` row in force on ``day`` (latest ``effective_from`` ≤ day)."""
    policy = billing_policy_at(day)
    if policy is None:
        raise ValidationFailed(
            gettext("No billing policy is in force on %(day)s.") % {"day": day}, field="day"
        )
    return policy


def _local_date(value: dt.datetime) -> dt.date:
    return timezone.localtime(value).date()


def _active_prepaid_q(prefix: str = "") -> Q:
    """The accounts that get reminders and remote disconnects: prepaid and active (not
    suspended or closed). The archive dates every mode switch, suspension and closure today
    or earlier (customers ``account_update``), so the flags say what holds now."""
    return Q(**{f"{prefix}is_prepaid": True, f"{prefix}status": AccountStatus.ACTIVE})


def _not_active_prepaid(account: Account) -> str:
    """Why a disconnect for a prepaid balance no longer applies to ``account`` (the audit
    reason of its cancellation); "" while the account is active and prepaid."""
    if account.status == AccountStatus.CLOSED:
        return gettext(
            "The account was closed (销户) on %(day)s: a prepaid disconnection no longer applies."
        ) % {"day": account.closed_on}
    if account.status == AccountStatus.SUSPENDED:
        return gettext(
            "The account is suspended (暂停; last day of supply %(day)s): a prepaid disconnection "
            "no longer applies."
        ) % {"day": account.suspended_on}
    if not account.is_prepaid:
        if account.billing_mode_since is None:
            return gettext("The account is postpaid: a prepaid disconnection no longer applies.")
        return gettext(
            "The account is postpaid since %(day)s: a prepaid disconnection no longer applies."
        ) % {"day": account.billing_mode_since}
    return ""


def _cancel_if_not_prepaid(order: RemoteOrder, actor: Any) -> bool:
    """Cancel a disconnect order (locked by the caller) of an account that is no longer an
    active prepaid one, audited with the reason why; whether it was cancelled."""
    reason = _not_active_prepaid(order.account)
    if reason:
        cancelled = RemoteOrderStatus.CANCELLED
        _set_status(order, status=cancelled, actor=actor, action="remote_order_cancel", reason=reason)
    return bool(reason)


# --- 1. the daily charge -----------------------------------------------------------------------


@dataclass
class _Meter:
    account_id: int
    meter_id: int
    digits: int
    multiplier_centi: int
    installed_on: dt.date
    initial: dict[str, Any]
    tariff_code: str
    first_day: dt.date  # the account's first prepaid day with supply: no reading before it counts
    final: dict[str, Any] | None = None  # a meter removed during the day (or before it): its final readings
    # A meter removed before the day (换表 on an earlier day of the look-back): the last day it
    # measured. Its part counts when the charge's days reach back to that day.
    last_on: dt.date | None = None


def _to_wh(value: Any) -> int:
    """A register value in kWh (Decimal, 3 places) or its text → integer Wh."""
    return int(Decimal(str(value)) * 1000)


def _register_values(meter_ids: list[int], days: Iterable[dt.date] | tuple[dt.date, dt.date]) -> pl.DataFrame:
    """Readings of the energy registers of ``meter_ids`` on ``days`` (a list) or within a
    ``(first, last)`` span (a tuple); any quality counts (estimated readings too)."""
    qs = Reading.objects.filter(meter_id__in=meter_ids, register__in=[r.value for r in ENERGY_REGISTERS])
    qs = qs.filter(day__range=days) if isinstance(days, tuple) else qs.filter(day__in=list(days))
    rows = list(qs.values_list("meter_id", "register", "day", "value"))
    return pl.DataFrame(
        {
            "meter_id": [r[0] for r in rows],
            "register": [r[1] for r in rows],
            "day": [r[2] for r in rows],
            "wh": [_to_wh(r[3]) for r in rows],
        },
        schema={"meter_id": pl.Int64, "register": pl.String, "day": pl.Date, "wh": pl.Int64},
    )


def usage_wh_expr() -> pl.Expr:
    """Energy used between two register values (columns ``prev_wh`` → ``wh``, in Wh): a value
    that went down rolled over at ``rollover_wh`` (10^digits kWh); × the multiplier
    ``mult_centi`` (hundredths), half-up to the Wh."""
    raw = (
        pl.when(pl.col("wh") >= pl.col("prev_wh"))
        .then(pl.col("wh") - pl.col("prev_wh"))
        .otherwise(pl.col("wh") + pl.col("rollover_wh") - pl.col("prev_wh"))
    )
    return ((raw * pl.col("mult_centi") + 50) // 100).alias("used_wh")


_SLOT_SCHEMA: dict[str, Any] = {
    "slot": pl.Int64,
    "meter_id": pl.Int64,
    "account_id": pl.Int64,
    "installed_on": pl.Date,
    "last_on": pl.Date,
    "lo": pl.Date,
    "hi": pl.Date,
    "resume": pl.Boolean,
    "has_initial": pl.Boolean,
    "rollover_wh": pl.Int64,
    "mult_centi": pl.Int64,
}
_VALUES_SCHEMA: dict[str, Any] = {"slot": pl.Int64, "register": pl.String, "wh": pl.Int64}


def _energy_values(values: dict[str, Any] | None) -> list[tuple[str, int]]:
    """(register, Wh) of the energy registers in an installation's initial or final readings."""
    return [
        (str(register), _to_wh(value))
        for register, value in (values or {}).items()
        if register in ENERGY_REGISTERS and value not in (None, "")
    ]


def _consumption(
    meters: list[_Meter], day: dt.date, last_charged: dict[int, dt.date] | None = None
) -> tuple[pl.DataFrame, list[int]]:
    """Per account: ``account_id, from_day, <register>_wh``: the Wh used on ``day`` (and on
    the days of a gap before it), rollover by digit count, × multiplier; and the accounts
    without a reading to charge from (missing).

    A daily frozen reading dated D is frozen at 00:00 of D (as metering, billing and line
    loss date them), so the use of ``day`` is reading(day + 1) − reading(day). When
    reading(day) is missing, the previous reading (look-back, or the initial readings of a
    meter installed since) is taken and the charge covers every day from that reading's day
    (``from_day``) to ``day``. No reading before the account's first prepaid day with
    supply (``first_day``) is taken: the days before it were billed monthly (or had no
    supply).

    An account whose last charge (``last_charged``, within the look-back) is for a day
    before ``day − 1`` — a night the daily run was missed — resumes from the reading at the
    end of that charged day (the first reading from the day after it; a meter installed
    since, from its initial readings): the charge covers the skipped days too, as after a
    gap in the readings.

    Each installation of the account is one part (a *slot*: the same meter may be in two
    accounts' look-back), from its start value to its closing value — reading(day + 1), or
    the final readings of a meter removed during the day. A meter removed on an earlier day
    (``last_on``, 换表 before ``day``) adds its part — from its reading at the start of the
    charge to its final readings — when the charge's days reach back to its last day: an
    exchange day left uncharged (the new meter's reading missing, or the night not run) is
    charged with the next day, both meters' parts, exactly once. An account is charged only
    when every part it needs has its total register at both ends."""
    opening, closing = reading_days(day, day)
    last_charged = last_charged or {}
    first_day = {m.account_id: m.first_day for m in meters}
    resume = {
        a: max(first_day[a], last + dt.timedelta(days=1))
        for a, last in last_charged.items()
        if a in first_day and last + dt.timedelta(days=1) < opening
    }
    slots = pl.DataFrame(
        [
            (
                i,
                m.meter_id,
                m.account_id,
                m.installed_on,
                m.last_on,
                resume.get(m.account_id, m.first_day),  # the earliest reading that may start it
                opening if m.last_on is None else m.last_on,  # the latest one
                m.account_id in resume,
                Register.TOTAL.value in dict(_energy_values(m.initial)),
                10**m.digits * 1000,
                m.multiplier_centi,
            )
            for i, m in enumerate(meters)
        ],
        schema=_SLOT_SCHEMA,
        orient="row",
    )
    current = slots.filter(pl.col("last_on").is_null())
    frame = _register_values(current["meter_id"].unique().to_list(), [opening, closing])
    # Accounts with a current meter without its reading of the day, or resuming after a
    # missed night, look back (their meters removed before the day too); the others start
    # at reading(day) and cannot reach back to an earlier exchange.
    at_opening = frame.filter((pl.col("day") == opening) & (pl.col("register") == Register.TOTAL))
    lacking = current.join(at_opening.select("meter_id"), on="meter_id", how="anti")
    gap_accounts = set(lacking["account_id"].to_list()) | set(resume)
    slots = slots.filter(pl.col("last_on").is_null() | pl.col("account_id").is_in(list(gap_accounts)))
    back = slots.filter(pl.col("account_id").is_in(list(gap_accounts)))
    if back.height:
        older = _register_values(
            back["meter_id"].unique().to_list(),
            (opening - dt.timedelta(days=LOOKBACK_DAYS), opening - dt.timedelta(days=1)),
        )
        frame = pl.concat([frame, older])
    # Each slot's start: a reading within its window (the first one when resuming, else the
    # latest), or its initial readings — at once for a meter installed since the resumed
    # day, else only without a reading and when installed within the look-back.
    read_day = (
        frame.filter(pl.col("register") == Register.TOTAL)
        .join(slots.select("slot", "meter_id", "lo", "hi", "installed_on", "resume"), on="meter_id")
        .filter(
            (pl.col("day") >= pl.col("lo"))
            & (pl.col("day") <= pl.col("hi"))
            & (pl.col("day") >= pl.col("installed_on"))
        )
        .group_by("slot")
        .agg(
            pl.when(pl.col("resume").first())
            .then(pl.col("day").min())
            .otherwise(pl.col("day").max())
            .alias("read_day")
        )
    )
    earliest_initial = day - dt.timedelta(days=LOOKBACK_DAYS)
    starts = (
        slots.join(read_day, on="slot", how="left")
        .with_columns(
            initial=pl.col("has_initial")
            & (
                (pl.col("resume") & (pl.col("installed_on") >= pl.col("lo")))
                | (
                    pl.col("read_day").is_null()
                    & (pl.col("installed_on") >= pl.max_horizontal(pl.col("lo"), pl.lit(earliest_initial)))
                )
            )
        )
        .with_columns(
            from_day=pl.when(pl.col("initial")).then(pl.col("installed_on")).otherwise(pl.col("read_day"))
        )
    )
    # The charge's first day: the resumed day, or the earliest start of the meters in place
    # on the day. A meter removed before the day counts when that first day is on or before
    # its last day (the exchange day is in the charge).
    resumed = pl.DataFrame(
        {"account_id": list(resume), "resume_day": list(resume.values())},
        schema={"account_id": pl.Int64, "resume_day": pl.Date},
    )
    span = (
        starts.filter(pl.col("last_on").is_null())
        .group_by("account_id")
        .agg(pl.col("from_day").min())
        .join(resumed, on="account_id", how="left")
        .select("account_id", span_day=pl.coalesce("resume_day", "from_day"))
    )
    starts = starts.join(span, on="account_id", how="left").filter(
        pl.col("last_on").is_null() | (pl.col("span_day") <= pl.col("last_on"))
    )
    needed = starts.select("slot", "account_id")
    started = starts.filter(pl.col("from_day").is_not_null())
    from_reading = (
        started.filter(~pl.col("initial"))
        .select("slot", "meter_id", "from_day")
        .join(frame, left_on=["meter_id", "from_day"], right_on=["meter_id", "day"])
        .select("slot", "register", "wh")
    )
    initial_slots = set(started.filter(pl.col("initial"))["slot"].to_list())
    from_initial = pl.DataFrame(
        [(i, r, wh) for i in sorted(initial_slots) for r, wh in _energy_values(meters[i].initial)],
        schema=_VALUES_SCHEMA,
        orient="row",
    )
    prev = pl.concat([from_reading, from_initial]).join(started.select("slot", "from_day"), on="slot")
    # The closing values: reading(day + 1), or the final readings of a meter removed during
    # the day or before it (a meter exchange: the account's charge sums both meters' parts).
    needed_slots = set(needed["slot"].to_list())
    removed = {i for i in needed_slots if meters[i].final is not None}
    cur = pl.concat(
        [
            slots.filter(pl.col("last_on").is_null() & ~pl.col("slot").is_in(list(removed)))
            .select("slot", "meter_id")
            .join(frame.filter(pl.col("day") == closing), on="meter_id")
            .select("slot", "register", "wh"),
            pl.DataFrame(
                [(i, r, wh) for i in sorted(removed) for r, wh in _energy_values(meters[i].final)],
                schema=_VALUES_SCHEMA,
                orient="row",
            ),
        ]
    )
    used = (
        cur.join(prev.rename({"wh": "prev_wh"}), on=["slot", "register"], how="inner")
        .join(slots.select("slot", "account_id", "rollover_wh", "mult_centi"), on="slot")
        .with_columns(used_wh=usage_wh_expr())
    )
    # An account is charged only when each of the parts it needs has its total.
    complete = (
        used.filter(pl.col("register") == Register.TOTAL)
        .group_by("account_id")
        .agg(pl.len().alias("with_total"))
        .join(needed.group_by("account_id").agg(pl.len().alias("parts")), on="account_id")
        .filter(pl.col("with_total") == pl.col("parts"))
        .select("account_id")
    )
    summed = (
        used.join(complete, on="account_id")
        .with_columns(pl.col("from_day").min().over("account_id"))
        .group_by("account_id", "from_day", "register")
        .agg(pl.col("used_wh").sum())
    )
    wide = summed.pivot(on="register", index=["account_id", "from_day"], values="used_wh")
    for register in ENERGY_REGISTERS:
        if register.value not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Int64).alias(register.value))
    wide = wide.filter(pl.col(Register.TOTAL.value).is_not_null())
    charged = set(wide["account_id"].to_list())
    missing = sorted({m.account_id for m in meters} - charged)
    return wide, missing


def _tier_basis(codes: set[str], day: dt.date) -> dict[str, str]:
    """``tier_basis`` of each tariff's version in force on ``day`` ("annual", "monthly" or "")."""
    out: dict[str, str] = {}
    versions = (
        TariffVersion.objects.filter(tariff__code__in=codes, effective_from__lte=day)
        .order_by("tariff__code", "effective_from")
        .values_list("tariff__code", "params")
    )
    for code, params in versions:  # ordered: the last one per code wins
        out[code] = str((params or {}).get("tier_basis") or "")
    return out


def _rate(periods: pl.DataFrame) -> Any:
    """The rating engine on ``periods`` (contract: gridcare/billing/engine/__init__.py)."""
    from gridcare.billing.engine.rating import rate
    from gridcare.billing.services.catalogue import catalogue_load

    return rate(periods, catalogue_load())


def _periods(
    usage: pl.DataFrame,
    *,
    day: dt.date,
    tariffs: dict[int, str],
    basis: dict[str, str],
    ytd_wh: dict[int, int],
    mtd_wh: dict[int, int],
    mtd_fen: dict[int, int],
    earlier_months: dict[int, tuple[int, int]],
    first_days: dict[int, dt.date],
    begun_earlier: dict[int, _GapCharge] | None = None,
) -> pl.DataFrame:
    """The rating periods of each account, with ``minus_fen``: what the account's charge
    subtracts from that period's rating.

    - annual tiers (and tariffs without tiers): one period, the days the charge covers
      (``from_day`` … day), ``ytd_wh_before`` = the year's earlier daily charges and bills
      (``_year_and_month_so_far``), so the tier crossing lands on the day it happens; a gap
      over 1 January gets the old year's position (``_ytd_across_new_year``) and the engine
      splits it, the new year's days from 0;
    - monthly tiers: the month so far (1st … day) with the month-to-date energy including
      today, minus the month's earlier charges (the sum of a month's daily charges then
      equals the rating of the month's energy) — from the account's first prepaid day
      when it became prepaid within the month (the days before are on its monthly bill).
      A gap that began in an earlier month
      (``from_day`` before the 1st) has its energy spread evenly over its days, as VEE's
      estimates would, and each month's share is rated in its own month: the earlier month
      completed (its charges so far added, then subtracted: ``earlier_months``), any month
      in between whole, this month from the 1st — each from the account's first prepaid
      day when that falls within it. Later in that month (``begun_earlier``: the month's
      first charge covered days of earlier months), the month so far counts only that
      charge's share of this month, and its earlier months' rows are rated again and added,
      so what it subtracts is only what was charged for this month's days.
    """
    begun_earlier = begun_earlier or {}
    rows = []
    for rec in usage.iter_rows(named=True):
        account_id = rec["account_id"]
        month_start = max(day.replace(day=1), first_days[account_id])
        code = tariffs[account_id]
        monthly = basis.get(code) == "monthly"
        base = {
            "account_id": account_id,
            "tariff_code": code,
            "sharp_wh": None if monthly else rec["sharp"],
            "peak_wh": None if monthly else rec["peak"],
            "flat_wh": None if monthly else rec["flat"],
            "valley_wh": None if monthly else rec["valley"],
            "deep_valley_wh": None,
            "reactive_varh": None,
            "max_demand_w": None,
            "capacity_va": None,
            "basic_charge_by": None,
            "ytd_wh_before": ytd_wh.get(account_id, 0),
            "service_days": None,
        }
        if not monthly:
            start = rec["from_day"]
            rows.append(
                {**base, "period_start": start, "period_end": day, "total_wh": rec["total"], "minus_fen": 0}
            )
            continue
        if rec["from_day"] >= month_start:
            month_wh = rec["total"] + mtd_wh.get(account_id, 0)
            earlier: list[tuple[dt.date, dt.date, int, int]] = []
            if account_id in begun_earlier:
                gap = begun_earlier[account_id]
                *earlier, this_month = _month_rows(gap, first_day=first_days[account_id])
                month_wh -= gap.wh - this_month[2]
            rows.append(
                {
                    **base,
                    "period_start": month_start,
                    "period_end": day,
                    "total_wh": month_wh,
                    "minus_fen": mtd_fen.get(account_id, 0),
                }
            )
            rows += [
                {**base, "period_start": a, "period_end": b, "total_wh": wh, "minus_fen": fen}
                for a, b, wh, fen in earlier
            ]
            continue
        gap = _GapCharge(rec["from_day"], day, rec["total"], earlier_months.get(account_id, (0, 0)))
        rows += [
            {**base, "period_start": a, "period_end": b, "total_wh": wh, "minus_fen": fen}
            for a, b, wh, fen in _month_rows(gap, first_day=first_days[account_id])
        ]
    schema = {
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
        "minus_fen": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


@dataclass(frozen=True)
class _GapCharge:
    """A monthly-tier charge over the 1st: its Wh used over ``first`` … ``last``, and the Wh
    and fen charged in ``first``'s month before it (``before``)."""

    first: dt.date
    last: dt.date
    wh: int
    before: tuple[int, int]


def _month_rows(gap: _GapCharge, *, first_day: dt.date) -> list[tuple[dt.date, dt.date, int, int]]:
    """The rating periods of a monthly-tier charge over the 1st: (start, end, Wh, fen to
    subtract) per month of its days, its Wh spread evenly (``_month_shares``). The month it
    began is completed (its earlier charges' Wh added, their fen subtracted); each month
    from the account's first prepaid day (``first_day``) when that falls within it."""
    before_wh, before_fen = gap.before
    out = []
    for start, end, share in _month_shares(gap.first, gap.last, gap.wh):
        opening = start == gap.first
        out.append(
            (
                max(start.replace(day=1), first_day),
                end,
                share + (before_wh if opening else 0),
                before_fen if opening else 0,
            )
        )
    return out


def _month_shares(first: dt.date, last: dt.date, wh: int) -> list[tuple[dt.date, dt.date, int]]:
    """``wh`` used evenly over the days ``first`` … ``last``, cut at month ends: (first day,
    last day, Wh) per month, by cumulative floor so that the shares add up to ``wh``."""
    days = (last - first).days + 1
    out = []
    start, done, taken = first, 0, 0
    while start <= last:
        end = min(last, month_bounds(start)[1])
        done += (end - start).days + 1
        share = wh * done // days - taken
        out.append((start, end, share))
        taken += share
        start = end + dt.timedelta(days=1)
    return out


def _charges_where_the_gap_began(
    usage: pl.DataFrame, day: dt.date, *, by_year: bool
) -> dict[int, tuple[int, int]]:
    """Accounts whose charge starts before ``day``'s year (``by_year``) or month — readings
    missing over its 1st: the Wh and fen they were charged in the year (month) their gap
    began, before the gap. A rare, small query per such year (month)."""
    period_start = day.replace(month=1, day=1) if by_year else day.replace(day=1)
    starts = usage.select("account_id", "from_day").filter(pl.col("from_day") < period_start)
    out: dict[int, tuple[int, int]] = {}
    for (first_of,), group in starts.group_by(pl.col("from_day").dt.truncate("1y" if by_year else "1mo")):
        after = (
            dt.date(first_of.year + 1, 1, 1) if by_year else month_bounds(first_of)[1] + dt.timedelta(days=1)
        )
        first = dict(zip(group["account_id"].to_list(), group["from_day"].to_list(), strict=True))
        rows = PrepaidCharge.objects.filter(
            account_id__in=list(first), day__gte=first_of, day__lt=after
        ).values_list("account_id", "day", "days", "kwh", "amount")
        for account_id in first:
            out[account_id] = (0, 0)
        for account_id, charged_day, days, kwh, amount in rows:
            if charged_day < first[account_id]:
                wh, fen = out[account_id]
                used = _to_wh(kwh)
                if by_year:  # a charge of that year over its own 1 January: that year's share
                    used -= _share_before(first_of, charged_day=charged_day, days=days, wh=used)
                out[account_id] = (wh + used, fen + int(Decimal(amount) * 100))
    return out


def _share_before(boundary: dt.date, *, charged_day: dt.date, days: int, wh: int) -> int:
    """The Wh of a charge (``days`` days up to ``charged_day``, ``wh`` in all) used before
    ``boundary`` (a 1 January): the engine's split of a period by days (cumulative floor)."""
    before = (boundary - (charged_day - dt.timedelta(days=days - 1))).days
    return wh * before // days if before > 0 else 0


def _earlier_month_charges(usage: pl.DataFrame, day: dt.date) -> dict[int, tuple[int, int]]:
    """Accounts whose charge starts in an earlier month (a gap over the 1st): the Wh and fen
    charged in the month their gap began (all before the gap)."""
    return _charges_where_the_gap_began(usage, day, by_year=False)


def _month_begun_earlier(account_ids: list[int], day: dt.date) -> dict[int, _GapCharge]:
    """Accounts whose charges of this month before ``day`` include one that began in an
    earlier month (a gap over the 1st caught up): that charge, as it was rated. Few rows
    (charges of more than one day); the earlier month's charges before it are one small
    query per such month."""
    if not account_ids:
        return {}
    wanted = set(account_ids)
    month = day.replace(day=1)
    rows = PrepaidCharge.objects.filter(
        account_id__gte=account_ids[0],
        account_id__lte=account_ids[-1],
        day__gte=month,
        day__lt=day,
        days__gt=1,
    ).values_list("account_id", "day", "days", "kwh")
    found = {
        a: (charged_day - dt.timedelta(days=days - 1), charged_day, _to_wh(kwh))
        for a, charged_day, days, kwh in rows
        if a in wanted and charged_day - dt.timedelta(days=days - 1) < month
    }
    if not found:
        return {}
    starts = pl.DataFrame(
        {"account_id": list(found), "from_day": [first for first, _, _ in found.values()]},
        schema={"account_id": pl.Int64, "from_day": pl.Date},
    )
    before = _charges_where_the_gap_began(starts, day, by_year=False)
    return {a: _GapCharge(first, last, wh, before[a]) for a, (first, last, wh) in found.items()}


def _ytd_across_new_year(usage: pl.DataFrame, day: dt.date) -> dict[int, int]:
    """Accounts whose charge starts in an earlier year (readings missing over 1 January, or
    nights not run): the engine wants ``ytd_wh_before`` of the period's *first* year — that
    year's position before the gap: its daily charges before the gap and its bills of
    postpaid days before it (an account that became prepaid during that year), as
    :func:`_year_and_month_so_far` counts a year. The engine starts the new year from 0."""
    out = {a: wh for a, (wh, _fen) in _charges_where_the_gap_began(usage, day, by_year=True).items()}
    starts = usage.select("account_id", "from_day").filter(pl.col("from_day") < day.replace(month=1, day=1))
    for (from_day,), group in starts.group_by("from_day"):  # a rare, small query per gap start
        bills = {
            "account_id__in": group["account_id"].to_list(),
            "period__gte": from_day.replace(month=1, day=1),
            "period_end__lt": from_day,
        }
        for account_id, wh in _billed_wh(bills):
            out[account_id] += wh
    return out


def _billed_wh(bills: dict[str, Any]) -> list[tuple[int, int]]:
    """(account, Wh) settled by the bills matching the ``Bill`` lookups ``bills`` (void bills
    left out), then by their approved corrections of the consumption: the energy of the
    postpaid days in an annual tier position. Two grouped queries."""
    billed = (
        Bill.objects.filter(**bills)
        .exclude(status=BillStatus.VOID)
        .values("account_id")
        .annotate(kwh=Sum("kwh"))
        .values_list("account_id", "kwh")
    )
    corrected = (
        BillAdjustment.objects.filter(
            status=DocumentStatus.APPROVED,
            corrects_consumption=True,
            **{f"bill__{k}": v for k, v in bills.items()},
        )
        .exclude(bill__status=BillStatus.VOID)
        .values("bill__account_id")
        .annotate(kwh=Sum("kwh"))
        .values_list("bill__account_id", "kwh")
    )
    return [(a, _to_wh(kwh)) for a, kwh in [*billed, *corrected] if kwh is not None]


def _year_and_month_so_far(
    account_ids: list[int], day: dt.date
) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """This year's and this month's earlier charges per account, before ``day``: year Wh,
    month Wh, month fen — one query over the batch's id range (sorted ids, so no long
    ``IN`` list), keeping only the batch's accounts. The year's Wh also counts this year's
    bills of days before ``day`` (with their approved corrections of the consumption): an
    account that became prepaid this year keeps its position in the annual tiers.

    A charge of this year that covers days of the last year too (a gap over 1 January)
    counts only its share of this year's days — the share the engine rated from 0 — so the
    year's position is this year's energy alone."""
    wanted = set(account_ids)
    month = day.replace(day=1)
    year = day.replace(month=1, day=1)
    in_batch = {"account_id__gte": account_ids[0], "account_id__lte": account_ids[-1]}
    rows = (
        PrepaidCharge.objects.filter(**in_batch, day__gte=year, day__lt=day)
        .values("account_id")
        .annotate(
            year_kwh=Sum("kwh"),
            month_kwh=Sum("kwh", filter=Q(day__gte=month)),
            month_amount=Sum("amount", filter=Q(day__gte=month)),
        )
        .values_list("account_id", "year_kwh", "month_kwh", "month_amount")
    )
    ytd: dict[int, int] = {}
    mtd_wh: dict[int, int] = {}
    mtd_fen: dict[int, int] = {}
    for account_id, year_kwh, month_kwh, month_amount in rows:
        if account_id not in wanted:
            continue
        ytd[account_id] = _to_wh(year_kwh)
        if month_kwh is not None:
            mtd_wh[account_id] = _to_wh(month_kwh)
            mtd_fen[account_id] = int(Decimal(month_amount) * 100)
    # A charge covers at most LOOKBACK_DAYS + 1 days: only the first weeks of the year can
    # hold one that began the year before (few rows: charges of more than one day).
    spanning = PrepaidCharge.objects.filter(
        **in_batch,
        day__gte=year,
        day__lt=min(day, year + dt.timedelta(days=LOOKBACK_DAYS + 1)),
        days__gt=1,
    ).values_list("account_id", "day", "days", "kwh")
    for account_id, charged_day, days, kwh in spanning:
        if account_id in wanted:
            ytd[account_id] -= _share_before(year, charged_day=charged_day, days=days, wh=_to_wh(kwh))
    # Each day is settled by one path: the days billed monthly before the switch.
    for account_id, wh in _billed_wh({**in_batch, "period__gte": year, "period_end__lt": day}):
        if account_id in wanted:
            ytd[account_id] = ytd.get(account_id, 0) + wh
    return ytd, mtd_wh, mtd_fen


def prepaid_daily_charges(*, day: dt.date, actor: Any) -> dict[str, Any]:
    """费控日结 for ``day``: charge every account prepaid and supplied on ``day``
    (``prepaid_days_q``) with a meter installed during it (both meters on the day of an
    exchange: the old one's part ends at its final readings).

    The charge is the energy used on ``day``: reading(day + 1) − reading(day) (see
    ``_consumption``), so ``day`` can be charged once the next day's 00:00 reading is in —
    from the next day on.

    Returns counters and the account numbers not charged, by reason: ``missing`` (no reading
    of the next day, or none on or before the day within the look-back), ``not_rated`` (the
    engine's ``reason``, and ``reason_label``: the same in the current language) — the
    first 100 of each, with ``missing_count`` / ``not_rated_count`` —
    and ``already`` (the day or a later day is charged already: re-runs are no-ops)."""
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise ValidationFailed(gettext("Give the day as a date."), field="day")
    if day >= timezone.localdate():
        raise ValidationFailed(
            gettext("The day is not over yet: its charge needs the next day's 00:00 frozen reading."),
            field="day",
        )
    start_of_day = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    end_of_day = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    columns = (
        "account_id",
        "meter_id",
        "meter__digits",
        "meter__multiplier",
        "installed_at",
        "initial_readings",
        "account__tariff_code",
        "account__opened_on",
        "account__is_prepaid",
        "account__billing_mode_since",
        "removed_at",
        "final_readings",
    )
    prepaid_on_day = Installation.objects.filter(prepaid_days_q(day, prefix="account__"))
    in_place = prepaid_on_day.filter(
        Q(removed_at__isnull=True) | Q(removed_at__gt=start_of_day), installed_at__lt=end_of_day
    )
    # Meters removed on an earlier day of the look-back (换表): a charge that reaches back to
    # that day adds the old meter's part (``_consumption``). Few rows: the exchanges of 62 days.
    removed_before = prepaid_on_day.filter(
        removed_at__gte=timezone.make_aware(
            dt.datetime.combine(day - dt.timedelta(days=LOOKBACK_DAYS), dt.time.min)
        ),
        removed_at__lte=start_of_day,
    )

    def as_meter(row: tuple[Any, ...]) -> _Meter:
        a, m, d, mult, at, init, code, opened, prepaid, since, removed, final = row
        earlier = removed is not None and removed <= start_of_day
        return _Meter(
            a,
            m,
            int(d),
            int(Decimal(mult) * 100),
            _local_date(at),
            init or {},
            code or "",
            max(opened, since) if prepaid and since else opened,
            # A meter exchanged (or removed) during the day or before: its part ends at its
            # final readings.
            (final or {}) if removed is not None and removed < end_of_day else None,
            # The last day it measured (removed at 00:00: the day before).
            _local_date(removed - dt.timedelta(microseconds=1)) if earlier else None,
        )

    meters = [as_meter(row) for row in in_place.values_list(*columns)]
    with_meter = {m.account_id for m in meters}
    meters += [m for m in map(as_meter, removed_before.values_list(*columns)) if m.account_id in with_meter]
    meters.sort(key=lambda m: (m.account_id, m.last_on is not None))
    # Batches of whole accounts (an account has two meters on the day of an exchange, or one
    # removed earlier in the look-back).
    batches: list[list[_Meter]] = []
    for meter in meters:
        if not batches or (
            len(batches[-1]) >= BATCH_ACCOUNTS and batches[-1][-1].account_id != meter.account_id
        ):
            batches.append([])
        batches[-1].append(meter)
    summary: dict[str, Any] = {
        "day": day.isoformat(),
        "accounts": len({m.account_id for m in meters}),
        "charged": 0,
        "kwh": Decimal("0.000"),
        "amount": Decimal("0.00"),
        "already": 0,
        "missing": [],
        "not_rated": [],
    }
    basis = _tier_basis({m.tariff_code for m in meters}, day)
    for batch in batches:
        _charge_batch(batch, day=day, basis=basis, actor=actor, summary=summary)
    # Counts of all, account numbers of the first REPORT_ROWS (an AMI outage can leave a
    # whole county without readings: the summary stays one readable line).
    summary["missing_count"] = len(summary["missing"])
    summary["not_rated_count"] = len(summary["not_rated"])
    missing = summary["missing"][:REPORT_ROWS]
    not_rated = summary["not_rated"][:REPORT_ROWS]
    numbers = dict(
        Account.objects.filter(pk__in=[*missing, *(a for a, _ in not_rated)]).values_list("pk", "number")
    )
    summary["missing"] = [numbers[a] for a in missing]
    # The engine's reason as it said it (English, stable: match on this) and as a clerk
    # reads it (the current language: the worker's and the command's is LANGUAGE_CODE).
    summary["not_rated"] = [
        {"account": numbers[a], "reason": r, "reason_label": engine_reason_text(r)} for a, r in not_rated
    ]
    summary["kwh"] = str(summary["kwh"])
    summary["amount"] = str(summary["amount"])
    return summary


def _lock_balances(account_ids: list[int]) -> dict[int, Decimal]:
    """Lock the balance rows of ``account_ids`` (in id order, so two runs never deadlock)."""
    return dict(
        AccountBalance.objects.select_for_update()
        .filter(account_id__in=account_ids)
        .order_by("account_id")
        .values_list("account_id", "amount")
    )


def _charge_batch(
    meters: list[_Meter], *, day: dt.date, basis: dict[str, str], actor: Any, summary: dict[str, Any]
) -> None:
    """One transaction: lock the batch's balances, skip accounts charged for ``day`` or a
    later day, rate the rest, insert their charges and update their balances."""
    now = timezone.now()
    ids = sorted({m.account_id for m in meters})
    with transaction.atomic():
        balances = _lock_balances(ids)
        missing_rows = [a for a in ids if a not in balances]
        if missing_rows:  # a prepaid account's first charge: its balance starts at 0
            AccountBalance.objects.bulk_create(
                [AccountBalance(account_id=a) for a in missing_rows], ignore_conflicts=True
            )
            balances.update(_lock_balances(missing_rows))
        wanted = set(ids)
        done = {
            a
            for a in PrepaidCharge.objects.filter(
                account_id__gte=ids[0], account_id__lte=ids[-1], day__gte=day
            ).values_list("account_id", flat=True)
            if a in wanted
        }
        summary["already"] += len(done)
        todo = [m for m in meters if m.account_id not in done]
        if not todo:
            return
        # Each account's last charge within the look-back: a skipped day is charged with
        # this one (the charge resumes from the end of the last charged day).
        last_charged = {
            a: last
            for a, last in PrepaidCharge.objects.filter(
                account_id__gte=ids[0],
                account_id__lte=ids[-1],
                day__gte=day - dt.timedelta(days=LOOKBACK_DAYS),
                day__lt=day,
            )
            .values("account_id")
            .annotate(last=Max("day"))
            .values_list("account_id", "last")
            if a in wanted
        }
        usage, missing = _consumption(todo, day, last_charged)
        summary["missing"].extend(missing)
        if usage.height == 0:
            return
        charged_ids = usage["account_id"].to_list()
        tariffs = {m.account_id: m.tariff_code for m in todo}
        ytd, mtd_wh, mtd_fen = _year_and_month_so_far(sorted(charged_ids), day)
        ytd.update(_ytd_across_new_year(usage, day))
        periods = _periods(
            usage,
            day=day,
            tariffs=tariffs,
            basis=basis,
            ytd_wh=ytd,
            mtd_wh=mtd_wh,
            mtd_fen=mtd_fen,
            earlier_months=_earlier_month_charges(usage, day),
            first_days={m.account_id: m.first_day for m in todo},
            begun_earlier=_month_begun_earlier(
                sorted(a for a in charged_ids if basis.get(tariffs[a]) == "monthly"), day
            ),
        )
        rating = _rate(periods.drop("minus_fen"))
        not_rated: dict[int, str] = {}
        for rec in rating.errors.iter_rows(named=True):
            not_rated.setdefault(rec["account_id"], rec["reason"])  # one reason per account
        summary["not_rated"].extend(not_rated.items())
        # An account's charge: its periods' ratings minus what each subtracts (an account
        # with a period the engine could not rate is not charged at all).
        minus = periods.with_row_index("row").select(pl.col("row").cast(pl.Int64), "minus_fen")
        totals = (
            rating.totals.select(pl.col("row").cast(pl.Int64), "account_id", "total_fen")
            .join(minus, on="row")
            .filter(~pl.col("account_id").is_in(list(not_rated)))
            .group_by("account_id")
            .agg((pl.col("total_fen") - pl.col("minus_fen")).sum().alias("fen"))
            .join(usage.select("account_id", "from_day", pl.col("total").alias("day_wh")), on="account_id")
            .sort("account_id")
        )
        out_rows = []
        for rec in totals.iter_rows(named=True):
            account_id = rec["account_id"]
            fen = int(rec["fen"])
            after_fen = int(balances[account_id] * 100) - fen
            days = (day - rec["from_day"]).days + 1
            out_rows.append((account_id, rec["day_wh"], fen, after_fen, days))
        if not out_rows:
            return
        frame = pl.DataFrame(
            out_rows,
            schema=dict.fromkeys(("account_id", "wh", "fen", "after", "days"), pl.Int64),
            orient="row",
        ).select(
            "account_id",
            pl.lit(day).alias("day"),
            "days",
            decimal_text("wh", scale=3, alias="kwh"),
            decimal_text("fen", scale=2, alias="amount"),
            decimal_text("after", scale=2, alias="balance_after"),
            pl.lit(db_datetime(now)).alias("created_at"),
        )
        inserted = insert_ignoring_conflicts(
            table=PrepaidCharge._meta.db_table, frame=frame, conflict_columns=["account_id", "day"]
        )
        if inserted != frame.height:  # cannot happen under the balance locks; never half-charge
            raise Conflict(
                gettext("Another run charged some of these accounts at the same time; run the day again.")
            )
        # Set-based: each locked balance becomes its new charge's balance_after (one UPDATE).
        charged = [r[0] for r in out_rows]
        AccountBalance.objects.filter(account_id__in=charged).update(
            amount=Subquery(
                PrepaidCharge.objects.filter(account_id=OuterRef("account_id"), day=day).values(
                    "balance_after"
                )[:1]
            ),
            updated_at=now,
        )
        kwh = sum((Decimal(w) / 1000 for _, w, _, _, _ in out_rows), Decimal("0.000"))
        amount = sum((Decimal(f) / 100 for _, _, f, _, _ in out_rows), Decimal("0.00"))
        # The charges are the per-account ledger of the balance; the audit trail gets one
        # event per batch (who ran which day, how many accounts, how much).
        user = actor if getattr(actor, "is_authenticated", False) else None
        AuditEvent.objects.create(
            at=now,
            actor=user,
            actor_label=actor_label(actor)[:150],
            object_type=PrepaidCharge._meta.label_lower,
            object_id=day.isoformat(),
            object_repr=f"prepaid daily charges {day.isoformat()}",
            action="prepaid_daily_charges",
            after={
                "day": day.isoformat(),
                "accounts": len(charged),
                "first_account_id": charged[0],
                "last_account_id": charged[-1],
                "kwh": str(kwh),
                "amount": str(amount),
            },
        )
        summary["charged"] += len(out_rows)
        summary["kwh"] += kwh
        summary["amount"] += amount


# --- 2. thresholds, notices and orders ---------------------------------------------------------


def _notice_text(
    level: str, *, number: str, balance: Decimal, policy: BillingPolicy, now: dt.datetime
) -> str:
    if level == PrepaidNoticeLevel.LOW:
        return gettext(
            "Account %(number)s: your prepaid electricity balance is %(balance)s yuan, below %(low)s yuan. "
            "Please top up."
        ) % {"number": number, "balance": balance, "low": policy.prepaid_low_balance}
    if level == PrepaidNoticeLevel.ZERO:
        return gettext(
            "Account %(number)s: your prepaid electricity balance is %(balance)s yuan (in arrears)."
        ) % {
            "number": number,
            "balance": balance,
        }
    cutoff = timezone.localtime(now + dt.timedelta(days=policy.prepaid_notice_days))
    return gettext(
        "Account %(number)s: unless the balance is topped up to zero or more, the supply will be "
        "remotely disconnected from %(when)s. Supply is restored within %(hours)s hours after payment."
    ) % {"number": number, "when": cutoff.strftime("%Y-%m-%d %H:%M"), "hours": policy.reconnect_hours}


def _send_notice(
    *, account: dict[str, Any], level: str, balance: Decimal, policy: BillingPolicy, now: dt.datetime
) -> PrepaidNotice:
    text = _notice_text(level, number=account["number"], balance=balance, policy=policy, now=now)
    sms_send(mobile=account["mobile"] or "", text=text, at=now, ref=f"prepaid:{account['number']}:{level}")
    return PrepaidNotice(
        account_id=account["id"],
        level=level,
        balance=balance,
        channels="sms,portal",
        message=text,
        sent_at=now,
    )


def _create_order(
    *,
    account: dict[str, Any],
    kind: str,
    status: str,
    reason: str,
    balance: Decimal,
    now: dt.datetime,
    due: Any,
    actor: Any,
) -> RemoteOrder:
    order = RemoteOrder.objects.create(
        account_id=account["id"],
        kind=kind,
        status=status,
        reason=reason[:300],
        balance=balance,
        created_at=now,
        due_at=due,
    )
    audit_record(
        actor=actor, obj=order, action=f"remote_order_create_{kind}", after=snapshot(order), reason=reason
    )
    return order


def _set_status(
    order: RemoteOrder, *, status: str, actor: Any, action: str, reason: str = "", **fields: Any
) -> None:
    before = snapshot(order)
    order.status = status
    for name, value in fields.items():
        setattr(order, name, value)
    order.save(update_fields=["status", *fields])
    audit_record(actor=actor, obj=order, action=action, before=before, after=snapshot(order), reason=reason)


def _last_day_started_at_or_above(
    level: Decimal, account_ids: list[int], notice: str, last_notice: dict[tuple[int, str], dt.datetime]
) -> dict[int, dt.date]:
    """Per account, the last day whose charge started with the balance at or above ``level``
    (balance after + amount), among charges since the oldest last ``notice`` of the accounts."""
    if not account_ids:
        return {}
    since = min(_local_date(last_notice[(a, notice)]) for a in account_ids)
    return dict(
        PrepaidCharge.objects.filter(account_id__in=account_ids, day__gte=since)
        .annotate(before=F("balance_after") + F("amount"))
        .filter(before__gte=level)
        .values("account_id")
        .annotate(d=Max("day"))
        .values_list("account_id", "d")
    )


def _check_accounts(
    ids: list[int], *, now: dt.datetime, policy: BillingPolicy, actor: Any, counts: dict[str, int]
) -> list[int]:
    """Decide and act for the accounts ``ids`` (one transaction; balances locked so a
    payment posting at the same time is seen before or after, never half). Returns the ids
    of the reconnect orders created (to send once this transaction commits)."""
    low = policy.prepaid_low_balance
    reconnect_ids: list[int] = []
    with transaction.atomic():
        balances = dict(
            AccountBalance.objects.select_for_update()
            .filter(account_id__in=ids)
            .order_by("account_id")
            .values_list("account_id", "amount")
        )
        accounts: dict[int, dict[str, Any]] = {
            pk: {"id": pk, "number": number, "importance": importance, "mobile": mobile}
            for pk, number, importance, mobile in Account.objects.filter(pk__in=ids).values_list(
                "id", "number", "importance", "customer__mobile"
            )
        }
        last_notice: dict[tuple[int, str], dt.datetime] = {
            (a, lvl): at
            for a, lvl, at in PrepaidNotice.objects.filter(account_id__in=ids)
            .values("account_id", "level")
            .annotate(at=Max("sent_at"))
            .values_list("account_id", "level", "at")
        }
        # The last day whose charge started at or above a threshold (a later crossing re-arms
        # the reminder), looked up only for accounts below it that were reminded before, and
        # only in the charges since the oldest of those reminders.
        armed_low_day = _last_day_started_at_or_above(
            low,
            [a for a in ids if 0 <= balances.get(a, 0) < low and (a, PrepaidNoticeLevel.LOW) in last_notice],
            PrepaidNoticeLevel.LOW,
            last_notice,
        )
        armed_zero_day = _last_day_started_at_or_above(
            Decimal("0"),
            [a for a in ids if balances.get(a, 0) < 0 and (a, PrepaidNoticeLevel.ZERO) in last_notice],
            PrepaidNoticeLevel.ZERO,
            last_notice,
        )
        orders: dict[int, list[RemoteOrder]] = {}
        for order in RemoteOrder.objects.select_for_update().filter(account_id__in=ids).order_by("id"):
            orders.setdefault(order.account_id, []).append(order)
        notices: list[PrepaidNotice] = []

        def armed(account_id: int, level: str, day_map: dict[int, dt.date]) -> bool:
            last = last_notice.get((account_id, level))
            if last is None:
                return True
            crossed = day_map.get(account_id)
            return crossed is not None and crossed >= _local_date(last)

        for account_id in ids:
            acct = accounts[account_id]
            balance = balances.get(account_id, Decimal("0.00"))
            mine = orders.get(account_id, [])
            disconnects = [o for o in mine if o.kind == RemoteOrderKind.DISCONNECT]
            reconnects = [o for o in mine if o.kind == RemoteOrderKind.RECONNECT]
            if balance < 0:
                last_zero = last_notice.get((account_id, PrepaidNoticeLevel.ZERO))
                # Back at or above zero since the last ZERO notice is also shown by the orders
                # it led to: a reconnect, or a disconnect cancelled for the balance (not by a
                # person) — e.g. a payment reversed afterwards starts a new cycle.
                recovered = last_zero is not None and any(
                    o.created_at >= last_zero
                    and (
                        o.kind == RemoteOrderKind.RECONNECT
                        or (o.status == RemoteOrderStatus.CANCELLED and not o.decided_by)
                    )
                    for o in mine
                )
                if recovered or armed(account_id, PrepaidNoticeLevel.ZERO, armed_zero_day):
                    for level in (PrepaidNoticeLevel.ZERO, PrepaidNoticeLevel.DISCONNECT_NOTICE):
                        notices.append(
                            _send_notice(account=acct, level=level, balance=balance, policy=policy, now=now)
                        )
                    counts["notices_zero"] += 1
                    continue
                last_dn = last_notice.get((account_id, PrepaidNoticeLevel.DISCONNECT_NOTICE))
                if last_dn is None or now < last_dn + dt.timedelta(days=policy.prepaid_notice_days):
                    continue
                if any(o.created_at >= last_dn for o in disconnects) or any(
                    o.status in OPEN_STATUSES for o in disconnects
                ):
                    continue  # this notice already led to an order (or a person declined it)
                important = bool(acct["importance"])
                reason = gettext(
                    "Balance %(balance)s yuan still below zero %(days)s days after the "
                    "disconnection notice of %(at)s."
                ) % {
                    "balance": balance,
                    "days": policy.prepaid_notice_days,
                    "at": timezone.localtime(last_dn).strftime("%Y-%m-%d %H:%M"),
                }
                if important:
                    reason += " " + gettext(
                        "Important customer (重要用户): never disconnected automatically; a person decides."
                    )
                _create_order(
                    account=acct,
                    kind=RemoteOrderKind.DISCONNECT,
                    status=RemoteOrderStatus.NEEDS_PERSON if important else RemoteOrderStatus.PENDING,
                    reason=reason,
                    balance=balance,
                    now=now,
                    due=None if important else now,
                    actor=actor,
                )
                counts["disconnect_needs_person" if important else "disconnect_orders"] += 1
                continue
            # balance ≥ 0: take back what the arrears started
            for order in disconnects:
                if order.status in (RemoteOrderStatus.PENDING, RemoteOrderStatus.NEEDS_PERSON):
                    _set_status(
                        order,
                        status=RemoteOrderStatus.CANCELLED,
                        actor=actor,
                        action="remote_order_cancel",
                        reason=gettext("Balance back to %(balance)s yuan.") % {"balance": balance},
                    )
                    counts["disconnect_cancelled"] += 1
            executed = [
                o for o in disconnects if o.status in (RemoteOrderStatus.SENT, RemoteOrderStatus.DONE)
            ]
            if executed:
                latest = executed[-1]
                if not any(o.pk > latest.pk and o.status != RemoteOrderStatus.CANCELLED for o in reconnects):
                    reconnect = _create_order(
                        account=acct,
                        kind=RemoteOrderKind.RECONNECT,
                        status=RemoteOrderStatus.PENDING,
                        reason=gettext("Balance back to %(balance)s yuan; reconnect within %(hours)s hours.")
                        % {"balance": balance, "hours": policy.reconnect_hours},
                        balance=balance,
                        now=now,
                        due=now + dt.timedelta(hours=policy.reconnect_hours),
                        actor=actor,
                    )
                    reconnect_ids.append(reconnect.pk)
                    counts["reconnect_orders"] += 1
            if balance < low and armed(account_id, PrepaidNoticeLevel.LOW, armed_low_day):
                notices.append(
                    _send_notice(
                        account=acct, level=PrepaidNoticeLevel.LOW, balance=balance, policy=policy, now=now
                    )
                )
                counts["notices_low"] += 1
        if notices:
            PrepaidNotice.objects.bulk_create(notices, batch_size=1000)
    return reconnect_ids


def _new_counts() -> dict[str, int]:
    return dict.fromkeys(
        (
            "accounts",
            "notices_low",
            "notices_zero",
            "disconnect_orders",
            "disconnect_needs_person",
            "disconnect_cancelled",
            "reconnect_orders",
            "reconnect_sent",
            "reconnect_send_failed",
            "bills_paid",
        ),
        0,
    )


def _send_reconnects(order_ids: list[int], *, actor: Any, counts: dict[str, int]) -> None:
    """Send the reconnect orders ``order_ids`` just created, each through the path "send"
    takes (:func:`_order_send`: the same checks and audit rows). The customer is promised
    supply within ``reconnect_hours`` of paying, so a reconnect does not wait for the next
    dispatch. A send that fails (head-end down, no meter installed, …) is logged and the
    order stays pending for the next dispatch; it never fails the caller (a payment is
    already committed)."""
    for pk in order_ids:
        try:
            order = _order_send(actor=actor, order_id=pk)
        except Exception:
            logger.exception("reconnect order %s: not sent, left pending for the next dispatch", pk)
            counts["reconnect_send_failed"] += 1
        else:
            if order.status == RemoteOrderStatus.SENT:
                counts["reconnect_sent"] += 1


def _send_reconnects_on_commit(order_ids: list[int], *, actor: Any, counts: dict[str, int]) -> None:
    """:func:`_send_reconnects` once the current transaction commits (at once outside one):
    never before the order (and the payment that led to it) is committed."""
    if order_ids:
        transaction.on_commit(functools.partial(_send_reconnects, order_ids, actor=actor, counts=counts))


def _cancel_disconnects_not_prepaid(*, actor: Any, counts: dict[str, int]) -> None:
    """Cancel the disconnects not sent yet (pending, or waiting for a person) of accounts
    that are no longer active prepaid ones — switched to postpaid, suspended or closed
    after the order was made — so they do not wait in the queue for a send that would
    cancel them anyway."""
    stale = list(
        RemoteOrder.objects.filter(
            kind=RemoteOrderKind.DISCONNECT,
            status__in=(RemoteOrderStatus.PENDING, RemoteOrderStatus.NEEDS_PERSON),
        )
        .exclude(_active_prepaid_q("account__"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for pk in stale:
        with transaction.atomic():
            order = _order_for_update(pk)
            if order.kind != RemoteOrderKind.DISCONNECT or order.status not in (
                RemoteOrderStatus.PENDING,
                RemoteOrderStatus.NEEDS_PERSON,
            ):
                continue  # sent or decided meanwhile
            if _cancel_if_not_prepaid(order, actor):
                counts["disconnect_cancelled"] += 1


def prepaid_check_balances(*, now: dt.datetime, actor: Any) -> dict[str, Any]:
    """Thresholds of the ``BillingPolicy`` in force for every active prepaid account — after
    the prepaid balances paid the bills of postpaid days they cover (``bills_paid``: the
    allocations written; see payments ``balances_apply``), so the thresholds see what is left.

    - balance < ``prepaid_low_balance`` (and ≥ 0): a LOW notice, once per crossing;
    - balance < 0: a ZERO notice and a DISCONNECT_NOTICE (starting the notice period), once
      per crossing;
    - still < 0 ``prepaid_notice_days`` after that notice: a disconnect order, PENDING — or
      NEEDS_PERSON for an important customer (a person decides; never automatic);
    - balance ≥ 0: a pending/needs-person disconnect is cancelled; a sent or executed one gets
      a reconnect order due within ``reconnect_hours``, sent at once (once the check's
      transaction commits; one that cannot go out stays pending for the next dispatch).

    A disconnect not sent yet of an account that is no longer active prepaid (postpaid,
    suspended, closed) is cancelled.
    """
    if timezone.is_naive(now):
        raise ValidationFailed(gettext("The time must carry its time zone."), field="now")
    policy = policy_in_force(_local_date(now))
    # First the bills of prepaid accounts' postpaid days that their balances pay (set-based:
    # those with a credit and a bill owed), so the thresholds below see the balance after them.
    paid = balances_apply(account_ids=Account.objects.filter(is_prepaid=True).values("pk"), actor=actor)
    ids = list(Account.objects.filter(_active_prepaid_q()).order_by("pk").values_list("pk", flat=True))
    counts = _new_counts()
    counts["accounts"] = len(ids)
    counts["bills_paid"] = paid
    _cancel_disconnects_not_prepaid(actor=actor, counts=counts)
    reconnect_ids: list[int] = []
    for offset in range(0, len(ids), BATCH_ACCOUNTS):
        reconnect_ids += _check_accounts(
            ids[offset : offset + BATCH_ACCOUNTS], now=now, policy=policy, actor=actor, counts=counts
        )
    _send_reconnects_on_commit(reconnect_ids, actor=actor, counts=counts)
    return {"at": timezone.localtime(now).isoformat(), **counts}


def prepaid_after_payment(*, account_id: int, actor: Any) -> dict[str, Any]:
    """Called after a payment to an account commits: re-check it at once, so a disconnect not
    yet executed is cancelled and an executed one gets a reconnect order due now +
    ``reconnect_hours``, sent to the head-end at once (once this check commits; if it cannot
    go out it stays pending for the next dispatch, and the payment is not affected). First
    the balance pays a bill the account owes from its postpaid days, when it covers it
    (``balances_apply``), so the check sees what is left. Not a prepaid account: nothing to
    do; not an active one: no check."""
    account = Account.objects.filter(pk=account_id).values_list("is_prepaid", "status").first()
    if account is None:
        raise NotFound(field="account_id")
    counts = _new_counts()
    is_prepaid, status = account
    if not is_prepaid:
        return counts
    counts["bills_paid"] = balances_apply(account_ids=[account_id], actor=actor)
    if status != AccountStatus.ACTIVE:
        return counts
    now = timezone.now()
    counts["accounts"] = 1
    reconnect_ids = _check_accounts(
        [account_id], now=now, policy=policy_in_force(_local_date(now)), actor=actor, counts=counts
    )
    _send_reconnects_on_commit(reconnect_ids, actor=actor, counts=counts)
    return counts


# --- 3. the head-end adapter and order actions -------------------------------------------------


class HeadEnd(Protocol):
    """What the AMI head-end (采集主站) adapter does: hand one remote order to the meter.
    Returns a reference the head-end gives the command. Raise to leave the order pending."""

    def send(self, *, order: RemoteOrder, meter_asset_no: str, at: dt.datetime) -> str: ...


class FileOutboxHeadEnd:
    """The default adapter: there is no real head-end in this project, so each command is
    appended as one JSON line to ``DATA_DIR/headend/outbox.jsonl`` for an integration (or an
    operator) to carry to the 采集系统; the result is confirmed with ``remote_order_confirm``."""

    def path(self) -> Path:
        return Path(settings.DATA_DIR) / "headend" / "outbox.jsonl"

    def send(self, *, order: RemoteOrder, meter_asset_no: str, at: dt.datetime) -> str:
        ref = f"RO{order.pk}"
        record = {
            "ref": ref,
            "at": at.isoformat(),
            "command": order.kind,
            "meter": meter_asset_no,
            "account": order.account.number,
        }
        target = self.path()
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        return ref


def head_end() -> HeadEnd:
    """The adapter named by ``settings.GRIDCARE_HEADEND_ADAPTER`` (a dotted class path), the
    file outbox by default."""
    path = getattr(settings, "GRIDCARE_HEADEND_ADAPTER", "")
    if not path:
        return FileOutboxHeadEnd()
    adapter: HeadEnd = import_string(path)()
    return adapter


def _order_for_update(order_id: Any) -> RemoteOrder:
    try:
        pk = int(order_id)
    except (TypeError, ValueError):
        raise ValidationFailed(gettext("Not an order id."), field="order_id") from None
    order = RemoteOrder.objects.select_for_update().select_related("account").filter(pk=pk).first()
    if order is None:
        raise NotFound(field="order_id")
    return order


def _require_perm(actor: Any) -> None:
    """People need ``billing.change_remoteorder``; system actors (the worker, a CLI run by
    the operator, given as a string label) act for the company."""
    if getattr(actor, "is_authenticated", False) and not staff_has_perm(actor, PERM_ACT):
        raise PermissionDenied()


def remote_order_send(*, actor: Any, order_id: Any) -> RemoteOrder:
    """PENDING → SENT through the head-end adapter. A disconnect is re-checked first: an
    account no longer active prepaid (switched to postpaid, suspended or closed since the
    order was made) or a balance back at or above zero cancels it instead; an important
    customer's disconnect goes out only after a person approved it (``decided_by``) —
    without that it is handed to a person (NEEDS_PERSON) and not sent."""
    _require_perm(actor)
    return _order_send(actor=actor, order_id=order_id)


def _order_send(*, actor: Any, order_id: Any) -> RemoteOrder:
    """:func:`remote_order_send` without the actor's permission check: also used for the
    reconnect a payment leads to, which the policy orders whoever posted the payment."""
    now = timezone.now()
    with transaction.atomic():
        order = _order_for_update(order_id)
        if order.status != RemoteOrderStatus.PENDING:
            raise Conflict(
                gettext("Only a pending order can be sent (this one is %(status)s).")
                % {"status": order.get_status_display()},
                field="status",
            )
        if order.kind == RemoteOrderKind.DISCONNECT:
            if _cancel_if_not_prepaid(order, actor):
                return order
            if order.account.is_important and not order.decided_by:
                # e.g. the account was marked important after the order was made: never send
                # it; hand it to a person instead.
                _set_status(
                    order,
                    status=RemoteOrderStatus.NEEDS_PERSON,
                    actor=actor,
                    action="remote_order_to_person",
                    reason=gettext("Important customer (重要用户): a person decides."),
                    due_at=None,
                )
                return order
            balance = (
                AccountBalance.objects.filter(account_id=order.account_id)
                .values_list("amount", flat=True)
                .first()
            )
            if balance is not None and balance >= 0:
                _set_status(
                    order,
                    status=RemoteOrderStatus.CANCELLED,
                    actor=actor,
                    action="remote_order_cancel",
                    reason=gettext("Balance back to %(balance)s yuan.") % {"balance": balance},
                )
                return order
        meter = (
            Installation.objects.filter(account_id=order.account_id, removed_at__isnull=True)
            .values_list("meter__asset_no", flat=True)
            .first()
        )
        if meter is None:
            raise Conflict(
                gettext("The account has no installed meter to send the command to."), field="account"
            )
        ref = head_end().send(order=order, meter_asset_no=meter, at=now)
        _set_status(order, status=RemoteOrderStatus.SENT, actor=actor, action="remote_order_send", reason=ref)
    return order


def remote_order_confirm(*, actor: Any, order_id: Any, executed_at: dt.datetime | None = None) -> RemoteOrder:
    """SENT → DONE: the head-end (or the operator reading its result) confirms execution."""
    _require_perm(actor)
    when = executed_at or timezone.now()
    if timezone.is_naive(when):
        raise ValidationFailed(gettext("The time must carry its time zone."), field="executed_at")
    with transaction.atomic():
        order = _order_for_update(order_id)
        if order.status != RemoteOrderStatus.SENT:
            raise Conflict(gettext("Only a sent order can be confirmed."), field="status")
        _set_status(
            order, status=RemoteOrderStatus.DONE, actor=actor, action="remote_order_confirm", executed_at=when
        )
    return order


def remote_order_decide(*, actor: Any, order_id: Any, approve: bool, note: str) -> RemoteOrder:
    """A person decides a NEEDS_PERSON order (an important customer's disconnection):
    approve → PENDING (sent by the next dispatch), decline → CANCELLED. Needs a logged-in
    user with ``billing.change_remoteorder`` and a note saying why."""
    if not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(gettext("Only a person can decide this order."))
    _require_perm(actor)
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(gettext("Say why (the note is kept in the audit trail)."), field="note")
    with transaction.atomic():
        order = _order_for_update(order_id)
        if order.status != RemoteOrderStatus.NEEDS_PERSON:
            raise Conflict(gettext("This order is not waiting for a person's decision."), field="status")
        _set_status(
            order,
            status=RemoteOrderStatus.PENDING if approve else RemoteOrderStatus.CANCELLED,
            actor=actor,
            action="remote_order_approve" if approve else "remote_order_decline",
            reason=note,
            decided_by=person_name(actor)[:150],
            due_at=timezone.now() if approve else order.due_at,
        )
    return order


def remote_orders_dispatch(*, actor: Any) -> dict[str, Any]:
    """Send every pending order (reconnects first, by due time) through the adapter. Each
    order is sent on its own: one that cannot go out — whatever the head-end adapter or the
    checks raise — stays pending (its transaction rolled back), is logged and reported in
    ``failed``, and the dispatch goes on with the rest."""
    _require_perm(actor)
    pending = list(
        RemoteOrder.objects.filter(status=RemoteOrderStatus.PENDING)
        .order_by("-kind", F("due_at").asc(nulls_last=True), "pk")  # reconnect before disconnect
        .values_list("pk", flat=True)
    )
    sent = cancelled = to_person = 0
    failed: list[dict[str, Any]] = []
    for pk in pending:
        try:
            order = _order_send(actor=actor, order_id=pk)
        except Exception as exc:
            expected = isinstance(exc, Conflict | OSError)  # no meter installed, the outbox: no traceback
            logger.log(
                logging.WARNING if expected else logging.ERROR,
                "remote order %s: not sent (%s), left pending for the next dispatch",
                pk,
                exc,
                exc_info=not expected,
            )
            failed.append({"order": pk, "error": str(exc) or type(exc).__name__})
            continue
        if order.status == RemoteOrderStatus.SENT:
            sent += 1
        elif order.status == RemoteOrderStatus.NEEDS_PERSON:
            to_person += 1
        else:
            cancelled += 1
    return {
        "pending": len(pending),
        "sent": sent,
        "cancelled": cancelled,
        "to_person": to_person,
        "failed": failed,
    }
