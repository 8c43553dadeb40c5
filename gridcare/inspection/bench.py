"""``gridcare bench theft-score --customers 50000``: theft risk scoring at county scale.

1. Builds a daily frame of N customers over the last ``--days`` (365) days: the London
   households (``london_dir()``) tiled under new ids, each copy's level scaled by a random
   factor in [0.8, 1.25] so no two customers are identical, then 8.5 % of them made
   thieves with the benchmark attacks (``engine.attacks``); without the London data, a
   synthetic population (``engine.synthetic``). Customers are dealt into five peer groups
   (as customer classes would be).
2. Trains an artefact on the London benchmark of the same window (or ``--model DIR``).
3. Times ``score_customers`` on the N customers — features, peers per group, score, rank,
   reasons (TreeSHAP for the flagged and the top ``--explain-top``) and suspicious
   windows — and prints the figures, then the JSON line of ``gridcare bench``.

The database is not touched. Issue 6 target: 50,000 customers in under 30 s on the
2-core machine.
"""

from __future__ import annotations

import datetime as dt
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from django.core.management.base import CommandError

from gridcare.inspection.engine.attacks import benchmark_data
from gridcare.inspection.engine.explain import EXPLAIN_TOP, score_customers
from gridcare.inspection.engine.model import ArtefactError, TheftModel, load_model, train_theft_model

THEFT_SHARE = 0.085
GROUPS = 5


def add_arguments(parser: Any) -> None:
    parser.add_argument("--customers", type=int, default=50_000, help="Customers to score (default 50000).")
    parser.add_argument("--days", type=int, default=365, help="Days of consumption each (default 365).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the tiling and the attacks (default 0).")
    parser.add_argument("--model", metavar="DIR", help="Score with this artefact instead of training one.")
    parser.add_argument(
        "--explain-top",
        type=int,
        default=EXPLAIN_TOP,
        help=f"Reasons for the flagged and this many top customers (default {EXPLAIN_TOP}; -1: everyone).",
    )


def _source(days: int, seed: int) -> tuple[pl.DataFrame, str]:
    from gridcare.inspection.engine.london import load_london_daily
    from gridcare.inspection.engine.synthetic import synthetic_population
    from gridcare.metering.demo_writer import london_dir

    folder = london_dir()
    if (Path(folder) / "daily.parquet").is_file():
        daily = load_london_daily(folder)
        daily = daily.filter(pl.col("date") > pl.col("date").max() - pl.duration(days=days))
        return daily, f"London households ({daily['customer_id'].n_unique()}), tiled"
    daily = synthetic_population(customers=2000, days=days, end=dt.date(2014, 2, 28), seed=seed)
    return daily, "synthetic population (2000), tiled"


def bench_frame(customers: int, days: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """(customer_id, date, kwh, label, attack, attack_start) of ``customers`` customers,
    the (customer_id, group) frame, and a description of the source."""
    base, source = _source(days, seed)
    households = base["customer_id"].unique().sort()
    copies = -(-customers // len(households))
    rng = np.random.default_rng(seed)
    index = pl.DataFrame({"customer_id": households, "h": np.arange(len(households), dtype=np.int64)})
    tiles = pl.DataFrame(
        {
            "copy": np.repeat(np.arange(copies, dtype=np.int64), len(households)),
            "h": np.tile(np.arange(len(households), dtype=np.int64), copies),
            "factor": rng.uniform(0.8, 1.25, size=copies * len(households)),
        }
    ).with_columns(n=pl.col("copy") * len(households) + pl.col("h"))
    tiles = tiles.filter(pl.col("n") < customers)
    frame = (
        base.join(index, on="customer_id")
        .join(tiles, on="h")
        .select(
            customer_id=pl.lit("B") + pl.col("n").cast(pl.String).str.zfill(6),
            date="date",
            kwh=pl.col("kwh") * pl.col("factor"),
        )
    )
    labelled = benchmark_data(frame, theft_share=THEFT_SHARE, seed=seed)
    groups = (
        labelled.select("customer_id")
        .unique()
        .with_columns(
            group=pl.lit("class_")
            + (pl.col("customer_id").str.slice(1).cast(pl.Int64) % GROUPS).cast(pl.String)
        )
    )
    return labelled, groups, source


def _model(option: str | None, days: int) -> tuple[TheftModel, float]:
    started = time.perf_counter()
    if option:
        try:
            return load_model(Path(option)), 0.0
        except ArtefactError as exc:
            raise CommandError(f"--model: {exc}") from exc
    base, source = _source(days, 0)
    model = train_theft_model(
        benchmark_data(base, theft_share=THEFT_SHARE, seed=0), seed=0, data=f"{source}, bench"
    )
    return model, time.perf_counter() - started


def run(command: Any, options: dict[str, Any]) -> dict[str, Any]:
    customers = int(options["customers"])
    days = int(options["days"])
    if customers < 1 or days < 60:
        raise CommandError("--customers must be positive and --days at least 60")
    out = command.stdout
    started = time.perf_counter()
    frame, groups, source = bench_frame(customers, days, int(options["seed"]))
    build_seconds = time.perf_counter() - started
    labels = frame.group_by("customer_id").agg(pl.col("label").max())
    out.write(
        f"bench theft-score: {customers:,} customers × {days} days from {source}: "
        f"{frame.height:,} daily rows, {int(labels['label'].sum()):,} thieves injected "
        f"({build_seconds:.1f} s to build)"
    )
    model, train_seconds = _model(options.get("model"), days)
    out.write(
        f"  model {model.version}: {len(model.features)} features, {model.booster.num_trees()} trees, "
        f"threshold {model.threshold:.3f}" + (f" (trained in {train_seconds:.1f} s)" if train_seconds else "")
    )
    explain_top = None if options["explain_top"] < 0 else int(options["explain_top"])
    daily = frame.select("customer_id", "date", "kwh")
    started = time.perf_counter()
    result = score_customers(daily, model, groups=groups, explain_top=explain_top)
    seconds = time.perf_counter() - started
    scores = result.scores
    scored = scores.height
    total = scored + result.skipped.height
    per_s = total / seconds if seconds else 0.0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write(
        f"  {total:,} customers in {seconds:.1f} s ({per_s:,.0f} customers/s): {scored:,} scored, "
        f"{int(scores['flagged'].sum()):,} flagged, {int(scores['explained'].sum()):,} with reasons, "
        f"{result.skipped.height:,} skipped (too few readings)"
    )
    out.write(f"  peak RSS {peak_mb:,.0f} MB")
    return {
        "customers": total,
        "scored": scored,
        "seconds": round(seconds, 2),
        "customers_per_s": round(per_s),
        "peak_rss_mb": round(peak_mb),
        "days": days,
        "flagged": int(scores["flagged"].sum()),
        "explained": int(scores["explained"].sum()),
        "skipped": result.skipped.height,
        "train_seconds": round(train_seconds, 2),
        "model": model.version,
    }
