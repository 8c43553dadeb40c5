"""``gridcare theft benchmark-data``: the theft benchmark (窃电基准数据) from real data.

``gridcare theft benchmark-data --source DIR --out FILE --theft-share 0.085 --seed S``
reads the London daily data in DIR, injects the attacks into the chosen share of
households (``gridcare.inspection.engine.attacks``) and writes the long frame
(customer_id, date, kwh, label, attack, attack_start) to FILE, Parquet or CSV by its
suffix. It prints a short summary and, last, one JSON line with the same figures.
See docs/inspection.md, "Benchmark data".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from django.core.management.base import CommandError

from gridcare.inspection.engine.attacks import ATTACK_KINDS, benchmark_data
from gridcare.inspection.engine.london import load_london_daily

OUT_FORMATS = (".parquet", ".csv")


def _benchmark_arguments(parser: Any) -> None:
    parser.add_argument(
        "--source",
        required=True,
        metavar="DIR",
        help="Folder of the London smart-meter data (holds daily.parquet).",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="Where to write the frame: a .parquet or .csv file."
    )
    parser.add_argument(
        "--theft-share",
        type=float,
        default=0.085,
        metavar="SHARE",
        help="Share of customers made thieves, 0 … 1 (default 0.085).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Random seed (default 0).")


def _benchmark_handle(command: Any, options: dict[str, Any]) -> None:
    out = Path(options["out"])
    if out.suffix.lower() not in OUT_FORMATS:
        raise CommandError(f"--out: {out.name} must end in .parquet or .csv")
    share = options["theft_share"]
    if not 0.0 <= share <= 1.0:
        raise CommandError(f"--theft-share: {share} is not within [0, 1]")
    try:
        daily = load_london_daily(options["source"])
    except FileNotFoundError as exc:
        raise CommandError(f"--source: {exc}") from exc
    try:
        frame = benchmark_data(daily, theft_share=share, seed=options["seed"])
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if out.suffix.lower() == ".parquet":
        frame.write_parquet(out)
    else:
        frame.write_csv(out)

    summary = benchmark_summary(frame)
    summary.update(out=str(out), theft_share=share, seed=options["seed"])
    thieves = summary["thieves_by_attack"]
    command.stdout.write(
        f"customers {summary['customers']}, days {summary['days']} "
        f"({summary['first_date']} … {summary['last_date']})"
    )
    command.stdout.write(
        f"thieves {summary['thieves']}: " + ", ".join(f"{kind} {thieves[kind]}" for kind in ATTACK_KINDS)
    )
    command.stdout.write(f"rows written {summary['rows']} to {out}")
    command.stdout.write(json.dumps(summary, ensure_ascii=False))


def benchmark_summary(frame: pl.DataFrame) -> dict[str, Any]:
    """Customers, distinct days, thieves per attack kind and rows of a benchmark frame."""
    per_customer = frame.group_by("customer_id").agg(pl.col("attack").first())
    counted = dict(per_customer.drop_nulls("attack").group_by("attack").len().iter_rows())
    first, last = frame["date"].min(), frame["date"].max()
    return {
        "customers": per_customer.height,
        "days": frame["date"].n_unique(),
        "first_date": str(first) if first is not None else None,
        "last_date": str(last) if last is not None else None,
        "thieves": int(sum(counted.values())),
        "thieves_by_attack": {kind: int(counted.get(kind, 0)) for kind in ATTACK_KINDS},
        "rows": frame.height,
    }


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "benchmark-data": (
        "Theft benchmark (窃电基准数据): inject attacks h1–h4 and a sudden drop into real daily data.",
        _benchmark_arguments,
        _benchmark_handle,
    ),
}
