"""Line-loss analysis (台区线损) of every public transformer area: one ``LineLossRun`` with an
``AreaLoss`` per area (docs/inspection-lineloss.md).

Reads the total meters' daily input (``transformer_daily_input``, the 96-point curves) and
the customers' daily consumption (``accounts_daily_kwh``), runs the pure engine
(:mod:`gridcare.inspection.engine.lineloss`) and stores the result.

Day alignment: a daily frozen reading (日冻结示数) of day D is the register at 00:00 of D, so
``frozen(D + 1) − frozen(D)`` is the energy of day D, the same day as the total meter's 96
quarter hours of D; ``accounts_daily_kwh`` labels it D. The last day of the window therefore
needs the next morning's 00:00 freeze: until it is imported that day is incomplete.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record
from gridcare.core.errors import ValidationFailed
from gridcare.core.roles import require_actor_perm
from gridcare.customers.models import Transformer
from gridcare.inspection.choices import RunStatus
from gridcare.inspection.engine.lineloss import LineLossParams, LineLossResult, line_loss
from gridcare.inspection.models import AreaLoss, LineLossRun
from gridcare.inspection.services.consumption import (
    accounts_daily_kwh,
    accounts_frame,
    transformer_daily_input,
)

logger = logging.getLogger(__name__)

DEFAULT_RATE_THRESHOLD = Decimal("10.00")  # 高损: 台区线损率 above 10 %
DEFAULT_JUMP_THRESHOLD = Decimal("3.00")  # percentage points, recent − baseline
MIN_DAYS, MAX_DAYS = 14, 92
KWH = Decimal("0.001")
PCT = Decimal("0.01")
PCT_LIMIT = Decimal("99999.99")  # the column's range (7 digits, 2 places)

__all__ = ["DEFAULT_JUMP_THRESHOLD", "DEFAULT_RATE_THRESHOLD", "line_loss_run"]


def _kwh(value: float | None) -> Decimal:
    return Decimal(repr(float(value or 0.0))).quantize(KWH, ROUND_HALF_UP)


def _pct(value: float | None) -> Decimal | None:
    if value is None:
        return None
    pct = Decimal(repr(float(value))).quantize(PCT, ROUND_HALF_UP)
    return max(min(pct, PCT_LIMIT), -PCT_LIMIT)


def _validate(days: int, rate: Decimal, jump: Decimal, end: dt.date) -> None:
    errors: list[tuple[str, Any]] = []
    if not MIN_DAYS <= days <= MAX_DAYS:
        errors.append(("days", _("The window must be 14 to 92 days.")))
    if not Decimal(0) < rate <= Decimal(100):
        errors.append(("rate_threshold_pct", _("The loss-rate threshold must be above 0 and at most 100 %.")))
    if not Decimal(0) < jump <= Decimal(100):
        errors.append(("jump_threshold_pct", _("The jump threshold must be above 0 and at most 100 points.")))
    if end >= timezone.localdate():
        errors.append(("end", _("The window must end before today.")))
    if errors:
        field, message = errors[0]
        raise ValidationFailed(message, field=field)


def _inputs(start: dt.date, end: dt.date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Total meters' input, customers' consumption (aligned to the input's day), the active
    accounts of public areas, and every account's number."""
    public = list(Transformer.objects.filter(is_dedicated=False).values_list("id", flat=True))
    everyone = accounts_frame(active_only=False).filter(
        pl.col("transformer_id").is_not_null() & ~pl.col("is_dedicated").fill_null(False)
    )
    active = accounts_frame().filter(
        pl.col("transformer_id").is_not_null() & ~pl.col("is_dedicated").fill_null(False)
    )
    inputs = transformer_daily_input(start=start, end=end, transformer_ids=public)
    daily = accounts_daily_kwh(start=start, end=end)
    consumption = daily.join(everyone.select("account_id", "transformer_id"), on="account_id", how="inner")
    return (
        inputs,
        consumption,
        active.select("transformer_id", "account_id"),
        everyone.select("account_id", "number"),
    )


def _grouped(frame: pl.DataFrame, columns: list[pl.Expr], name: str) -> dict[int, list[dict[str, Any]]]:
    """transformer id → the rows of ``frame`` as JSON-ready dicts of ``columns`` (in order)."""
    if frame.is_empty():
        return {}
    grouped = frame.group_by("transformer_id", maintain_order=True).agg(pl.struct(*columns).alias(name))
    return dict(zip(grouped["transformer_id"].to_list(), grouped[name].to_list(), strict=True))


def _area_rows(run: LineLossRun, result: LineLossResult, numbers: pl.DataFrame) -> list[AreaLoss]:
    series = result.series
    with_data = (
        series.group_by("transformer_id")
        .agg(data=(pl.col("input_kwh").is_not_null() | (pl.col("billed_kwh") > 0)).any())
        .filter(pl.col("data"))
        .select("transformer_id")
    )
    areas = result.areas.join(with_data, on="transformer_id", how="semi")
    by_area_series = _grouped(
        series.join(with_data, on="transformer_id", how="semi").sort("transformer_id", "day"),
        [
            pl.col("day").dt.to_string("%Y-%m-%d"),
            pl.col("input_kwh").round(3),
            pl.col("billed_kwh").round(3),
            pl.col("loss_kwh").round(3),
            pl.col("rate_pct").round(2),
            pl.col("complete"),
        ],
        "series",
    )
    flags = _grouped(
        result.flags, [pl.col("code"), pl.col("value").round(2), pl.col("threshold").round(2)], "flags"
    )
    suspects = _grouped(
        result.suspects.join(numbers, on="account_id", how="left").sort("transformer_id", "rank"),
        [
            pl.col("account_id"),
            pl.col("number").fill_null(""),
            pl.col("score").round(4),
            pl.col("drop_kwh_per_day").round(3),
            pl.col("correlation").round(4),
            pl.col("baseline_kwh_per_day").round(3),
            pl.col("recent_kwh_per_day").round(3),
        ],
        "suspects",
    )
    return [
        AreaLoss(
            run=run,
            transformer_id=row["transformer_id"],
            input_kwh=_kwh(row["input_kwh"]),
            billed_kwh=_kwh(row["billed_kwh"]),
            loss_rate_pct=_pct(row["loss_rate_pct"]),
            baseline_rate_pct=_pct(row["baseline_rate_pct"]),
            recent_rate_pct=_pct(row["recent_rate_pct"]),
            complete_days=row["complete_days"],
            change_day=row["change_day"],
            flagged=row["flagged"],
            flag_reasons=flags.get(row["transformer_id"], []),
            series=by_area_series.get(row["transformer_id"], []),
            suspects=suspects.get(row["transformer_id"], []),
        )
        for row in areas.iter_rows(named=True)
    ]


def line_loss_run(
    *,
    actor: Any,
    end: dt.date | None = None,
    days: int = 30,
    rate_threshold_pct: Decimal | None = None,
    jump_threshold_pct: Decimal | None = None,
) -> LineLossRun:
    """Analyse every public transformer area over the ``days`` days ending ``end`` (default
    yesterday, Asia/Shanghai) and store the run; returns it done, or failed with the error
    (the failure is logged and audited, not raised). A signed-in ``actor`` needs
    ``inspection.add_linelossrun``; a system actor is a string (the nightly job)."""
    require_actor_perm(actor, "inspection.add_linelossrun")
    end = end or timezone.localdate() - dt.timedelta(days=1)
    rate = Decimal(rate_threshold_pct if rate_threshold_pct is not None else DEFAULT_RATE_THRESHOLD)
    jump = Decimal(jump_threshold_pct if jump_threshold_pct is not None else DEFAULT_JUMP_THRESHOLD)
    _validate(days, rate, jump, end)
    start = end - dt.timedelta(days=days - 1)
    started = time.perf_counter()
    with transaction.atomic():
        run = LineLossRun.objects.create(
            window_start=start,
            window_end=end,
            rate_threshold_pct=rate.quantize(PCT, ROUND_HALF_UP),
            jump_threshold_pct=jump.quantize(PCT, ROUND_HALF_UP),
            status=RunStatus.RUNNING,
            started_at=timezone.now(),
            triggered_by=actor_label(actor)[:150],
        )
    try:
        inputs, consumption, active, numbers = _inputs(start, end)
        result = line_loss(
            inputs=inputs,
            consumption=consumption,
            active=active,
            start=start,
            end=end,
            params=LineLossParams(rate_threshold_pct=float(rate), jump_threshold_pct=float(jump)),
        )
        with transaction.atomic():
            rows = AreaLoss.objects.bulk_create(_area_rows(run, result, numbers), batch_size=500)
            before = {"status": run.status}
            run.status = RunStatus.DONE
            run.areas = len(rows)
            run.flagged = sum(1 for r in rows if r.flagged)
            run.finished_at = timezone.now()
            run.seconds = round(time.perf_counter() - started, 3)
            run.save(update_fields=["status", "areas", "flagged", "finished_at", "seconds"])
            audit_record(
                actor=actor,
                obj=run,
                action="inspection.line_loss_run",
                before=before,
                after={
                    "status": run.status,
                    "window": [start.isoformat(), end.isoformat()],
                    "rate_threshold_pct": str(run.rate_threshold_pct),
                    "jump_threshold_pct": str(run.jump_threshold_pct),
                    "areas": run.areas,
                    "flagged": run.flagged,
                    "seconds": run.seconds,
                },
            )
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, not lost
        logger.exception("line-loss run %s failed", run.pk)
        with transaction.atomic():
            before = {"status": run.status}
            run.status = RunStatus.FAILED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.finished_at = timezone.now()
            run.seconds = round(time.perf_counter() - started, 3)
            run.save(update_fields=["status", "error", "finished_at", "seconds"])
            audit_record(
                actor=actor,
                obj=run,
                action="inspection.line_loss_run",
                before=before,
                after={"status": run.status, "error": run.error},
            )
    return run
