"""``gridcare theft line-loss``: one line-loss analysis (台区线损) of every public transformer
area in the app's database, stored as a run like the nightly job's; prints the flagged
areas with their top suspects and, last, one JSON line. See docs/inspection-lineloss.md."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import CommandError

from gridcare.core.errors import GridCareError

ACTOR = "gridcare theft line-loss"
SUSPECTS_SHOWN = 3


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--end: {text!r} is not a date (YYYY-MM-DD)") from exc


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise CommandError(f"{text!r} is not a number") from exc


def _arguments(parser: Any) -> None:
    parser.add_argument("--end", type=_date, default=None, help="Last day (YYYY-MM-DD; default yesterday).")
    parser.add_argument("--days", type=int, default=30, help="Days in the window (default 30, 14–92).")
    parser.add_argument(
        "--rate-threshold",
        type=_decimal,
        default=None,
        metavar="PCT",
        help="Flag a recent loss rate above this (default 10 %%, 高损).",
    )
    parser.add_argument(
        "--jump-threshold",
        type=_decimal,
        default=None,
        metavar="POINTS",
        help="Flag recent − baseline rate above this (default 3 percentage points).",
    )


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def _handle(command: Any, options: dict[str, Any]) -> None:
    from gridcare.inspection.models import AreaLoss
    from gridcare.inspection.services.lineloss import line_loss_run

    try:
        run = line_loss_run(
            actor=ACTOR,
            end=options.get("end"),
            days=options.get("days", 30),
            rate_threshold_pct=options.get("rate_threshold"),
            jump_threshold_pct=options.get("jump_threshold"),
        )
    except GridCareError as exc:
        raise CommandError(f"{exc.field or 'line-loss'}: {exc.message}") from exc
    out = command.stdout
    if run.status != "done":
        raise CommandError(f"line-loss run {run.pk} failed: {run.error}")
    flagged = list(
        AreaLoss.objects.filter(run=run, flagged=True)
        .select_related("transformer")
        .order_by("-recent_rate_pct", "transformer__code")
    )
    out.write(
        f"line loss {run.window_start}–{run.window_end}: {run.areas} areas, {run.flagged} flagged "
        f"(rate > {run.rate_threshold_pct}%, jump > {run.jump_threshold_pct} points, negative < -1%) "
        f"in {run.seconds:.1f} s"
    )
    for area in flagged:
        reasons = ", ".join(f"{r['code']} {r['value']:+.2f}" for r in area.flag_reasons)
        out.write(
            f"{area.transformer.code} {area.transformer.name}: recent {_pct(area.recent_rate_pct)}, "
            f"baseline {_pct(area.baseline_rate_pct)}, overall {_pct(area.loss_rate_pct)} "
            f"over {area.complete_days} complete days [{reasons}]"
        )
        for rank, s in enumerate(area.suspects[:SUSPECTS_SHOWN], start=1):
            out.write(
                f"  {rank}. {s['number']} score {s['score']:.3f} drop {s['drop_kwh_per_day']:.2f} kWh/day "
                f"({s['baseline_kwh_per_day']:.2f} → {s['recent_kwh_per_day']:.2f}), "
                f"correlation {s['correlation']:.2f}"
            )
    summary = {
        "run": run.pk,
        "window": [run.window_start.isoformat(), run.window_end.isoformat()],
        "areas": run.areas,
        "flagged": run.flagged,
        "seconds": run.seconds,
        "flagged_areas": [
            {
                "transformer_id": a.transformer_id,
                "code": a.transformer.code,
                "reasons": [r["code"] for r in a.flag_reasons],
                "recent_rate_pct": None if a.recent_rate_pct is None else float(a.recent_rate_pct),
                "top": [s["account_id"] for s in a.suspects[:SUSPECTS_SHOWN]],
            }
            for a in flagged
        ],
    }
    out.write(json.dumps(summary, ensure_ascii=False))


SUBCOMMANDS: dict[str, Any] = {
    "line-loss": (
        "Line loss (台区线损) of every public transformer area: flags and ranked suspects.",
        _arguments,
        _handle,
    ),
}
